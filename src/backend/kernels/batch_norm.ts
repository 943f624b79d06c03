/**
 * Batch normalisation in training mode with a closed-form backward ({@link batchNormTrain}, every
 * backend), and its two `wasm` kernels, forward and backward as TypeScript loops on the wasm heap
 * (five passes over x in all, with no tf-op dispatch between them; registered by
 * ../wasm_kernels.ts under {@link BN_FORWARD} and {@link BN_BACKWARD}). Differentiating
 * `tf.moments` + `tf.batchNorm` op by op is slower, notably on wasm (its gradient uses the slow
 * Tile).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
// For its side effect, registering the `wasm` backend: modules that use batchNormTrain (such as
// src/models/layers.ts) see the same registered backends, hence the same default backend, as
// modules that import ../wasm_kernels.ts.
import "@tensorflow/tfjs-backend-wasm";
import type { WasmHeapBackend } from "./wasm_heap.ts";

/** Names of our batch-norm training kernels (wasm only; see {@link batchNormTrain}). */
export const BN_FORWARD = "AmssBatchNormTrain", BN_BACKWARD = "AmssBatchNormTrainGrad";

/**
 * Batch norm in training mode for wasm, in TypeScript on the heap: x viewed as [M, C] (channels
 * innermost). Three passes: per-channel mean, then the biased variance as the mean of squared
 * deviations (two passes, as tf.moments, so a large mean does not cancel), then
 * y = (x - mean) * (gamma * invStd) + beta. Outputs y, mean, variance, invStd.
 */
export const bnForwardKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmHeapBackend;
  const x = inputs.x!, gamma = inputs.gamma!, beta = inputs.beta!;
  const eps = (attrs as { eps: number }).eps;
  const c = x.shape[x.shape.length - 1], size = x.shape.reduce((a, d) => a * d, 1), m = size / c;
  const outs = [
    b.makeOutput([...x.shape], "float32"),
    b.makeOutput([c], "float32"),
    b.makeOutput([c], "float32"),
    b.makeOutput([c], "float32"),
  ];
  const [y, mean, variance, invStd] = outs.map((o) => b.typedArrayFromHeap(o));
  const xv = b.typedArrayFromHeap(x), g = b.typedArrayFromHeap(gamma);
  const be = b.typedArrayFromHeap(beta);
  const acc = new Float64Array(c), mu = new Float64Array(c), scale = new Float64Array(c);
  for (let o = 0; o < size; o += c) for (let k = 0; k < c; k++) acc[k] += xv[o + k];
  for (let k = 0; k < c; k++) {
    mu[k] = acc[k] / m;
    acc[k] = 0;
  }
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) {
      const d = xv[o + k] - mu[k];
      acc[k] += d * d;
    }
  }
  for (let k = 0; k < c; k++) {
    const v = acc[k] / m, is = 1 / Math.sqrt(v + eps);
    mean[k] = mu[k];
    variance[k] = v;
    invStd[k] = is;
    scale[k] = g[k] * is;
  }
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) y[o + k] = (xv[o + k] - mu[k]) * scale[k] + be[k];
  }
  return outs;
};

/**
 * Backward of {@link bnForwardKernel} (the closed form of {@link batchNormTrain}), two passes with
 * xhat recomputed on the fly instead of stored: sums of dy and dy * xhat, then
 * dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)). Outputs dx, dgamma, dbeta.
 */
export const bnBackwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as WasmHeapBackend;
  const dy = inputs.dy!, x = inputs.x!;
  const c = x.shape[x.shape.length - 1], size = x.shape.reduce((a, d) => a * d, 1), m = size / c;
  const outs = [
    b.makeOutput([...x.shape], "float32"),
    b.makeOutput([c], "float32"),
    b.makeOutput([c], "float32"),
  ];
  const [dx, dgamma, dbeta] = outs.map((o) => b.typedArrayFromHeap(o));
  const d = b.typedArrayFromHeap(dy), xv = b.typedArrayFromHeap(x);
  const mu = b.typedArrayFromHeap(inputs.mean!), is = b.typedArrayFromHeap(inputs.invStd!);
  const g = b.typedArrayFromHeap(inputs.gamma!);
  const sd = new Float64Array(c), sdx = new Float64Array(c);
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) {
      const dv = d[o + k];
      sd[k] += dv;
      sdx[k] += dv * (xv[o + k] - mu[k]) * is[k];
    }
  }
  const kk = new Float64Array(c), mb = new Float64Array(c), mg = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    dbeta[k] = sd[k];
    dgamma[k] = sdx[k];
    kk[k] = g[k] * is[k];
    mb[k] = sd[k] / m;
    mg[k] = sdx[k] / m;
  }
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) {
      const xh = (xv[o + k] - mu[k]) * is[k];
      dx[o + k] = kk[k] * (d[o + k] - mb[k] - xh * mg[k]);
    }
  }
  return outs;
};

