/**
 * AMSS/AMSS+ (Yang et al., "Learning to Rebalance Multi-Modal Optimization by Adaptively Masking
 * Subnetworks") as gradient transformations: the engine a training loop imports. AMSS is one part
 * of a {@link chain} (init/update, optax style); where it stands is the paper-vs-code question:
 * first, it masks the gradient before momentum and weight decay (the authors' code); after the
 * optimizer, it masks the update itself (Eq. 1). The update ratios come from modal significance
 * (Eqs. 2-4, {@link paperSignificance} or the authors' {@link referenceSignificance}), the units
 * of each layer from a {@link MaskPlan}, the kept units from a sampler ({@link sampleUnits}) and
 * their weights from a mask scale ({@link unitMask}: AMSS's 0/1, AMSS+'s Eq. 5, the authors'
 * scale, or exactly unbiased Horvitz-Thompson weights).
 *
 * Models, data, the trainer, the theory and the backend set-up are the subpath entry points
 * `./models`, `./data`, `./train`, `./theory` and `./backend`.
 *
 * @example Two modalities, AMSS+ with Horvitz-Thompson weights masking the gradients before SGD
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { amss, chain, modalityByPrefix, paperUnits, planMasks, sgd, step } from "@amss-ts/amss";
 *
 * await tf.setBackend("cpu");
 * const params = {
 *   "audio/dense": tf.variable(tf.randomNormal([4, 3], 0, 0.1, "float32", 1)),
 *   "visual/dense": tf.variable(tf.randomNormal([4, 3], 0, 0.1, "float32", 2)),
 * };
 * const plan = planMasks(params, {
 *   modalities: ["audio", "visual"],
 *   modalityOf: modalityByPrefix(["audio", "visual"]),
 *   unitOf: paperUnits,
 * });
 * const optimizer = chain(
 *   amss({ plan, scale: "horvitz-thompson", seed: 1 }),
 *   sgd({ lr: 0.1, momentum: 0.9 }),
 * );
 * const state = optimizer.init(params);
 * const grads = { "audio/dense": tf.ones([4, 3]), "visual/dense": tf.ones([4, 3]) };
 * // without a significance config, the ratios come with every step
 * const info = await step(params, grads, optimizer, state, 1, { ratios: [0.25, 0.75] });
 * const { kept } = info.amss as { kept: Record<string, [number, number]> };
 * assert(kept["audio/dense"][0] === 3 && kept["visual/dense"][0] === 9);
 * ```
 *
 * @module
 */
export { Rng, type RngState } from "./rng.ts";
export { AmssArgumentError } from "./validate.ts";
export {
  adagrad,
  type AdagradOptions,
  adam,
  type AdamOptions,
  applyUpdates,
  chain,
  disposeState,
  type GradientTransformation,
  gradsByParamName,
  type Params,
  type Schedule,
  sgd,
  type SgdOptions,
  step,
  stepDecay,
  type StepExtras,
  type StepInfo,
  type TensorMap,
  type UpdateContext,
} from "./transform.ts";
export { amss } from "./amss/amss.ts";
export {
  type AmssConfig,
  type AmssExtras,
  type AmssInfo,
  type AmssState,
  type SignificanceConfig,
} from "./amss/amss_config.ts";
export {
  type MaskGroup,
  type MaskMember,
  type MaskPlan,
  modalityByPrefix,
  neuronRules,
  paperUnits,
  planMasks,
  type PlanRules,
  referenceResNetUnits,
  type UnitRule,
} from "./amss/groups.ts";
export type { ImportanceMode, UnitSpec } from "./amss/units.ts";
export {
  DEFAULT_LAMBDA,
  initialPaperSignificanceState,
  type ModalBatch,
  paperSignificance,
  type PaperSignificanceConfig,
  type PaperSignificanceState,
  type RatioFlag,
  type SignificanceBranch,
  type SignificanceResult,
} from "./amss/significance.ts";
export {
  referenceSignificance,
  type ReferenceSignificanceConfig,
} from "./amss/reference_significance.ts";
export { modalBatch, type ModalOutputs } from "./amss/batch.ts";
export { updateRatios } from "./amss/ratio.ts";
export {
  type SampleOptions,
  SAMPLER_KINDS,
  type SamplerKind,
  sampleSuccessive,
  sampleSystematic,
  sampleTopK,
  sampleUniform,
  sampleUnits,
  type ShortfallMode,
  type UnitSample,
  unitsToKeep,
} from "./amss/sampling.ts";
export {
  defensiveMixture,
  MASK_SCALES,
  type MaskScale,
  unitMask,
  type UnitMaskOptions,
} from "./amss/mask.ts";
