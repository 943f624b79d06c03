/**
 * What the trainer needs from a multi-modal model. Models are functional: trainable parameters and
 * non-trainable state (batch-norm running statistics) are maps of `tf.Variable`s, so checkpoints
 * save both and gradient transformations see plain maps.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { PlanRules } from "../amss/groups.ts";
import type { Params } from "../transform.ts";

/** Outputs of one forward pass (B samples, C classes, K modalities). */
export interface ModelOutputs {
  /** Fused logits [B, C]. */
  logits: tf.Tensor2D;
  /** Uni-modal logits q(y|x_k) per modality [B, C] (paper Sec. 3.2.1: own head, or others zeroed). */
  unimodal: tf.Tensor2D[];
  /** Encoder features per modality [B, D_k] (for H(X_k) in the significance). */
  features: tf.Tensor2D[];
}

/** A trainable multi-modal model. */
export interface TrainableModel {
  /** Modality names, in input order (must match the dataset's). */
  modalities: string[];
  numClasses: number;
  /** Fresh parameters and state, deterministic in `seed`. */
  init(seed: number): { params: Params; state: Record<string, tf.Variable> };
  /** Forward pass; in training mode batch-norm statistics in `state` are updated. */
  forward(
    params: Params,
    state: Record<string, tf.Variable>,
    inputs: Record<string, tf.Tensor>,
    opts: { training: boolean },
  ): ModelOutputs;
  /** Which variables belong to which modality and how AMSS splits them into units. */
  unitRules(kind: "paper" | "reference"): PlanRules;
  /** A short description for run records. */
  describe?(): Record<string, unknown>;
}
