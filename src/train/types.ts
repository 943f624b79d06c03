/**
 * The trainer's public types: what a run is given ({@link TrainConfig}, its
 * {@link OptimizerConfig} and {@link OPTIMIZER_DEFAULTS}: Appendix C.1's SGD momentum 0.9, weight
 * decay 1e-4, step decay x0.1) and what it records ({@link SplitMetrics} per split,
 * {@link EpochRecord} per line of metrics.jsonl, {@link RunSummary} for summary.json). Kept apart
 * from the loop (./trainer.ts) so that the modules that only read or write these records (the
 * evaluation, the optimizer, the benchmarks' tables) need not import it.
 *
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import type { SampleReader } from "../data/loaders.ts";
import type { PretrainedSpec } from "../models/pretrained.ts";
import type { MethodName, MethodOptions } from "../rebalance/registry.ts";
import type { CollapseRule } from "./collapse.ts";
import type { TrainableModel } from "./trainable.ts";

/**
 * Defaults of {@link OptimizerConfig} (Appendix C.1: SGD momentum 0.9, weight decay 1e-4 for SGD
 * and AdaGrad, 0 for Adam, step decay x0.1).
 */
export const OPTIMIZER_DEFAULTS: Readonly<{
  momentum: number;
  weightDecay: number;
  adamWeightDecay: number;
  gamma: number;
}> = Object.freeze({ momentum: 0.9, weightDecay: 1e-4, adamWeightDecay: 0, gamma: 0.1 });

/** Optimizer settings (Appendix C.1: SGD momentum 0.9, weight decay 1e-4, step decay x0.1; Adam). */
export interface OptimizerConfig {
  /** Which optimizer (as PyTorch's SGD, Adam, Adagrad). */
  kind: "sgd" | "adam" | "adagrad";
  /** Initial learning rate. */
  lr: number;
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** L2 weight decay. Default 1e-4 (SGD, AdaGrad), 0 (Adam). */
  weightDecay?: number;
  /** Epochs (0-based) after which the rate is multiplied by `gamma`. */
  milestones?: number[];
  /** Factor of the step decay at each milestone. Default 0.1. */
  gamma?: number;
}

/** Everything a run needs. */
export interface TrainConfig {
  /** The model to train (its modalities must be the dataset's, in order). */
  model: TrainableModel;
  /** Train, val and test splits. */
  dataset: Dataset;
  /** The rebalancing method. */
  method: MethodName;
  /** The method's options (each method reads its own). */
  methodOptions?: MethodOptions;
  /** The optimizer after the method's transformation. */
  optimizer: OptimizerConfig;
  /** Where the method's transformation stands: before the optimizer (authors' code) or after (Eq. 1). */
  order?: "mask-gradients" | "mask-updates";
  /** Number of epochs (>= 1). */
  epochs: number;
  /** Training batch size (>= 1). */
  batchSize: number;
  /** Seed of the initialisation, the data order, augmentation and the method's sampling. */
  seed: number;
  /** Run folder; nothing is written without it. */
  outDir?: string;
  /** Continue from `outDir`'s checkpoint if there is one. */
  resume?: boolean;
  /** Progress output: a live line on a terminal, periodic lines otherwise, or none. */
  progress?: "auto" | "tty" | "plain" | "none";
  /** Evaluation batch size. Default the larger of `batchSize` and 128. */
  evalBatchSize?: number;
  /**
   * Stops the run (as if killed: no summary.json) after the checkpoint of the first epoch that
   * ends with the signal aborted (an epoch is never cut short); the returned summary has
   * `stoppedEarly`.
   */
  signal?: AbortSignal;
  /** Called with each epoch's record after its checkpoint (before `signal` is looked at). */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /**
   * Stop (as if killed) after this epoch's checkpoint: for resume tests.
   * @deprecated Use `signal` (abort it from `onEpoch`).
   */
  stopAfterEpoch?: number;
  /** Extra fields recorded in config.json (backend, dataset description, ...). */
  meta?: Record<string, unknown>;
  /** tau and lambda of the significance that is LOGGED for every method (paper mode). */
  logTau?: number;
  /** Datasets read from disk: who decodes samples (default the main thread; e.g. a WorkerPool). */
  reader?: SampleReader;
  /**
   * Pretrained weights per modality (tfjs weights format, src/models/pretrained.ts), loaded over
   * the seeded initialisation; a resumed run takes its checkpoint instead.
   */
  pretrained?: PretrainedSpec[];
  /**
   * Datasets read from disk: a sample that fails to decode (training or evaluation) stops the run
   * instead of being skipped.
   */
  strictData?: boolean;
  /** When the summary calls a run collapsed ({@link collapseOf}); default {@link DEFAULT_COLLAPSE_RULE}. */
  collapse?: Partial<CollapseRule>;
}

