/**
 * AGM, Adaptive Gradient Modulation (Li, Li, Hu, Jiang and Wang, "Boosting multi-modal model
 * performance with adaptive gradient modulation", ICCV 2023), for K >= 2 modalities.
 *
 * Implemented, per step with the batch's fused logits F and uni-modal logits u_k:
 * - mono-modal responses by Shapley attribution of the fused output to the modalities,
 *   `m_k = u_k + (F - sum_j u_j) / K`. Here u_k is the model's uni-modal output (the fused head
 *   with the other modalities' features zeroed, `ModelOutputs.unimodal`), so this is the Shapley
 *   value of the game valued by the model where the model exposes a value (single modalities, all
 *   modalities) and additively in between (`v(S) = sum_{j in S} u_j` for 1 < |S| < K,
 *   v(empty) = 0).
 *   For K = 2 it is exactly AGM's two-modality response `(F - f(0, x_2) + f(x_1, 0)) / 2`; the
 *   responses always sum to F;
 * - scores `s_k = mean_i log softmax(m_k)_{y_i}` (each probability floored at 1e-8, as the
 *   authors' code);
 * - discrepancy `r_k = exp(K/(K-1) * (s_k - mean_j s_j))` and its target from the running averages
 *   `shat_k` of the scores over all previous steps,
 *   `eta_k = exp(K/(K-1) * (shat_k - mean_j shat_j))`
 *   (shat = 0 before the first step, so eta = 1);
 * - coefficient `c_k = exp(alpha * min(eta_k - r_k, cap))`, multiplied into the gradients of every
 *   variable of modality k; then `shat_k <- shat_k (t-1)/t + s_k / t`.
 * A modality that learns faster than its own history (r_k > eta_k) is slowed down, a lagging one is
 * sped up.
 *
 * Choices where the paper is silent (options of {@link AgmOptions}): `alpha` default 1.5 (the
 * authors' stated value for CREMA-D; they use 1.5 to 4 per dataset); `cap` default 10 (the cap
 * of the exponent in the authors' code). Not implemented: the authors' modulation window (here AGM
 * modulates from the first step) and their gradient-norm clipping of the fusion head.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModalBatch } from "../amss/significance.ts";
import type { GradientTransformation, TensorMap } from "../transform.ts";
import { AmssArgumentError, requireFinite, requirePositive } from "../validate.ts";
import { logProbOfLabels, type Method, type MethodContext, ownerMap } from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of {@link createAgm}. */
export interface AgmOptions {
  /** Modulation strength alpha (default 1.5). */
  alpha?: number;
  /** Cap on `eta_k - r_k` in the exponent (default 10). */
  cap?: number;
}

/** AGM's checkpointed state (part of the optimizer state). */
export interface AgmState {
  /** Running average of each modality's score over all previous steps. */
  avg: number[];
  /** Steps averaged so far. */
  count: number;
}

/** Shapley mono-modal responses `m_k = u_k + (F - sum_j u_j) / K` (module header), `B x C` each. */
export function shapleyResponses(
  unimodal: ArrayLike<number>[],
  fused: ArrayLike<number>,
): Float64Array[] {
  const K = unimodal.length;
  const n = fused.length;
  const rest = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += unimodal[k][i];
    rest[i] = (fused[i] - s) / K;
  }
  return unimodal.map((u) => Float64Array.from({ length: n }, (_, i) => u[i] + rest[i]));
}

/** Scores `s_k = mean_i max(log softmax(m_k)_{y_i}, log 1e-8)` of the responses. */
export function agmScores(
  responses: ArrayLike<number>[],
  labels: ArrayLike<number>,
  C: number,
): number[] {
  const floor = Math.log(1e-8);
  return responses.map((m) => {
    let s = 0;
    for (const lp of logProbOfLabels(m, labels, C)) s += Math.max(lp, floor);
    return s / labels.length;
  });
}

/** AGM's discrepancies, targets and coefficients (module header) from scores and averages. */
export function agmCoefficients(
  s: readonly number[],
  avg: readonly number[],
  alpha: number,
  cap: number,
): { ratio: number[]; target: number[]; coeff: number[] } {
  const K = s.length;
  const g = K / (K - 1);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ms = mean(s), ma = mean(avg);
  const ratio = s.map((x) => Math.exp(g * (x - ms)));
  const target = avg.map((x) => Math.exp(g * (x - ma)));
  const coeff = ratio.map((r, k) => Math.exp(alpha * Math.min(target[k] - r, cap)));
  return { ratio, target, coeff };
}

/** What {@link createAgm} uses for an absent option. */
export const AGM_DEFAULTS: Readonly<Required<AgmOptions>> = {
  alpha: 1.5,
  cap: 10,
};

/** The schema of {@link AgmOptions} (types and ranges; the bench's `--method-options` check). */
export const AGM_SCHEMA: OptionsSchema<AgmOptions> = {
  alpha: { kind: "number", min: 0, max: 1e6 },
  cap: { kind: "number", min: 0, max: 1e6, minOpen: true },
};

/** Builds AGM (module header) for a model with K >= 2 modalities. */
export function createAgm(opts: AgmOptions, ctx: MethodContext): Method {
  const K = ctx.modalities.length;
  if (K < 2) throw new AmssArgumentError(`agm needs at least two modalities, the model has ${K}`);
  const alpha = requireFinite("agm.alpha", opts.alpha ?? AGM_DEFAULTS.alpha);
  const cap = requirePositive("agm.cap", opts.cap ?? AGM_DEFAULTS.cap);
  const owner = ownerMap(ctx);
  const index = new Map(ctx.modalities.map((m, k) => [m, k]));
  const transform: GradientTransformation<AgmState> = {
    init: () => ({ avg: new Array(K).fill(0), count: 0 }),
    update(updates, state, c) {
      const batch = c.extras.batch as ModalBatch | undefined;
      const fused = c.extras.fused as ArrayLike<number> | undefined;
      if (!batch || !fused || batch.predictionKind !== "logits") {
        throw new AmssArgumentError(
          "agm needs extras.batch (uni-modal logits) and extras.fused (fused logits)",
        );
      }
      const s = agmScores(
        shapleyResponses(batch.predictions, fused),
        batch.labels,
        batch.numClasses,
      );
      const { ratio, coeff } = agmCoefficients(s, state.avg, alpha, cap);
      state.count += 1;
      const t = state.count;
      state.avg = state.avg.map((a, k) => a * (t - 1) / t + s[k] / t);
      const stats: Record<string, number> = {};
      ctx.modalities.forEach((m, k) => {
        stats[`coeff.${m}`] = coeff[k];
        stats[`ratio.${m}`] = ratio[k];
      });
      c.info.methodStats = stats;
      const out: TensorMap = { ...updates };
      for (const [name, g] of Object.entries(updates)) {
        const m = owner.get(name);
        if (m === undefined) continue;
        out[name] = tf.tidy(() => tf.mul(g, coeff[index.get(m)!]));
      }
      return out;
    },
  };
  return {
    name: "agm",
    label: `agm (alpha ${alpha})`,
    lossOn: "fused",
    transform: transform as GradientTransformation,
  };
}
