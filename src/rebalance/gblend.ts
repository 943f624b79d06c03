/**
 * G-Blending, Gradient Blending (Wang, Tran and Feiszli, "What makes training multi-modal
 * classification networks hard?", CVPR 2020; "OGR-GB" in the AMSS paper's tables), online variant:
 * the heads are the model's own uni-modal predictions and its fused prediction.
 *
 * Implemented: the loss is `sum_k w_k CE(u_k) + w_0 CE(fused)` over the K uni-modal logits u_k
 * (`ModelOutputs.unimodal`) and the fused logits. The weights start uniform, `1 / (K + 1)`, and
 * every `superEpoch` epochs are set from the losses of each head h measured at the previous
 * super-epoch boundary (pre) and now (Wang et al., the overfitting-to-generalization ratio):
 * - generalization `G_h = Lval_pre - Lval_now` (decrease of the head's validation loss),
 * - overfitting `O_h = (Lval_now - Ltrain_now) - (Lval_pre - Ltrain_pre)` (change of the gap),
 * - `w_h = G_h / O_h^2`, normalised to sum to 1.
 * The first boundary is the end of epoch 1 (nothing to compare with before), so with the default
 * `superEpoch` 1 the weights are uniform for epochs 1-2 and recomputed after every epoch from 2 on.
 *
 * Choices where the paper is silent (options of {@link GBlendOptions}):
 * - `superEpoch` default 1 (the paper re-estimates per super-epoch of several epochs; 1 suits the
 *   short runs here);
 * - the training loss of a head is its mean cross-entropy over the epoch's training batches as
 *   they were trained (not a second pass at the epoch's end);
 * - `negative`: what a head whose validation loss rose (G < 0) gets: "zero" (default, it does not
 *   generalize) or "abs" (|G|, as a public re-implementation does);
 * - `eps` (default 1e-8) is added to O^2 so that O = 0 stays finite; if every weight is 0 or not
 *   finite the previous weights are kept.
 * The epoch's `methodLog` records the weights in force after the epoch (`w.fused`, `w.<modality>`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { AmssArgumentError, requireInt, requirePositive } from "../validate.ts";
import type { Method, MethodContext } from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of {@link createGBlend}. */
export interface GBlendOptions {
  /** Epochs per super-epoch (default 1). */
  superEpoch?: number;
  /** Weight of a head whose validation loss increased: "zero" (default) or "abs". */
  negative?: "zero" | "abs";
  /** Added to O^2 (default 1e-8). */
  eps?: number;
}

/** Losses of the K + 1 heads at a boundary: index k < K is modality k, index K the fused head. */
export interface HeadLosses {
  epoch: number;
  train: number[];
  val: number[];
}

/** G-Blending's checkpointed state. */
export interface GBlendState extends Record<string, unknown> {
  /** K + 1 weights: the modalities in order, then the fused head. */
  weights: number[];
  /** Losses at the last super-epoch boundary (null before the first). */
  pre: HeadLosses | null;
}

/**
 * Blending weights `w_h ∝ G_h / O_h^2` (module header) from the head losses at two boundaries;
 * `null` when no head gets a positive finite weight.
 */
export function gblendWeights(
  pre: HeadLosses,
  now: HeadLosses,
  opts: { negative: "zero" | "abs"; eps: number },
): number[] | null {
  const raw = now.val.map((_, h) => {
    const g = pre.val[h] - now.val[h];
    const o = (now.val[h] - now.train[h]) - (pre.val[h] - pre.train[h]);
    const gg = opts.negative === "abs" ? Math.abs(g) : Math.max(g, 0);
    return gg / (o * o + opts.eps);
  });
  const z = raw.reduce((a, b) => a + b, 0);
  if (!(z > 0) || !Number.isFinite(z)) return null;
  return raw.map((w) => w / z);
}

/** What {@link createGBlend} uses for an absent option. */
export const GBLEND_DEFAULTS: Readonly<Required<GBlendOptions>> = {
  superEpoch: 1,
  negative: "zero",
  eps: 1e-8,
};

/** The schema of {@link GBlendOptions} (types and ranges; the bench's `--method-options` check). */
export const GBLEND_SCHEMA: OptionsSchema<GBlendOptions> = {
  superEpoch: { kind: "int", min: 1, max: 1e6 },
  negative: { kind: "enum", values: ["zero", "abs"] },
  eps: { kind: "number", min: 0, max: 1, minOpen: true },
};

/** Builds G-Blending (module header). */
export function createGBlend(opts: GBlendOptions, ctx: MethodContext): Method {
  const { modalities } = ctx;
  const K = modalities.length;
  const superEpoch = requireInt(
    "gblend.superEpoch",
    opts.superEpoch ?? GBLEND_DEFAULTS.superEpoch,
    1,
  );
  const negative = opts.negative ?? GBLEND_DEFAULTS.negative;
  if (negative !== "zero" && negative !== "abs") {
    throw new AmssArgumentError(`gblend.negative must be "zero" or "abs", got ${negative}`);
  }
  const eps = requirePositive("gblend.eps", opts.eps ?? GBLEND_DEFAULTS.eps);
  const state: GBlendState = { weights: new Array(K + 1).fill(1 / (K + 1)), pre: null };
  const log = () =>
    Object.fromEntries([
      ...modalities.map((m, k) => [`w.${m}`, state.weights[k]]),
      ["w.fused", state.weights[K]],
    ]);
  return {
    name: "g-blending",
    label: `g-blending (super-epoch ${superEpoch})`,
    lossOn: "fused",
    transform: null,
    state,
    loss(out, oneHot) {
      // Wang et al.: the blended loss sum_h w_h L_h over the uni-modal heads and the fused head
      const heads = [...out.unimodal, out.logits];
      const terms = heads.map((l, h) =>
        tf.mul(state.weights[h], tf.losses.softmaxCrossEntropy(oneHot, l))
      );
      return tf.addN(terms) as tf.Scalar;
    },
    onEpochEnd(info) {
      const { val } = info;
      if (val.loss === undefined || val.branchLoss === undefined) {
        throw new AmssArgumentError("g-blending needs the validation losses of every head");
      }
      const now: HeadLosses = {
        epoch: info.epoch,
        train: [...modalities.map((m) => info.trainBranchLoss[m]), info.trainFusedLoss],
        val: [...modalities.map((m) => val.branchLoss![m]), val.loss],
      };
      if (state.pre === null) state.pre = now;
      else if (info.epoch - state.pre.epoch >= superEpoch) {
        state.weights = gblendWeights(state.pre, now, { negative, eps }) ?? state.weights;
        state.pre = now;
      }
      return log();
    },
  };
}
