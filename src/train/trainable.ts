/**
 * What the trainer needs from a multi-modal model (the models of src/models satisfy it; tests use
 * smaller ones). Models are functional: trainable parameters and
 * non-trainable state (batch-norm running statistics) are maps of `tf.Variable`s, so checkpoints
 * save both and gradient transformations see plain maps.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { PlanRules } from "../amss/groups.ts";
import type { ModelOutputs } from "../models/model.ts";
import type { Params } from "../transform.ts";

/** Outputs of one forward pass: fused logits, uni-modal logits and features (src/models). */
export type { ModelOutputs };

/** A trainable multi-modal model. */
export interface TrainableModel {
  /** Modality names, in input order (must match the dataset's). */
  modalities: string[];
  /** Number of classes C. */
  numClasses: number;
  /** Fresh parameters and state, deterministic in `seed`. */
  init(seed: number): { params: Params; state: Record<string, tf.Variable> };
  /**
   * Forward pass; in training mode batch-norm statistics in `state` are updated unless
   * `updateStats` is false (a second pass in the same step, e.g. src/train/fisher.ts).
   */
  forward(
    params: Params,
    state: Record<string, tf.Variable>,
    inputs: Record<string, tf.Tensor>,
    opts: { training: boolean; updateStats?: boolean },
  ): ModelOutputs;
  /** Which variables belong to which modality and how AMSS splits them into units. */
  unitRules(kind: "paper" | "reference"): PlanRules;
  /** A short description for run records. */
  describe?(): Record<string, unknown>;
}
