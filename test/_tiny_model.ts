/**
 * A tiny two-modality concat-fusion CNN for engine tests (not a product model: the trainer's
 * models are in src/models). Each modality: conv 3x3 (4 channels) -> ReLU -> global
 * mean pool -> dense 4 -> 3; fusion: concat -> dense 6 -> C. Uni-modal predictions follow the
 * paper's concat rule (Sec. 3.2.1): the other modality's features are zeroed.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../src/rng.ts";
import type { Params } from "../src/transform.ts";
import type { ModalBatch } from "../src/amss/significance.ts";

export const MODALITIES = ["audio", "visual"] as const;
export const CLASSES = 3;

export function tinyParams(seed: number): Params {
  const rng = new Rng(seed);
  const init = (shape: number[], scale: number) =>
    tf.variable(
      tf.tensor(
        Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale),
        shape,
      ),
      true,
    );
  const p: Params = {};
  for (const m of MODALITIES) {
    p[`${m}/layer1/conv/kernel`] = init([3, 3, 1, 4], 0.5);
    p[`${m}/layer1/conv/bias`] = init([4], 0.1);
    p[`${m}/proj/kernel`] = init([4, 3], 0.5);
  }
  p["fusion/kernel"] = init([6, CLASSES], 0.5);
  p["fusion/bias"] = init([CLASSES], 0.1);
  return p;
}

export interface TinyBatch {
  inputs: Record<string, tf.Tensor4D>;
  labels: Int32Array;
}

export function tinyBatch(seed: number, batch = 8): TinyBatch {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: batch }, () => rng.int(CLASSES));
  const inputs: Record<string, tf.Tensor4D> = {};
  for (const [mi, m] of MODALITIES.entries()) {
    const data = new Float32Array(batch * 36);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < 36; i++) {
        data[b * 36 + i] = rng.normal() + (mi === 0 ? 1.0 : 0.3) * (labels[b] - 1) * (i % 2);
      }
    }
    inputs[m] = tf.tensor4d(data, [batch, 6, 6, 1]);
  }
  return { inputs, labels };
}

function features(p: Params, m: string, x: tf.Tensor4D): tf.Tensor2D {
  const h = tf.relu(
    tf.add(
      tf.conv2d(x, p[`${m}/layer1/conv/kernel`] as tf.Tensor4D, 1, "same"),
      p[`${m}/layer1/conv/bias`],
    ),
  );
  return tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, p[`${m}/proj/kernel`] as tf.Tensor2D);
}

/** Fused logits and per-modality features. */
export function forward(p: Params, b: TinyBatch): { logits: tf.Tensor2D; feats: tf.Tensor2D[] } {
  const feats = MODALITIES.map((m) => features(p, m, b.inputs[m]));
  const logits = tf.add(
    tf.matMul(tf.concat(feats, 1), p["fusion/kernel"] as tf.Tensor2D),
    p["fusion/bias"],
  ) as tf.Tensor2D;
  return { logits, feats };
}

export function loss(p: Params, b: TinyBatch): tf.Scalar {
  const { logits } = forward(p, b);
  return tf.losses.softmaxCrossEntropy(tf.oneHot(b.labels, CLASSES), logits) as tf.Scalar;
}

/** Gradients of the loss for every parameter (caller disposes). */
export function gradients(p: Params, b: TinyBatch): Record<string, tf.Tensor> {
  const { value, grads } = tf.variableGrads(() => loss(p, b), Object.values(p));
  value.dispose();
  // variableGrads keys by tfjs's internal variable names: map back to our parameter names.
  return Object.fromEntries(Object.entries(p).map(([key, v]) => [key, grads[v.name]]));
}

/** Uni-modal logits (other modality's features zeroed, Sec. 3.2.1) and features, downloaded. */
export function modalBatch(p: Params, b: TinyBatch): ModalBatch {
  return tf.tidy(() => {
    const { feats } = forward(p, b);
    const predictions = feats.map((_f, k) => {
      const parts = feats.map((g, j) => (j === k ? g : tf.zerosLike(g)));
      return tf.add(
        tf.matMul(tf.concat(parts, 1), p["fusion/kernel"] as tf.Tensor2D),
        p["fusion/bias"],
      )
        .dataSync() as Float32Array;
    });
    return {
      labels: b.labels,
      numClasses: CLASSES,
      predictions,
      predictionKind: "logits" as const,
      features: feats.map((f) => ({ data: f.dataSync() as Float32Array, dim: 3 })),
    };
  });
}