/** Output of {@link batchNormTrain}. */
export interface BatchNormResult<R extends tf.Rank> {
  /** Normalised, scaled and shifted output, same shape as x; differentiable in x, gamma, beta. */
  y: tf.Tensor<R>;
  /** Batch mean per channel [C] (biased statistics; no gradient flows through it). */
  mean: tf.Tensor1D;
  /**
   * Batch variance per channel [C], biased (divides by the count m); no gradient flows through it.
   * PyTorch's running_var uses the unbiased one: multiply by m / (m - 1).
   */
  variance: tf.Tensor1D;
}

/**
 * Batch normalisation in training mode over every axis but the last (channels-last), with a
 * closed-form backward via `tf.customGrad`:
 *
 *   y = gamma * xhat + beta,  xhat = (x - mean) / sqrt(var + eps)
 *   dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))
 *   dgamma = sum(dy * xhat),  dbeta = sum(dy)
 *
 * (means and sums over all axes but the last). The batch mean and (biased) variance are returned
 * for running statistics; they are computed inside the custom op, so they are not differentiated
 * (a stop-gradient), which is what running-statistics updates need. Works on every backend.
 * Faster on wasm than differentiating `tf.moments` + `tf.batchNorm` op by op (whose gradient
 * uses the slow Tile).
 *
 * @param x input [..., C], rank >= 2
 * @param gamma scale [C]
 * @param beta shift [C]
 * @param eps variance epsilon (default 1e-5)
 */
export function batchNormTrain<R extends tf.Rank>(
  x: tf.Tensor<R>,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps = 1e-5,
): BatchNormResult<R> {
  if (x.rank < 2) throw new Error(`batchNormTrain: x must have rank >= 2, got ${x.rank}`);
  const c = x.shape[x.rank - 1];
  if (
    gamma.shape.length !== 1 || gamma.shape[0] !== c || beta.shape.length !== 1 ||
    beta.shape[0] !== c
  ) {
    throw new Error(
      `batchNormTrain: gamma ${JSON.stringify(gamma.shape)} and beta ${
        JSON.stringify(beta.shape)
      } must be [${c}] for x ${JSON.stringify(x.shape)}`,
    );
  }
  if (
    x.dtype === "float32" && tf.getBackend() === "wasm" && tf.getKernel(BN_FORWARD, "wasm") != null
  ) {
    return batchNormTrainWasm(x, gamma, beta, eps);
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const count = x.size / c;
  let mean: tf.Tensor1D | undefined, variance: tf.Tensor1D | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const m = tf.moments(xs, axes);
    const invStd = tf.rsqrt(tf.add(m.variance, eps));
    const xhat = tf.mul(tf.sub(xs, m.mean), invStd);
    const y = tf.add(tf.mul(xhat, g), b);
    save([xhat, invStd, g]);
    // Escape the custom op's tidy; re-scoped in the caller's scope below.
    mean = tf.keep(m.mean as tf.Tensor1D);
    variance = tf.keep(m.variance as tf.Tensor1D);
    return {
      value: y,
      gradFunc: (d: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, is, gm] = saved;
        const dbeta = tf.sum(d, axes);
        const dgamma = tf.sum(tf.mul(d, xh), axes);
        const k = tf.mul(gm, is); // gamma / sqrt(var + eps), [C]
        const dx = tf.mul(
          tf.sub(tf.sub(d, tf.div(dbeta, count)), tf.mul(xh, tf.div(dgamma, count))),
          k,
        );
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor<R>;
  // Move the kept statistics into the caller's scope: a clone shares the data (one more
  // reference), and disposing the kept tensor drops ours, so an enclosing tidy frees them.
  const meanOut = mean!.clone(), varOut = variance!.clone();
  mean!.dispose();
  variance!.dispose();
  return { y, mean: meanOut, variance: varOut };
}

/**
 * {@link batchNormTrain} on wasm with our two heap kernels: the same closed form, five passes over
 * x in all (three forward, two backward) instead of about fifteen tf ops, and no stored xhat.
 */
function batchNormTrainWasm<R extends tf.Rank>(
  x: tf.Tensor<R>,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): BatchNormResult<R> {
  let mean: tf.Tensor1D | undefined, variance: tf.Tensor1D | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mu, v, is] = tf.engine().runKernel(BN_FORWARD, { x: xs, gamma: g, beta: b }, {
      eps,
    } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([xs, mu, is, g]);
    mean = tf.keep(mu as tf.Tensor1D);
    variance = tf.keep(v as tf.Tensor1D);
    return {
      value: y,
      gradFunc: (d: tf.Tensor, saved: tf.Tensor[]) => {
        const [xx, mm, ii, gg] = saved;
        return tf.engine().runKernel(
          BN_BACKWARD,
          { dy: d, x: xx, mean: mm, invStd: ii, gamma: gg },
          {},
        ) as tf.Tensor[];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor<R>;
  const meanOut = mean!.clone(), varOut = variance!.clone();
  mean!.dispose();
  variance!.dispose();
  return { y, mean: meanOut, variance: varOut };
}
