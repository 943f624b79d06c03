/**
 * A multi-modal model = K encoders + one fusion, as plain functions over a flat parameter map
 * (`Params`, names prefixed `<modality>/` or `fusion/`) and a separate map of non-trainable state
 * (batch-norm running statistics), so checkpoints save both and gradient transformations see only
 * the parameters. The example of the `./models` entry point (./mod.ts) builds a model, runs it,
 * differentiates its loss with {@link variableGradsByName} and plans its AMSS masks.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { modalityByPrefix, type PlanRules } from "../amss/groups.ts";
import type { ModalBatch, Params, TensorMap } from "../types.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import type { Encoder, UnitRulesKind } from "./encoders.ts";
import type { Fusion } from "./fusion.ts";
import { type ForwardOptions, ShapeSink, type State, VariableSink } from "./layers.ts";

/** What a forward pass returns (all `[B, .]`; the caller disposes, e.g. through `tf.tidy`). */
export interface ModelOutputs {
  /** Fused logits `[B, C]`. */
  logits: tf.Tensor2D;
  /** K uni-modal logits `[B, C]`, q(y | x_k) of Sec. 3.2.1, in `modalities` order. */
  unimodal: tf.Tensor2D[];
  /** K encoder features `[B, d_k]` (for H(X_k) in the significance, Sec. 3.2.1). */
  features: tf.Tensor2D[];
}

/** A functional multi-modal model. */
export interface Model {
  /** Modality names, in the order of `unimodal`, `features` and AMSS ratios. */
  readonly modalities: string[];
  /** Number of classes C. */
  readonly numClasses: number;
  /** The encoders, one per modality. */
  readonly encoders: readonly Encoder[];
  /** The fusion head. */
  readonly fusion: Fusion;
  /** Fresh seeded variables: trainable `params`, non-trainable `state` (tf.Variable, trainable=false). */
  init(seed: number): { params: Params; state: State };
  /** Shapes of every parameter and state variable, without allocating tensors. */
  shapes(): {
    params: Record<string, { shape: number[] }>;
    state: Record<string, { shape: number[] }>;
  };
  /**
   * Forward pass on `inputs[modality]` (`[B, ...inputShape]`). In training mode batch norm uses
   * batch statistics and updates the running ones (unless `updateStats: false`). Call inside
   * `tf.tidy` or `tf.variableGrads`; the BN running-statistic updates are assigned in place.
   */
  forward(
    params: Params,
    state: State,
    inputs: Record<string, tf.Tensor>,
    opts: ForwardOptions,
  ): ModelOutputs;
  /**
   * Rules for `planMasks`. `"paper"`: conv kernels channel-wise, attention heads head-wise, all
   * else element-wise (App. C.2); `"reference"`: the authors' audio-video selection (only
   * ResNet18 layer1-4 3x3 convs, channel-wise; heads never masked; MLP/Transformer encoders,
   * which that code does not have, use the paper's units). Under late/sum/weight fusion a
   * modality's own head is in its subnetwork; `fusion/...` parameters never are (App. C.2).
   */
  unitRules(kind: UnitRulesKind): PlanRules;
  /**
   * A JSON summary for run records: per modality its encoder kind, input shape and feature
   * dimension; the fusion's kind and resolved options ({@link Fusion.describe}); the class count
   * and the number of trainable parameters.
   */
  describe(): ModelDescription;
}

/** What {@link Model.describe} returns (plain JSON). */
export interface ModelDescription extends Record<string, unknown> {
  /** One entry per modality, in order. */
  modalities: { name: string; kind: string; input: number[]; dim: number }[];
  /** The fusion's kind and resolved options. */
  fusion: Record<string, unknown>;
  /** Number of classes C. */
  numClasses: number;
  /** Trainable parameters (scalars), all modalities and the fusion. */
  parameters: number;
}

