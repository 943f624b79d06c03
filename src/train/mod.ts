/**
 * One trainer for every rebalancing method (AMSS, AMSS+, joint, uni-modal, OGM-GE, MSLR, PMR, AGM,
 * Greedy, MSES, G-Blending and the paper's controls): the method plugs in through its hooks and
 * its gradient transformation, the optimizer is SGD (Appendix C.1), Adam or AdaGrad, and a run
 * writes metrics, checkpoints and a summary with the validation-selected epoch's test metrics.
 *
 * @example Train AMSS+ for one epoch on a small generated dataset
 * ```ts
 * import { assert } from "@std/assert";
 * import { initBackend } from "@amss-ts/amss/backend";
 * import { generateSynthetic } from "@amss-ts/amss/data";
 * import { buildModel } from "@amss-ts/amss/models";
 * import { train } from "@amss-ts/amss/train";
 *
 * await initBackend("cpu");
 * // audio: strong class signal (dominant); visual: weak
 * const dataset = generateSynthetic({
 *   numClasses: 3,
 *   modalities: [
 *     { name: "audio", kind: "vector", shape: [8], signal: 2, noise: 1 },
 *     { name: "visual", kind: "vector", shape: [8], signal: 0.5, noise: 1 },
 *   ],
 *   nTrain: 48,
 *   nVal: 12,
 *   nTest: 12,
 *   seed: 1,
 * });
 * const model = buildModel({
 *   modalities: [
 *     { name: "audio", kind: "mlp", input: [8], options: { hidden: [16] } },
 *     { name: "visual", kind: "mlp", input: [8], options: { hidden: [16] } },
 *   ],
 *   fusion: { kind: "concat" },
 *   numClasses: 3,
 * });
 * const summary = await train({
 *   model,
 *   dataset,
 *   method: "amss+",
 *   methodOptions: { scale: "horvitz-thompson", tau: 0.25, units: "neuron" },
 *   optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9 },
 *   epochs: 1,
 *   batchSize: 16,
 *   seed: 1,
 *   progress: "none",
 * });
 * assert(summary.history.length === 1 && summary.test.acc >= 0);
 * ```
 *
 * @module
 */
export { concatClassifier, train, TrainingDivergedError } from "./trainer.ts";
export {
  type EpochRecord,
  OPTIMIZER_DEFAULTS,
  type OptimizerConfig,
  type RunSummary,
  type SplitMetrics,
  type TrainConfig,
} from "./types.ts";
export {
  collapseOf,
  type CollapseRule,
  type CollapseVerdict,
  DEFAULT_COLLAPSE_RULE,
} from "./collapse.ts";
export { evaluate, type EvaluateOptions } from "./evaluate.ts";
export {
  type AgmOptions,
  type AmssFamilyOptions,
  createMethod,
  type EpochEndInfo,
  type EpochStartInfo,
  type EvalMetrics,
  type FeatureVisitor,
  type Field,
  type GBlendOptions,
  type GreedyOptions,
  type LossContext,
  type Method,
  METHOD_NAMES,
  METHOD_OPTIONS_SCHEMA,
  type MethodContext,
  type MethodEntry,
  type MethodName,
  type MethodOptions,
  METHODS,
  type MsesOptions,
  type OgmGeOptions,
  type OptionDefaults,
  type OptionsSchema,
  type PmrOptions,
  type Range,
  type ScalingOptions,
  SIGNIFICANCE_DEFAULTS,
  type UnimodalOptions,
} from "./methods.ts";
export type { TrainableModel } from "./trainable.ts";
export { uniModalFisher, type UniModalFisherOptions } from "./fisher.ts";
export { accuracy, averagePrecision, macroF1, meanAveragePrecision } from "./metrics.ts";
