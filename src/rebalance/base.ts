/**
 * The one interface every rebalancing method implements, so that the trainer has no per-method
 * branches (methods that change the loss, such as PMR, get a loss hook; methods that change
 * gradients get the gradient hook), and the small helpers the method modules share.
 *
 * A {@link Method} has up to five parts, all optional but the first three:
 * - `lossOn`: which logits the default cross-entropy uses (fused, or one modality's);
 * - `transform`: a gradient transformation before (or after) the optimizer; its state is part of
 *   the optimizer state and checkpointed with it;
 * - `loss`: replaces the default cross-entropy (called inside the gradient tape);
 * - `onEpochStart` / `onEpochEnd`: per-epoch updates (a pass over training features, validation
 *   metrics); what `onEpochEnd` returns is written to the epoch's `methodLog`;
 * - `state`: plain data (numbers, arrays, typed arrays, nested objects) saved in every checkpoint
 *   and restored IN PLACE on resume. Hooks must read it through the object each time (a restored
 *   typed array replaces the old one in its parent), never keep references to its members.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { SignificanceConfig } from "../amss/amss_config.ts";
import type { PlanRules } from "../amss/groups.ts";
import type { ModelOutputs } from "../models/model.ts";
import type { GradientTransformation, Params, TensorMap } from "../transform.ts";

/** Every method name the trainer knows. */
export const METHOD_NAMES = [
  "joint",
  "unimodal",
  "amss",
  "amss+",
  "random-mask",
  "global-scale",
  "ogm-ge",
  "mslr",
  "pmr",
  "agm",
  "greedy",
  "mses",
  "g-blending",
] as const;
/** A method name. */
export type MethodName = typeof METHOD_NAMES[number];

/** What a method needs to know about the model. */
export interface MethodContext {
  /** Modality names, in model order. */
  modalities: string[];
  /** The model's trainable parameters. */
  params: Params;
  /** Mask/ownership rules of the model (modalityOf: which modality a variable belongs to). */
  rules: (units: "paper" | "reference") => PlanRules;
  /** Seed of the run (methods derive their generators from it). */
  seed: number;
  /** Number of classes C (PMR sizes its prototypes with it). */
  numClasses?: number;
  /**
   * The shared classifier, when the fusion has one whose rows split by modality (concat: the head
   * kernel's rows reading modality k's features): Table 7's classifier masks use it.
   */
  classifier?: { name: string; rows: Record<string, [number, number]> };
}

/** What the loss hook sees besides the model outputs and the one-hot labels. */
export interface LossContext {
  /** 1-based epoch. */
  epoch: number;
  /** 1-based global step. */
  step: number;
  /** Number of classes C. */
  numClasses: number;
  /** The batch's class ids (host copy of the one-hot labels). */
  labels: Int32Array;
}

/** Visitor of {@link EpochStartInfo.trainFeatures}: encoder features `[B, d_k]` per modality. */
export type FeatureVisitor = (
  features: tf.Tensor2D[],
  labels: Int32Array,
) => void | Promise<void>;

/** What `onEpochStart` gets. */
export interface EpochStartInfo {
  /** The epoch about to be trained (1-based). */
  epoch: number;
  /**
   * An inference-mode pass (batch norm in eval mode, no augmentation) over the training split:
   * `visit` gets each batch's encoder features and labels; the trainer disposes the tensors after
   * `visit` returns. `fraction` < 1 visits only the first `max(1, floor(fraction * batches))`
   * batches of an order shuffled by (run seed, epoch).
   */
  trainFeatures(visit: FeatureVisitor, opts?: { fraction?: number }): Promise<void>;
}

/** Validation metrics as `onEpochEnd` sees them (a subset of the trainer's SplitMetrics). */
export interface EvalMetrics {
  /** Accuracy of the fused prediction. */
  acc: number;
  /** Cross-entropy of the fused prediction. */
  loss?: number;
  /** Accuracy of each modality's uni-modal prediction. */
  branchAcc: Record<string, number>;
  /** Cross-entropy of each modality's uni-modal prediction. */
  branchLoss?: Record<string, number>;
}

/** What `onEpochEnd` gets (after the epoch's evaluation, before its checkpoint). */
export interface EpochEndInfo {
  /** The epoch just trained (1-based). */
  epoch: number;
  /** Mean of the optimized objective over the epoch's samples. */
  trainLoss: number;
  /** Mean cross-entropy of the fused logits over the epoch's training samples (during training). */
  trainFusedLoss: number;
  /** Mean cross-entropy of each modality's uni-modal logits over the epoch's training samples. */
  trainBranchLoss: Record<string, number>;
  /** This epoch's validation metrics. */
  val: EvalMetrics;
}

