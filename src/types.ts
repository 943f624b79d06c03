/**
 * The types the engine, the models and the trainer share: parameters and tensors by name, and the
 * per-step batch that AMSS's significance reads (plus the tensors a forward pass gives for it).
 * Models import these from here, not from the optimizer or significance modules.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** Trainable parameters by name. */
export type Params = Record<string, tf.Variable>;
/** Gradients or updates by parameter name. */
export type TensorMap = Record<string, tf.Tensor>;

/** One mini-batch as seen by the significance estimators (K >= 2 modalities). */
export interface ModalBatch {
  /** B integer class ids in [0, numClasses). */
  labels: ArrayLike<number>;
  /** C, the number of classes (>= 2). */
  numClasses: number;
  /** K entries, each `B * C` row-major: the uni-modal prediction `q(y | x_k)`. */
  predictions: ArrayLike<number>[];
  /** Whether `predictions` hold logits (log-softmax is applied) or probabilities. */
  predictionKind: "logits" | "probs";
  /** K entries, each `B * dim` row-major encoder features, used for `H(X_k)`. */
  features?: { data: ArrayLike<number>; dim: number }[];
  /**
   * The modality of each position of `predictions` and `features` (`modalBatch` sets it).
   * When present, `amss` checks it against its plan's modalities, so predictions given in
   * another order fail instead of silently swapping the ratios.
   */
  modalities?: readonly string[];
}

/** One step's tensors, keyed by modality name (see {@link modalBatch}). */
export interface ModalOutputs {
  /** `[B]` integer class ids: an int (or float) tensor, or a host array. */
  labels: tf.Tensor | ArrayLike<number>;
  /**
   * Per modality, its uni-modal prediction q(y | x_k) as a `[B, C]` tensor (logits unless
   * `predictionKind` says probs). Which one the paper uses depends on the fusion: for concat
   * (and FiLM), the fused head applied with every other modality's features zeroed (Sec. 3.2.1's
   * zero padding); for sum, weight and late fusion, the modality's own head.
   */
  predictions: Readonly<Record<string, tf.Tensor>>;
  /** Per modality, its encoder features `[B, D_k]`, for H(X_k) (omit with `entropy: "none"`). */
  features?: Readonly<Record<string, tf.Tensor>>;
  /** Whether `predictions` are logits (default) or probabilities. */
  predictionKind?: "logits" | "probs";
}
