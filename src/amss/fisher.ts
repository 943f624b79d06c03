/**
 * The paper's importance measure (Sec. 3.2.2): the diagonal of the empirical Fisher information of
 * the uni-modal log-likelihood, per parameter
 *
 *   F_j = (1/B) sum_i (d log p(y_i | x_i^(k); w^(k)) / d w_j)^2,
 *
 * the mean over the batch of PER-SAMPLE squared gradients (the authors' code squares the mini-batch
 * gradient instead, `gn` in ./units.ts). Computed here without B backward passes, from what one
 * backward pass gives at each layer: the layer's input x and the gradient dy of the summed
 * per-sample losses with respect to its output. For sample i:
 *
 * - dense `y = x W + b`, x `[N, D]`: g_i(W) = X_i^T dY_i, g_i(b) = sum of the rows of dY_i, where
 *   X_i, dY_i are the r = N / B consecutive rows of sample i (r = 1 for a plain batch: then
 *   F(W) = (X∘X)^T (dY∘dY) / B, one matrix product, i.e. x_ij^2 dy_ik^2 summed over i; r > 1 for
 *   token rows `[B*L, D]`);
 * - conv2d, kernel `[kh, kw, Cin, Cout]`: g_i(W) is the correlation of sample i's input with its
 *   output gradient (the stride becoming a dilation), summed over its r images (frames); with the
 *   images as channels, all B of them are ONE depthwise convolution (channel multiplier Cout), run
 *   in chunks of samples to bound memory;
 * - batch norm (training mode): g_i(gamma) = sum over sample i's positions of dy * xhat,
 *   g_i(beta) = sum of dy.
 *
 * Then F = mean_i g_i^2, per element. A variable used by several layer calls gets the per-sample
 * sum of its calls' gradients before squaring.
 *
 * Scope of "per-sample": g_i is sample i's term of the batch gradient (sum_i g_i = the gradient of
 * the summed loss). It equals the gradient of sample i's own loss exactly when no layer mixes
 * samples; training-mode batch norm does (a sample's output depends on the batch statistics), so in
 * a network with batch norm g_i is that decomposition, not d l_i / d w (PyTorch's per-sample
 * gradient libraries refuse batch norm for the same reason). {@link referenceFisher} computes the
 * exact per-sample gradients by B backward passes (slow; for tests).
 *
 * Collection: the layers of src/models/layers.ts (`dense`, `conv2d`, `batchNorm`) report to the
 * {@link FisherTape} made active by {@link withFisherTape} while a forward pass runs; a variable no
 * such layer reads (layer norm, embeddings, LSTM cells, positional tables) gets no Fisher, and
 * {@link FisherTape.fisher} names it in an error.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorMap } from "../transform.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";

/** Floats a chunk of per-sample gradients (and conv patches) may hold at once (32 MiB). */
export const FISHER_CHUNK_FLOATS = 1 << 23;

/** One dense layer call `y = x W (+ b)` seen by the tape. */
interface DenseRecord {
  kind: "dense";
  x: tf.Tensor2D;
  kernel: string | null;
  bias: string | null;
  dy: tf.Tensor | null;
}

/** One conv2d call seen by the tape (dilation 1; pad as explicit [top, bottom, left, right]). */
interface Conv2dRecord {
  kind: "conv2d";
  x: tf.Tensor4D;
  kernel: string | null;
  bias: string | null;
  kernelShape: [number, number, number, number];
  stride: [number, number];
  pad: [number, number, number, number];
  dy: tf.Tensor | null;
}

/** One training-mode batch norm seen by the tape (channels last). */
interface BatchNormRecord {
  kind: "batchnorm";
  x: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  eps: number;
  gamma: string | null;
  beta: string | null;
  dy: tf.Tensor | null;
}

type TapRecord = DenseRecord | Conv2dRecord | BatchNormRecord;
type Role = "kernel" | "bias" | "gamma" | "beta";

/** A padding as tfjs conv2d takes it: a number (all sides), "valid" or "same". */
export type ConvPad = number | "valid" | "same";