/** Metrics of one split. */
export interface SplitMetrics {
  /** Accuracy of the fused prediction. */
  acc: number;
  /** Mean over classes of the average precision (one-vs-rest). */
  mAP: number;
  /** Unweighted mean over classes of the F1 score. */
  macroF1: number;
  /** Accuracy of each modality's uni-modal prediction inside the model. */
  branchAcc: Record<string, number>;
  /** Mean cross-entropy of the fused prediction (always set by {@link evaluate}). */
  loss?: number;
  /** Mean cross-entropy of each modality's uni-modal prediction (always set by {@link evaluate}). */
  branchLoss?: Record<string, number>;
  /**
   * Samples of the split that could not be read (decode failure) and are not in these metrics
   * (always set by {@link evaluate}; 0 for in-memory data).
   */
  skipped?: number;
}

/** One line of metrics.jsonl. */
export interface EpochRecord {
  /** The epoch (1-based). */
  epoch: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Mean of the optimized objective (the method's loss) over the epoch's samples. */
  trainLoss: number;
  /** Mean cross-entropy of the fused logits over the epoch's training samples. */
  trainFusedLoss: number;
  /** Mean cross-entropy of each modality's uni-modal logits over the epoch's training samples. */
  trainBranchLoss: Record<string, number>;
  /** Accuracy of the fused prediction on the epoch's training batches (training mode). */
  trainAcc: number;
  /** Validation metrics after the epoch. */
  val: SplitMetrics;
  /** Test metrics after the epoch. */
  test: SplitMetrics;
  /** Mean smoothed significance u per modality (paper-mode estimator, logged for every method). */
  meanU: Record<string, number>;
  /** u_1 / u_2: the imbalance degree of the first two modalities. */
  imbalance: number;
  /**
   * The imbalance degree over all K modalities: max_k u_k / min_k u_k of `meanU` (Fig. 5's u1/u2,
   * or its inverse, for K = 2).
   */
  imbalanceDegree: number;
  /** Mean update ratio per modality: AMSS's own for the AMSS family, else what Eq. 4 would give. */
  meanRho: Record<string, number>;
  /** `method`: `meanRho` are the ratios the method applied; `logged`: what Eq. 4 would give. */
  rhoSource: "method" | "logged";
  /** Largest AMSS+ mask weight applied in the epoch (0 when not masking). */
  maxMaskWeight: number;
  /** Mean wall time of a training step, ms. */
  msPerStep: number;
  /** Training steps in the epoch. */
  steps: number;
  /**
   * Training samples dropped this epoch (datasets read from disk): those that failed to decode, and
   * the lone readable sample of a batch whose other samples failed (module comment of
   * ./trainer.ts).
   */
  skippedSamples: number;
  /**
   * 1 when the epoch's lone last training sample (`n % batchSize === 1`) was merged into the batch
   * before it, else 0 (module comment of ./trainer.ts).
   */
  mergedSamples: number;
  /**
   * What the method reports: epoch means of its per-step `info.methodStats` numbers (e.g. AGM's
   * coefficients) and what its `onEpochEnd` hook returned (e.g. MSES's stopped modalities).
   * Absent for methods that report nothing.
   */
  methodLog?: Record<string, unknown>;
}

/** summary.json. */
export interface RunSummary {
  /** The method name. */
  method: string;
  /** The method's label with its variant, e.g. "amss+ (horvitz-thompson)". */
  label: string;
  /** The run's seed. */
  seed: number;
  /** Epochs trained. */
  epochs: number;
  /** The validation-selected epoch: the first with the highest validation accuracy. */
  bestEpoch: number;
  /** Test metrics of the validation-selected epoch. */
  test: SplitMetrics;
  /** Validation metrics of the validation-selected epoch. */
  val: SplitMetrics;
  /** Mean over epochs of each modality's mean update ratio. */
  meanRho: Record<string, number>;
  /** Mean wall time of a training step over the run, ms. */
  msPerStep: number;
  /** One record per epoch. */
  history: EpochRecord[];
  /** True when `stopAfterEpoch` ended the run before its last epoch. */
  stoppedEarly: boolean;
  /**
   * The last epoch's metrics (the selected-epoch fields above are those of `bestEpoch`). Always
   * set by {@link train}; absent in summaries written before it was recorded.
   */
  final?: { epoch: number; test: SplitMetrics; val: SplitMetrics; trainLoss: number };
  /** Lowest epoch training loss (`trainLoss`) of the run. Always set by {@link train}. */
  minTrainLoss?: number;
  /** Whether the run collapsed by `collapseRule` ({@link collapseOf}). Always set by {@link train}. */
  collapsed?: boolean;
  /** Why it collapsed (one sentence per criterion met), null when it did not. */
  collapseReason?: string | null;
  /** The rule `collapsed` was decided by. Always set by {@link train}. */
  collapseRule?: CollapseRule;
}