/** A configured method. */
export interface Method {
  /** Which method. */
  name: MethodName;
  /** Human-readable variant, e.g. "amss+ (horvitz-thompson)". */
  label: string;
  /** The default loss uses the fused logits, or the uni-modal logits of one modality (index). */
  lossOn: "fused" | number;
  /** Transformation applied to raw gradients before the optimizer, or null. */
  transform: GradientTransformation | null;
  /**
   * Replaces the default cross-entropy: the scalar loss from the forward outputs and the one-hot
   * labels `[B, C]`. Called inside the gradient tape (tensors it creates are freed with the tape).
   */
  loss?(out: ModelOutputs, labels: tf.Tensor2D, ctx: LossContext): tf.Scalar;
  /** Called before each epoch's training pass (also the first epoch after a resume). */
  onEpochStart?(info: EpochStartInfo): void | Promise<void>;
  /** Called after each epoch's evaluation; what it returns goes into the epoch's `methodLog`. */
  onEpochEnd?(
    info: EpochEndInfo,
  ): Record<string, unknown> | void | Promise<Record<string, unknown> | void>;
  /** Plain-data state saved in every checkpoint and restored in place on resume. */
  state?: Record<string, unknown>;
  /**
   * Variables whose per-element diagonal empirical Fisher of the uni-modal log-likelihood
   * (Sec. 3.2.2; src/train/fisher.ts) the trainer computes every step and passes to `transform` in
   * `extras.fisher` (AMSS with `importance: "fisher"`). Absent: no such pass.
   */
  fisher?: readonly string[];
  /**
   * The significance estimator (Eqs. 2-4) that `transform` runs every step (the AMSS family). When
   * it is the estimator the trainer logs for every method, the trainer logs the transformation's
   * per-step result instead of computing it a second time.
   */
  significance?: SignificanceConfig;
}

/** Variables of each modality by `modalityOf` (shared ones, e.g. a concat head, belong to none). */
export function variablesByModality(ctx: MethodContext): Record<string, string[]> {
  const rules = ctx.rules("paper");
  const out: Record<string, string[]> = Object.fromEntries(ctx.modalities.map((m) => [m, []]));
  for (const [name, v] of Object.entries(ctx.params)) {
    const m = rules.modalityOf(name, v.shape);
    if (m !== null) out[m].push(name);
  }
  return out;
}

/** Variable name -> owning modality (shared variables are absent). */
export function ownerMap(ctx: MethodContext): Map<string, string> {
  const owner = new Map<string, string>();
  for (const [m, names] of Object.entries(variablesByModality(ctx))) {
    for (const n of names) owner.set(n, m);
  }
  return owner;
}

/**
 * Drops the updates of the variables `drop` says yes to: they get no update at all this step (no
 * gradient, no momentum, no weight decay; PyTorch's `requires_grad = False`) when the method stands
 * before the optimizer (the trainer's default order); after it (`mask-updates`) the optimizer has
 * already folded the gradient into its moments and only this step's move is dropped. The dropped
 * tensors stay owned by the caller (the chain or the trainer disposes them).
 */
export function dropUpdates(updates: TensorMap, drop: (name: string) => boolean): TensorMap {
  const out: TensorMap = {};
  for (const [name, u] of Object.entries(updates)) if (!drop(name)) out[name] = u;
  return out;
}

/** Identity in the forward pass, zero gradient (PyTorch's `detach`). */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  // tfjs passes the inputs, then a save function, as one rest list
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([]);
    return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  },
) as (x: tf.Tensor) => tf.Tensor;

/**
 * Per-row log-softmax of the true class of `B x C` row-major logits (float64 on the host), i.e.
 * `log q(y_i | x_i)`.
 */
export function logProbOfLabels(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
): Float64Array {
  const B = labels.length;
  const out = new Float64Array(B);
  for (let i = 0; i < B; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[i * C + c]);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(logits[i * C + c] - max);
    out[i] = logits[i * C + labels[i]] - max - Math.log(z);
  }
  return out;
}

/** Sum over the batch of the cross-entropy of `B x C` row-major logits (float64, host). */
export function sumCrossEntropy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
): number {
  let s = 0;
  for (const lp of logProbOfLabels(logits, labels, C)) s -= lp;
  return s;
}