/** Assembles a model from encoders (one per modality, distinct names) and a fusion. */
export function createModel(encoders: Encoder[], fusion: Fusion, numClasses: number): Model {
  const modalities = encoders.map((e) => e.modality);
  const declare = (sink: VariableSink | ShapeSink) => {
    for (const e of encoders) e.declare(sink);
    fusion.declare(sink);
  };
  const byName = new Map(encoders.map((e) => [e.modality, e]));
  return {
    modalities,
    numClasses,
    encoders,
    fusion,
    init(seed) {
      const sink = new VariableSink(seed);
      declare(sink);
      return { params: sink.params, state: sink.stateVars };
    },
    shapes() {
      const sink = new ShapeSink();
      declare(sink);
      return { params: sink.params, state: sink.stateVars };
    },
    forward(params, state, inputs, opts) {
      const xs = encoders.map((e) => {
        const x = inputs[e.modality];
        if (!x) {
          throw new AmssArgumentError(
            `inputs.${e.modality} is missing (inputs has ${Object.keys(inputs).join(", ")})`,
          );
        }
        return x;
      });
      // a hybrid fusion (mmtm) runs the encoders itself, mixing the streams between stages
      const features = fusion.encode
        ? fusion.encode(params, state, xs, opts)
        : encoders.map((e, k) => e.forward(params, state, xs[k], opts));
      const { logits, unimodal } = fusion.forward(params, features);
      return { logits, unimodal, features };
    },
    describe() {
      const sink = new ShapeSink();
      declare(sink);
      const parameters = Object.values(sink.params)
        .reduce((acc, { shape }) => acc + shape.reduce((a, b) => a * b, 1), 0);
      return {
        modalities: encoders.map((e) => ({
          name: e.modality,
          kind: e.kind,
          input: [...e.inputShape],
          dim: e.dim,
        })),
        fusion: fusion.describe(),
        numClasses,
        parameters,
      };
    },
    unitRules(kind) {
      const modalityOf = modalityByPrefix(modalities);
      return {
        modalities,
        modalityOf,
        unitOf(name, shape) {
          const m = modalityOf(name);
          if (m === null) return null;
          const local = name.slice(m.length + 1);
          if (local.startsWith("head/")) return fusion.unitRule(local, shape, kind);
          return byName.get(m)!.unitRule(local, shape, kind);
        },
      };
    },
  };
}

/**
 * The trainer's positional form of `modalBatch` (the engine's `@amss-ts/amss` export, keyed by
 * modality name, which your own training loop should use): downloads the uni-modal logits and the
 * features of a {@link Model.forward} pass, in `model.modalities` order, into the {@link ModalBatch}
 * the significance estimators take (one `await data()` per tensor, all in parallel; never
 * `dataSync`, which webgpu cannot do under Deno). The caller keeps ownership of `outputs`.
 * `labels` may be a host array or an int tensor `[B]`.
 */
export async function modalBatchFromOutputs(
  outputs: Pick<ModelOutputs, "unimodal" | "features">,
  labels: ArrayLike<number> | tf.Tensor,
  numClasses: number,
): Promise<ModalBatch> {
  requireInt("numClasses", numClasses, 2);
  const { unimodal, features } = outputs;
  if (unimodal.length === 0) throw new AmssArgumentError(`outputs.unimodal is empty`);
  if (unimodal.length !== features.length) {
    throw new AmssArgumentError(
      `outputs: ${unimodal.length} uni-modal predictions but ${features.length} feature matrices`,
    );
  }
  const B = unimodal[0]?.shape[0];
  unimodal.forEach((u, k) => {
    if (u.rank !== 2 || u.shape[0] !== B || u.shape[1] !== numClasses) {
      throw new AmssArgumentError(
        `outputs.unimodal[${k}] must be [${B}, ${numClasses}], got [${u.shape.join(", ")}]`,
      );
    }
  });
  features.forEach((f, k) => {
    if (f.rank !== 2 || f.shape[0] !== B) {
      throw new AmssArgumentError(
        `outputs.features[${k}] must be [${B}, d], got [${f.shape.join(", ")}]`,
      );
    }
  });
  const [labelData, preds, feats] = await Promise.all([
    labels instanceof tf.Tensor ? labels.data() : Promise.resolve(labels),
    Promise.all(unimodal.map((u) => u.data())),
    Promise.all(features.map((f) => f.data())),
  ]);
  if (labelData.length !== B) {
    throw new AmssArgumentError(`labels has ${labelData.length} entries, expected ${B}`);
  }
  return {
    labels: labelData as ArrayLike<number>,
    numClasses,
    predictions: preds as ArrayLike<number>[],
    predictionKind: "logits",
    features: feats.map((data, k) => ({
      data: data as ArrayLike<number>,
      dim: features[k].shape[1],
    })),
  };
}

/**
 * `tf.variableGrads` keyed by parameter name (tfjs keys by its internal variable names): the loss
 * value and one gradient per parameter. The caller disposes both.
 */
export function variableGradsByName(
  params: Params,
  loss: () => tf.Scalar,
): { value: tf.Scalar; grads: TensorMap } {
  const { value, grads } = tf.variableGrads(loss, Object.values(params));
  const out: TensorMap = {};
  for (const [name, v] of Object.entries(params)) out[name] = grads[v.name];
  return { value, grads: out };
}
