/**
 * AMSS and AMSS+ as one gradient transformation (paper Sec. 3.2 and 3.3).
 *
 * Per step, for every modality k: update ratio rho_k from modal significance (Eqs. 2-4) or given
 * ratios; per mask group (layer l of modality k) the unit importance p (Sec. 3.2.2: the authors'
 * squared mini-batch gradient by default, or the paper's per-sample Fisher from `extras.fisher`
 * with `importance: "fisher"`), a sample of `ceil(rho_k * C_l)` units without replacement (or,
 * with `normalise: "modality"`, p over the modality's units and `ceil(rho_k * C_k)` drawn across
 * it, as Sec. 3.2.2 writes), and the mask: 0/1 for AMSS (Eq. 1), scaled for
 * AMSS+ (Eq. 5 `paper`, the authors' `reference`, or exact `horvitz-thompson`). The mask multiplies
 * whatever reaches this transform in the chain: put it first to mask gradients (authors' code),
 * after the optimizer to mask updates (Eq. 1).
 *
 * Host/device traffic per step: one download of one number per unit (all groups concatenated),
 * one upload of one scale per unit. Everything per parameter stays on the tfjs backend.
 *
 * This module holds the transform and the choice of each step's ratios; its configuration lives in
 * ./amss_config.ts, the buffers' layout in ./group_layout.ts, and the scores, draws and mask in
 * ./draw.ts.
 *
 * @module
 */
import { Rng } from "../rng.ts";
import type { GradientTransformation, TensorMap, UpdateContext } from "../transform.ts";
import { AmssArgumentError } from "../validate.ts";
import {
  type AmssConfig,
  type AmssExtras,
  type AmssInfo,
  type AmssState,
  checkBatchModalities,
  checkState,
  ratiosFromExtras,
  resolveConfig,
  type Settings,
} from "./amss_config.ts";
import {
  applyMask,
  type Draw,
  drawClassifier,
  drawPerLayer,
  drawPerModality,
  stepInputs,
  unitScores,
} from "./draw.ts";
import { type BufferSplit, groupLayout, newScratch, splitGroups } from "./group_layout.ts";
import { referenceSignificance } from "./reference_significance.ts";
import { paperSignificance } from "./significance.ts";

/**
 * The AMSS/AMSS+ transformation.
 *
 * @example AMSS+ (HT weights) with the paper's significance, masking gradients before SGD
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { amss, chain, modalityByPrefix, paperUnits, planMasks, sgd, step } from "@amss-ts/amss";
 *
 * await tf.setBackend("cpu");
 * const params = {
 *   "audio/w": tf.variable(tf.ones([4, 2])),
 *   "visual/w": tf.variable(tf.ones([4, 2])),
 * };
 * const plan = planMasks(params, {
 *   modalities: ["audio", "visual"],
 *   modalityOf: modalityByPrefix(["audio", "visual"]),
 *   unitOf: paperUnits,
 * });
 * const opt = chain(
 *   amss({
 *     plan,
 *     significance: { mode: "paper", tau: 0.25, lambda: 0.9, entropy: "none" },
 *     scale: "horvitz-thompson",
 *     seed: 1,
 *   }),
 *   sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }),
 * );
 * const state = opt.init(params);
 * const grads = { "audio/w": tf.ones([4, 2]), "visual/w": tf.ones([4, 2]) };
 * // labels and each modality's uni-modal logits (B = 2, C = 2): audio predicts well
 * const batch = {
 *   labels: [0, 1],
 *   numClasses: 2,
 *   predictionKind: "logits" as const,
 *   predictions: [[3, 0, 0, 3], [0.5, 0, 0, 0.5]],
 * };
 * const info = await step(params, grads, opt, state, 1, { batch });
 * const { ratios } = info.amss as { ratios: Record<string, number> };
 * assert(ratios.audio < ratios.visual); // the dominant modality is updated less
 * ```
 */
export function amss(config: AmssConfig): GradientTransformation<AmssState> {
  const s = resolveConfig(config);
  const groups = groupLayout(s);
  const scratch = newScratch(groups);
  // fixed at the first step, from the gradients' shapes
  let split: BufferSplit | null = null;

  return {
    init: () => ({ rng: new Rng(config.seed).state(), significance: { u: null, steps: 0 } }),

    async update(updates: TensorMap, state: AmssState, ctx: UpdateContext): Promise<TensorMap> {
      checkState(state);
      const { plan } = s;
      const info: AmssInfo = { ratios: {}, kept: {}, maxWeight: 0, zeroImportanceGroups: [] };
      const rho = ratiosFor(s, ctx.extras as AmssExtras, state, info).map((r) =>
        Math.max(r, s.minRatio)
      );
      plan.modalities.forEach((m, i) => (info.ratios[m] = rho[i]));

      const inputs = stepInputs(s, ctx);
      // (no backbone groups when only the classifier is masked: nothing to score or download)
      split ??= splitGroups(groups, (name) => inputs.gradOf(name).shape);
      const scores = await unitScores(s, groups, split, inputs, ctx);

      // Sampling and mask values per unit, plain TS on one Float32Array.
      const draw: Draw = {
        rng: Rng.fromState(state.rng),
        rho,
        scaleAll: new Float32Array(groups.totalUnits),
        // gain-matched: parameter-weighted sums of mask values and of parameters, per modality
        gainNum: new Float64Array(plan.modalities.length),
        gainDen: new Float64Array(plan.modalities.length),
        info,
        ctx,
      };
      if (s.normalise === "modality") drawPerModality(s, groups, split, scratch, scores, draw);
      else drawPerLayer(s, groups, split, scratch, scores, draw);
      // Table 7's classifier mask: rows of the shared head, per modality, after the backbone's draws
      const rowScale = s.cls ? await drawClassifier(s, s.cls, draw) : null;
      state.rng = draw.rng.state();

      const out = applyMask(s, groups, split, updates, rowScale, draw);
      ctx.info.amss = info;
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Update ratios

function ratiosFor(s: Settings, extras: AmssExtras, state: AmssState, info: AmssInfo): number[] {
  const { plan, sig } = s;
  if (s.fixed) return [...s.fixed];
  if (extras.ratios !== undefined) return ratiosFromExtras(plan.modalities, extras.ratios);
  if (!sig) {
    throw new AmssArgumentError(
      "amss: no significance config and no extras.ratios; pass one of them",
    );
  }
  if (!extras.batch) {
    throw new AmssArgumentError(
      "amss: extras.batch (labels and uni-modal predictions) is required",
    );
  }
  checkBatchModalities(extras.batch, plan.modalities);
  if (sig.mode === "reference") {
    const res = referenceSignificance(extras.batch, { tau: sig.tau });
    info.significance = res;
    return [...res.ratios];
  }
  const { mode: _m, ...cfg } = sig;
  const { result, state: next } = paperSignificance(extras.batch, state.significance, cfg);
  state.significance = next;
  info.significance = result;
  return [...result.ratios];
}
