/**
 * The paper's theory as executable checks, in plain TypeScript on Float64Array (no tfjs): exact
 * information quantities on discrete distributions for the Barber-Agakov bound of Eq. 2 and its
 * mini-batch plug-in estimate; the exact inclusion probabilities of the engine's sampling designs
 * (what makes a Horvitz-Thompson mask unbiased); smooth synthetic objectives with proven smoothness constants,
 * Gaussian gradient oracles and masked SGD (Eqs. 6 and 21) with the engine's own samplers and
 * mask scales; the bounds of Theorems 3 and 4 (Eqs. 12 and 25) and estimators of the constants
 * they assume (Assumptions 1-4).
 *
 * @example The Barber-Agakov bound is tight at the true conditional; AMSS+ with HT weights converges
 * ```ts
 * import { assert } from "@std/assert";
 * import {
 *   barberAgakovBound,
 *   conditionalOf,
 *   gaussianOracle,
 *   logSumObjective,
 *   maskedSgd,
 *   METHODS,
 *   mutualInformation,
 *   uniformLayout,
 * } from "@amss-ts/amss/theory";
 *
 * const joint = { nx: 2, ny: 2, p: [0.4, 0.1, 0.2, 0.3] };
 * assert(
 *   Math.abs(barberAgakovBound(joint, conditionalOf(joint)) - mutualInformation(joint)) < 1e-12,
 * );
 *
 * const f = logSumObjective({ layout: uniformLayout(["a", "v"], 1, 8, 4), smoothness: 2, seed: 1 });
 * const run = maskedSgd({
 *   oracle: gaussianOracle(f, { sigma2: 1 }),
 *   method: METHODS["amss+ht"],
 *   ratios: [0.5, 0.75],
 *   T: 200,
 *   nu: 1,
 *   seed: 7,
 * });
 * assert(Number.isFinite(run.avgGradNorm2));
 * ```
 *
 * @module
 */
export {
  barberAgakovBound,
  batchBarberAgakovEstimate,
  type BatchBoundEstimate,
  conditionalOf,
  type DiscreteJoint,
  entropy,
  expectedPlugInEntropy,
  labelMarginal,
  mutualInformation,
  sampleJoint,
} from "./information.ts";
export {
  type LayerSpec,
  type Layout,
  type LayoutLayer,
  type LayoutSpec,
  logSumObjective,
  type LogSumOptions,
  makeLayout,
  makeObjective,
  type Objective,
  OBJECTIVE_KINDS,
  type ObjectiveKind,
  type ObjectiveOptions,
  quadraticObjective,
  type QuadraticOptions,
  tanhRegressionObjective,
  type TanhRegressionOptions,
  uniformLayout,
} from "./objectives.ts";
export { type InclusionOptions, successiveInclusionProbabilities } from "./inclusion.ts";
export { systematicInclusionProbabilities } from "../amss/sampling.ts";
export { gaussianOracle, type GaussianOracleOptions, type GradientOracle } from "./oracle.ts";
export {
  type BoundConstants,
  type MaskConfig,
  maskedSgd,
  type MaskedSgdOptions,
  type MaskedSgdResult,
  type MethodName,
  METHODS,
  stepSize,
  theorem3Bound,
  theorem4Bound,
} from "./masked_sgd.ts";
export {
  type ConditionalMomentOptions,
  convergenceExperiment,
  estimateConstants,
  type EstimateOptions,
  type ExperimentOptions,
  type ExperimentResult,
  type ExperimentRow,
  type MeasuredConstants,
  type PointMomentOptions,
  type PointMoments,
  pointMoments,
  type VarianceReference,
} from "./estimators.ts";