/** Explicit `[top, bottom, left, right]` padding of a conv, as tfjs computes it. */
export function explicitPad(
  inShape: readonly number[],
  kernelShape: readonly number[],
  stride: [number, number],
  pad: ConvPad,
): [number, number, number, number] {
  if (typeof pad === "number") return [pad, pad, pad, pad];
  if (pad === "valid") return [0, 0, 0, 0];
  const [, H, W] = inShape;
  const total = (n: number, k: number, s: number) =>
    Math.max(0, (Math.ceil(n / s) - 1) * s + k - n);
  const th = total(H, kernelShape[0], stride[0]), tw = total(W, kernelShape[1], stride[1]);
  return [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
}

let active: FisherTape | null = null;

/** The tape the layers report to, or null (the ordinary case: one null check per layer call). */
export function activeFisherTape(): FisherTape | null {
  return active;
}

/** Runs `fn` (synchronous: a forward pass, or a gradient call around one) with `tape` active. */
export function withFisherTape<T>(tape: FisherTape, fn: () => T): T {
  const prev = active;
  active = tape;
  try {
    return fn();
  } finally {
    active = prev;
  }
}

/**
 * Collects, for the variables it is given, every dense / conv2d / batch-norm call that reads them
 * (the input, kept, and the output gradient, captured in the backward pass by an identity with a
 * custom gradient), then computes their diagonal empirical Fisher ({@link FisherTape.fisher}).
 * Dispose it when done.
 */
export class FisherTape {
  /** Samples B of the batch; a layer input's rows (images) are B groups of r consecutive ones. */
  readonly samples: number;
  readonly #names = new Map<tf.Tensor, string>();
  readonly #shapes = new Map<string, number[]>();
  readonly #chunkFloats: number;
  #records: TapRecord[] = [];

  /**
   * @param variables the variables whose Fisher is wanted, by name.
   * @param samples B, the number of samples in the batch.
   * @param opts `chunkFloats`: floats of per-sample gradients held at once (default
   *   {@link FISHER_CHUNK_FLOATS}).
   */
  constructor(
    variables: Record<string, tf.Tensor>,
    samples: number,
    opts: { chunkFloats?: number } = {},
  ) {
    requireInt("samples", samples, 1);
    this.samples = samples;
    this.#chunkFloats = requireInt("chunkFloats", opts.chunkFloats ?? FISHER_CHUNK_FLOATS, 1);
    for (const [name, v] of Object.entries(variables)) {
      this.#names.set(v, name);
      this.#shapes.set(name, [...v.shape]);
    }
  }

  #nameOf(t: tf.Tensor | undefined): string | null {
    return t ? this.#names.get(t) ?? null : null;
  }

  #rows(what: string, n: number): number {
    if (n % this.samples !== 0) {
      throw new AmssArgumentError(
        `importance "fisher": ${what} has ${n} rows, not a multiple of the batch's ${this.samples} samples`,
      );
    }
    return n / this.samples;
  }

  /** Identity on `y` whose backward pass stores the output gradient in `rec`. */
  #capture(rec: TapRecord, y: tf.Tensor): tf.Tensor {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const v = args[0] as tf.Tensor;
      (args[1] as tf.GradSaveFunc)([]);
      return {
        value: tf.clone(v),
        gradFunc: (dy: tf.Tensor) => {
          const prev = rec.dy;
          rec.dy = tf.keep(prev ? tf.add(prev, dy) : tf.clone(dy));
          prev?.dispose();
          return dy;
        },
      };
    }) as (x: tf.Tensor) => tf.Tensor;
    return f(y);
  }

  /** Dense `y = x W (+ b)`: returns `y`, tapped when W or b is recorded. */
  dense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, y: tf.Tensor): tf.Tensor {
    const k = this.#nameOf(kernel), b = this.#nameOf(bias);
    if (k === null && b === null) return y;
    if (x.rank !== 2) {
      throw new AmssArgumentError(`importance "fisher": dense input must be rank 2, got ${x.rank}`);
    }
    this.#rows(`the input of dense layer ${k ?? b}`, x.shape[0]);
    const rec: DenseRecord = {
      kind: "dense",
      x: tf.keep(tf.clone(x)) as tf.Tensor2D,
      kernel: k,
      bias: b,
      dy: null,
    };
    this.#records.push(rec);
    return this.#capture(rec, y);
  }

  /** conv2d (dilation 1) of `x` `[N, H, W, Cin]` with `kernel` (+ `bias`): returns `y`, tapped. */
  conv2d(
    x: tf.Tensor,
    kernel: tf.Tensor,
    bias: tf.Tensor | undefined,
    stride: number | [number, number],
    pad: ConvPad,
    y: tf.Tensor,
  ): tf.Tensor {
    const k = this.#nameOf(kernel), b = this.#nameOf(bias);
    if (k === null && b === null) return y;
    this.#rows(`the input of conv layer ${k ?? b}`, x.shape[0]);
    const st: [number, number] = typeof stride === "number" ? [stride, stride] : stride;
    const rec: Conv2dRecord = {
      kind: "conv2d",
      x: tf.keep(tf.clone(x)) as tf.Tensor4D,
      kernel: k,
      bias: b,
      kernelShape: kernel.shape as [number, number, number, number],
      stride: st,
      pad: explicitPad(x.shape, kernel.shape, st, pad),
      dy: null,
    };
    this.#records.push(rec);
    return this.#capture(rec, y);
  }

  /** Training-mode batch norm (channels last) with its batch statistics: returns `y`, tapped. */
  batchNorm(
    x: tf.Tensor,
    mean: tf.Tensor,
    variance: tf.Tensor,
    eps: number,
    gamma: tf.Tensor,
    beta: tf.Tensor,
    y: tf.Tensor,
  ): tf.Tensor {
    const g = this.#nameOf(gamma), b = this.#nameOf(beta);
    if (g === null && b === null) return y;
    this.#rows(`the input of batch norm ${g ?? b}`, x.shape[0]);
    const rec: BatchNormRecord = {
      kind: "batchnorm",
      x: tf.keep(tf.clone(x)),
      mean: tf.keep(tf.clone(mean)),
      variance: tf.keep(tf.clone(variance)),
      eps,
      gamma: g,
      beta: b,
      dy: null,
    };
    this.#records.push(rec);
    return this.#capture(rec, y);
  }

  /**
   * Per-sample gradients of samples `[lo, hi)` of one use, shape `[hi - lo, ...variable shape]`.
   * Call in tidy.
   */
  #perSample(rec: TapRecord, role: Role, lo: number, hi: number): tf.Tensor {
    const B = this.samples, n = hi - lo;
    const dy = rec.dy!;
    const rowsOf = (t: tf.Tensor) => {
      const c = t.shape[t.rank - 1];
      const r = t.size / (B * c);
      return tf.slice(t.reshape([B, r, c]), [lo, 0, 0], [n, r, c]) as tf.Tensor3D;
    };
    switch (rec.kind) {
      case "dense":
        // g_i(W) = X_i^T dY_i, g_i(b) = 1^T dY_i
        return role === "kernel"
          ? tf.matMul(rowsOf(rec.x), rowsOf(dy), true, false)
          : tf.sum(rowsOf(dy), 1);
      case "conv2d":
        if (role === "bias") return tf.sum(rowsOf(dy), 1);
        // [cin, kh, kw, n, cout] -> [n, kh, kw, cin, cout]
        return tf.transpose(this.#convPerSample(rec, lo, hi), [3, 1, 2, 0, 4]);
      case "batchnorm": {
        if (role === "beta") return tf.sum(rowsOf(dy), 1);
        const xhat = tf.mul(tf.sub(rec.x, rec.mean), tf.rsqrt(tf.add(rec.variance, rec.eps)));
        return tf.sum(rowsOf(tf.mul(dy, xhat)), 1);
      }
    }
  }

  /**
   * Per-sample kernel gradients of a conv for samples `[lo, hi)`, laid out `[Cin, kh, kw, n, Cout]`.
   * The gradient of image m is the correlation of its input with its output gradient, the stride
   * becoming a dilation; with the images as channels, all of them are one depthwise convolution
   * (channel multiplier Cout): output channel m * Cout + o is image m's gradient for output o.
   * A sample's r images (frames) are summed. Call in tidy.
   */
  #convPerSample(rec: Conv2dRecord, lo: number, hi: number): tf.Tensor {
    const [kh, kw, cin, cout] = rec.kernelShape;
    const dy = rec.dy!;
    const r = rec.x.shape[0] / this.samples, n = hi - lo, m = n * r;
    const [pt, pb, pl, pr] = rec.pad;
    const xs = tf.slice(rec.x, [lo * r, 0, 0, 0], [m, -1, -1, -1]);
    const dys = tf.slice(dy, [lo * r, 0, 0, 0], [m, -1, -1, -1]);
    const images = tf.pad(tf.transpose(xs, [3, 1, 2, 0]), [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
    const filters = tf.transpose(dys, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, m, cout]
    const g = tf.depthwiseConv2d(
      images as tf.Tensor4D,
      filters,
      1,
      "valid",
      "NHWC",
      rec.stride,
    ); // [cin, >= kh, >= kw, m * cout] (padding rows the strided forward never read: dropped)
    const perImage = tf.slice(g, [0, 0, 0, 0], [cin, kh, kw, m * cout]);
    const per = perImage.reshape([cin, kh, kw, n, r, cout]);
    return r === 1 ? per.reshape([cin, kh, kw, n, cout]) : tf.sum(per, 4);
  }

  /** Sum over samples `[lo, hi)` of g_i^2 for a variable with one use, in its shape. Call in tidy. */
  #sqSum(rec: TapRecord, role: Role, lo: number, hi: number): tf.Tensor {
    if (rec.kind === "conv2d" && role === "kernel") {
      // sum over the samples before moving the (small) result to the kernel layout
      const s = tf.sum(tf.square(this.#convPerSample(rec, lo, hi)), 3); // [cin, kh, kw, cout]
      return tf.transpose(s, [1, 2, 0, 3]);
    }
    return tf.sum(tf.square(this.#perSample(rec, role, lo, hi)), 0);
  }

  /** Floats held per sample while computing a use's per-sample gradients. */
  #perSampleFloats(rec: TapRecord, size: number): number {
    if (rec.kind !== "conv2d" || !rec.dy) return size;
    const [kh, kw] = rec.kernelShape;
    const [sh, sw] = rec.stride;
    const r = rec.x.shape[0] / this.samples;
    const image = rec.x.size / rec.x.shape[0], out = rec.dy.size / rec.dy.shape[0];
    // the depthwise output covers up to (kh + sh - 1) x (kw + sw - 1) taps, then its slice and
    // square; the transposed input (padded) and output gradient
    const taps = ((kh + sh - 1) * (kw + sw - 1)) / (kh * kw);
    return r * (size * (2 * taps + 2) + 2 * image + 2 * out);
  }

  /**
   * The diagonal empirical Fisher `F = mean_i g_i^2` (Sec. 3.2.2) of every variable given to the
   * constructor, each of the variable's shape (the caller disposes them). A variable that the
   * recorded layers read but that no output gradient reached gets zeros (its gradient is 0).
   *
   * @throws {AmssArgumentError} naming every variable no dense, conv2d or batch-norm call read.
   */
  fisher(): TensorMap {
    const uses = new Map<string, { rec: TapRecord; role: Role }[]>();
    for (const rec of this.#records) {
      const roles: [Role, string | null][] = rec.kind === "batchnorm"
        ? [["gamma", rec.gamma], ["beta", rec.beta]]
        : [["kernel", rec.kernel], ["bias", rec.bias]];
      for (const [role, name] of roles) {
        if (name === null) continue;
        if (!uses.has(name)) uses.set(name, []);
        uses.get(name)!.push({ rec, role });
      }
    }
    const missing = [...this.#shapes.keys()].filter((n) => !uses.has(n));
    if (missing.length) {
      throw new AmssArgumentError(
        `importance "fisher": no per-sample gradients for ${
          missing.map((n) => JSON.stringify(n)).join(", ")
        }: ` +
          `they are computed for the parameters of dense, conv2d and training-mode batch-norm layers ` +
          `(src/models/layers.ts); these variables are read by another kind of layer (layer norm, ` +
          `embedding table, LSTM cell, positional table, ...). Use importance "gn", or unit rules ` +
          `that leave them unmasked`,
      );
    }
    const B = this.samples;
    const out: TensorMap = {};
    for (const [name, list] of uses) {
      const shape = this.#shapes.get(name)!;
      const size = shape.reduce((a, b) => a * b, 1);
      const live = list.filter((u) => u.rec.dy !== null);
      out[name] = tf.tidy(() => {
        if (live.length === 0) return tf.zeros(shape);
        if (live.length === 1) {
          const { rec, role } = live[0];
          // one matrix product: F(W) = (x∘x)^T (dy∘dy) / B when every sample is one row
          if (rec.kind === "dense" && rec.x.shape[0] === B) {
            return role === "kernel"
              ? tf.div(tf.matMul(tf.square(rec.x), tf.square(rec.dy!), true, false), B)
              : tf.div(tf.sum(tf.square(rec.dy!), 0), B);
          }
        }
        const per = live.reduce((a, u) => Math.max(a, this.#perSampleFloats(u.rec, size)), 0);
        const chunk = Math.max(1, Math.min(B, Math.floor(this.#chunkFloats / per)));
        let acc: tf.Tensor | null = null;
        for (let lo = 0; lo < B; lo += chunk) {
          const hi = Math.min(B, lo + chunk);
          const part = tf.tidy(() => {
            if (live.length === 1) return this.#sqSum(live[0].rec, live[0].role, lo, hi);
            const g = tf.addN(live.map((u) => this.#perSample(u.rec, u.role, lo, hi)));
            return tf.sum(tf.square(g), 0);
          });
          const next: tf.Tensor = acc ? tf.add(acc, part) : part;
          if (acc) {
            acc.dispose();
            part.dispose();
          }
          acc = next;
        }
        return tf.div(acc!, B).reshape(shape);
      });
    }
    return out;
  }

  /** Frees what the tape kept (inputs, statistics, output gradients). */
  dispose(): void {
    for (const rec of this.#records) {
      const ts: (tf.Tensor | null)[] = [rec.x, rec.dy];
      if (rec.kind === "batchnorm") ts.push(rec.mean, rec.variance);
      for (const t of ts) if (t && !t.isDisposed) t.dispose();
    }
    this.#records = [];
  }
}

/**
 * The diagonal empirical Fisher by B separate backward passes (slow; the reference for tests):
 * pass i differentiates sample i's loss `perSampleLoss()[i]` (recomputing the forward pass each
 * time) and `F = mean_i g_i^2`. These are exact per-sample gradients also when batch norm mixes
 * samples (then they differ from {@link FisherTape}'s decomposition, see the module comment).
 *
 * @param perSampleLoss a forward pass returning the `[B]` per-sample losses (it must not update
 *   running statistics: it runs B times).
 * @param variables the variables to differentiate, by name.
 */
export function referenceFisher(
  perSampleLoss: () => tf.Tensor1D,
  variables: Record<string, tf.Variable>,
  samples: number,
): TensorMap {
  requireInt("samples", samples, 1);
  const names = Object.keys(variables);
  const acc: TensorMap = Object.fromEntries(
    names.map((n) => [n, tf.zeros(variables[n].shape)]),
  );
  for (let i = 0; i < samples; i++) {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.slice(perSampleLoss(), [i], [1])) as tf.Scalar,
      names.map((n) => variables[n]),
    );
    value.dispose();
    for (const n of names) {
      const g = grads[variables[n].name];
      if (!g) continue;
      const next = tf.tidy(() => tf.add(acc[n], tf.square(g)));
      acc[n].dispose();
      acc[n] = next;
    }
    tf.dispose(Object.values(grads));
  }
  for (const n of names) {
    const f = tf.div(acc[n], samples);
    acc[n].dispose();
    acc[n] = f;
  }
  return acc;
}
