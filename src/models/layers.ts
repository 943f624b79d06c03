/**
 * Building blocks of the functional models: parameter declaration (one source of truth for
 * shapes, initialisation and names), seeded initialisers, and the layers the encoders and fusions
 * share (dense, conv, batch norm with running statistics, layer norm, an LSTM cell).
 *
 * A model declares every variable once through a {@link ParamSink}; {@link VariableSink} turns the
 * declarations into `tf.Variable`s (trainable parameters, non-trainable state), {@link ShapeSink}
 * only records the shapes (parameter counts and AMSS mask plans of a full-width ResNet18 without
 * allocating 11 M floats).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { activeFisherTape, type ConvPad } from "../amss/fisher.ts";
import { batchNormTrain as closedFormBatchNorm } from "../backend/kernels/batch_norm.ts";
import { Rng } from "../rng.ts";
import type { Params } from "../types.ts";
import { AmssArgumentError } from "../validate.ts";

/** Non-trainable model state by name (batch-norm running mean and variance). */
export type State = Record<string, tf.Variable>;

/** Options of a forward pass. */
export interface ForwardOptions {
  /** Training mode: batch norm normalises with the batch statistics. */
  training: boolean;
  /**
   * Whether a training-mode pass updates the batch-norm running statistics. Default: `training`.
   * Set false when a trainer runs a second forward pass in the same step.
   */
  updateStats?: boolean;
}

/** How a declared variable is initialised. */
export type Init =
  /** He / Kaiming normal, std `sqrt(2 / fan)` (torchvision's ResNet uses `fan_out` for convs). */
  | { kind: "he"; mode: "fan_in" | "fan_out" }
  /** Glorot / Xavier normal, std `sqrt(2 / (fan_in + fan_out))`. */
  | { kind: "glorot" }
  /** Normal (or truncated normal, cut at 2 std) with the given std. */
  | { kind: "normal"; std: number; truncated?: boolean }
  /** A constant (0 for biases and batch-norm beta/mean, 1 for gamma/variance). */
  | { kind: "constant"; value: number }
  /**
   * A constant per equal block of the last axis: `values[j]` fills block j of `n / values.length`
   * entries (an LSTM bias `[4d]` with the forget-gate block at 1: `[0, 1, 0, 0]`).
   */
  | { kind: "blocks"; values: readonly number[] };

/** Receives variable declarations. */
export interface ParamSink {
  /** A trainable parameter. */
  param(name: string, shape: readonly number[], init: Init): void;
  /** A non-trainable state variable (saved with checkpoints, never differentiated). */
  state(name: string, shape: readonly number[], init: Init): void;
}

/** Fan-in and fan-out of a kernel: `[in, out]` dense or `[kh, kw, in, out]` conv (tfjs layout). */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return {
    fanIn: receptive * shape[shape.length - 2],
    fanOut: receptive * shape[shape.length - 1],
  };
}

function fnv1a(s: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The tfjs random seed of variable `name` under model seed `seed`: a hash of the name keyed by the
 * seed's {@link Rng} stream, mixed through a second Rng, in [1, 2^31 - 1]. Never 0, because
 * `tf.randomNormal(..., seed = 0)` is not seeded (0 is falsy in tfjs). A variable's initial value
 * depends only on the seed and its own name, so adding a modality leaves the other modalities'
 * initial weights unchanged (a uni-modal run and a joint run start from the same encoder).
 */
export function variableSeed(seed: number, name: string): number {
  const basis = new Rng(seed).uint32();
  return 1 + (new Rng(fnv1a(name, basis)).uint32() % 0x7ffffffe);
}

/** The initial value of one variable (caller owns the tensor). */
export function initialValue(
  shape: readonly number[],
  init: Init,
  seed: number,
): tf.Tensor {
  const s = [...shape];
  switch (init.kind) {
    case "constant":
      return tf.fill(s, init.value);
    case "blocks": {
      const last = s[s.length - 1] ?? 1;
      const n = init.values.length;
      if (n === 0 || last % n !== 0) {
        throw new AmssArgumentError(
          `blocks init: last axis ${last} is not a multiple of ${n} block values`,
        );
      }
      return tf.tidy(() =>
        tf.mul(
          tf.ones(s),
          tf.tensor1d(init.values.flatMap((v) => Array<number>(last / n).fill(v))),
        )
      );
    }
    case "he": {
      const { fanIn, fanOut } = fans(shape);
      return tf.randomNormal(
        s,
        0,
        Math.sqrt(2 / (init.mode === "fan_in" ? fanIn : fanOut)),
        "float32",
        seed,
      );
    }
    case "glorot": {
      const { fanIn, fanOut } = fans(shape);
      return tf.randomNormal(s, 0, Math.sqrt(2 / (fanIn + fanOut)), "float32", seed);
    }
    case "normal":
      return init.truncated
        ? tf.truncatedNormal(s, 0, init.std, "float32", seed)
        : tf.randomNormal(s, 0, init.std, "float32", seed);
  }
}

/** A {@link ParamSink} that creates seeded `tf.Variable`s. */
export class VariableSink implements ParamSink {
  /** Trainable parameters created so far. */
  readonly params: Params = {};
  /** Non-trainable state created so far. */
  readonly stateVars: State = {};
  #seed: number;

  /**
   * A sink for one model initialisation.
   * @param seed model seed; each variable's tfjs seed is {@link variableSeed}(seed, name). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new AmssArgumentError(`seed must be a finite number, got ${seed}`);
    }
    this.#seed = seed;
  }

  #make(name: string, shape: readonly number[], init: Init, trainable: boolean): tf.Variable {
    if (name in this.params || name in this.stateVars) {
      throw new AmssArgumentError(`variable ${JSON.stringify(name)} is declared twice`);
    }
    return tf.tidy(() =>
      tf.variable(initialValue(shape, init, variableSeed(this.#seed, name)), trainable)
    );
  }

  /** Creates a trainable `tf.Variable`. */
  param(name: string, shape: readonly number[], init: Init): void {
    this.params[name] = this.#make(name, shape, init, true);
  }

  /** Creates a non-trainable `tf.Variable`. */
  state(name: string, shape: readonly number[], init: Init): void {
    this.stateVars[name] = this.#make(name, shape, init, false);
  }
}

/** A {@link ParamSink} that records shapes only (no tensors). */
export class ShapeSink implements ParamSink {
  /** Shapes of the trainable parameters. */
  readonly params: Record<string, { shape: number[] }> = {};
  /** Shapes of the state variables. */
  readonly stateVars: Record<string, { shape: number[] }> = {};

  /** Records a parameter's shape. */
  param(name: string, shape: readonly number[]): void {
    this.params[name] = { shape: [...shape] };
  }

  /** Records a state variable's shape. */
  state(name: string, shape: readonly number[]): void {
    this.stateVars[name] = { shape: [...shape] };
  }
}

/** Looks a variable up by name; a missing name is an error that names it. */
export function lookup(
  vars: Record<string, tf.Tensor>,
  name: string,
  what = "parameter",
): tf.Tensor {
  const v = vars[name];
  if (!v) throw new AmssArgumentError(`missing ${what} ${JSON.stringify(name)}`);
  return v;
}

/**
 * `x @ W + b` for `x` of shape `[N, in]` (b optional). Reports to an active Fisher tape
 * (src/amss/fisher.ts: per-sample gradients of W and b from x and the output gradient).
 */
export function dense(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  const y = tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
  const out = (bias ? tf.add(y, bias) : y) as tf.Tensor2D;
  const tape = activeFisherTape();
  return tape ? tape.dense(x, kernel, bias, out) as tf.Tensor2D : out;
}

/**
 * `tf.conv2d(x, kernel, stride, pad)` (+ bias) for `x` `[N, H, W, Cin]`, kernel
 * `[kh, kw, Cin, Cout]`; a numeric pad pads every side (PyTorch's symmetric `padding`). Reports to
 * an active Fisher tape (src/amss/fisher.ts: per-sample kernel gradients by one depthwise conv).
 */
export function conv2d(
  x: tf.Tensor,
  kernel: tf.Tensor,
  stride: number,
  pad: ConvPad,
  bias?: tf.Tensor,
): tf.Tensor4D {
  const y = tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, stride, pad);
  const out = (bias ? tf.add(y, bias) : y) as tf.Tensor4D;
  const tape = activeFisherTape();
  return tape ? tape.conv2d(x, kernel, bias, stride, pad, out) as tf.Tensor4D : out;
}

/** Result of a training-mode batch norm: output and the batch statistics it used. */
export interface BatchNormTrainResult {
  /** Normalised, scaled and shifted output (shape of x). */
  y: tf.Tensor;
  /** Per-channel batch mean, shape `[C]`. */
  mean: tf.Tensor;
  /** Per-channel biased (population) batch variance, shape `[C]`. */
  variance: tf.Tensor;
}

/** Signature of a training-mode batch norm over every axis but the last (channels-last). */
export type BatchNormTrainFn = (
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
) => BatchNormTrainResult;

/**
 * Training-mode batch norm over all axes but the last (channels-last), returning the output and
 * the batch mean and biased variance; gradients use the closed-form backward of src/backend.
 */
export function batchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
): BatchNormTrainResult {
  // the closed-form backward of src/backend (faster on wasm than differentiating moments +
  // batchNorm op by op); same outputs, biased batch variance
  return closedFormBatchNorm(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, eps);
}

/** Hyper-parameters of a batch-norm layer (PyTorch's defaults). */
export interface BatchNormConfig {
  /** Added to the variance. Default 1e-5. */
  eps: number;
  /** Running-statistics momentum, PyTorch convention: `r <- (1 - m) r + m batch`. Default 0.1. */
  momentum: number;
}

/** Declares a batch-norm layer `prefix/{gamma,beta}` and state `prefix/{running_mean,running_var}`. */
export function declareBatchNorm(sink: ParamSink, prefix: string, channels: number): void {
  sink.param(`${prefix}/gamma`, [channels], { kind: "constant", value: 1 });
  sink.param(`${prefix}/beta`, [channels], { kind: "constant", value: 0 });
  sink.state(`${prefix}/running_mean`, [channels], { kind: "constant", value: 0 });
  sink.state(`${prefix}/running_var`, [channels], { kind: "constant", value: 1 });
}

/**
 * Batch norm as PyTorch's `BatchNorm{1,2}d`: in training mode it normalises with the batch
 * statistics and (when `updateStats`) moves the running mean and the running UNBIASED variance
 * (`var * n / (n - 1)`) toward them; in eval mode it normalises with the running statistics.
 */
export function batchNorm(
  x: tf.Tensor,
  params: Params,
  state: State,
  prefix: string,
  opts: ForwardOptions,
  cfg: BatchNormConfig,
  train: BatchNormTrainFn = batchNormTrain,
): tf.Tensor {
  const gamma = lookup(params, `${prefix}/gamma`);
  const beta = lookup(params, `${prefix}/beta`);
  const runMean = lookup(state, `${prefix}/running_mean`, "state variable") as tf.Variable;
  const runVar = lookup(state, `${prefix}/running_var`, "state variable") as tf.Variable;
  if (!opts.training) {
    return tf.batchNorm(x, runMean, runVar, beta, gamma, cfg.eps);
  }
  const n = x.size / x.shape[x.rank - 1];
  if (n < 2) {
    throw new AmssArgumentError(
      `${prefix}: training-mode batch norm needs more than 1 value per channel, got ${n}`,
    );
  }
  const { y: out, mean, variance } = train(x, gamma, beta, cfg.eps);
  // an active Fisher tape (src/amss/fisher.ts) sees gamma's and beta's per-sample gradients
  const tape = activeFisherTape();
  const y = tape ? tape.batchNorm(x, mean, variance, cfg.eps, gamma, beta, out) : out;
  if (opts.updateStats ?? true) {
    const m = cfg.momentum;
    tf.tidy(() => {
      runMean.assign(tf.add(tf.mul(runMean, 1 - m), tf.mul(mean, m)));
      runVar.assign(tf.add(tf.mul(runVar, 1 - m), tf.mul(variance, (m * n) / (n - 1))));
    });
  }
  return y;
}

/** Layer norm over the last axis with `prefix/gamma`, `prefix/beta`. */
export function layerNorm(x: tf.Tensor, params: Params, prefix: string, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(
    tf.mul(normed, lookup(params, `${prefix}/gamma`)),
    lookup(params, `${prefix}/beta`),
  );
}

/** Declares a layer norm `prefix/{gamma,beta}` over `dim` features. */
export function declareLayerNorm(sink: ParamSink, prefix: string, dim: number): void {
  sink.param(`${prefix}/gamma`, [dim], { kind: "constant", value: 1 });
  sink.param(`${prefix}/beta`, [dim], { kind: "constant", value: 0 });
}

/** Declares an LSTM layer `prefix/{kernel [din, 4d], recurrent [d, 4d], bias [4d]}`. */
export function declareLstm(sink: ParamSink, prefix: string, din: number, d: number): void {
  sink.param(`${prefix}/kernel`, [din, 4 * d], { kind: "glorot" });
  sink.param(`${prefix}/recurrent`, [d, 4 * d], { kind: "glorot" });
  // forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015, Keras' unit_forget_bias), the
  // other gates 0, in the gate order i, f, g, o
  sink.param(`${prefix}/bias`, [4 * d], { kind: "blocks", values: [0, 1, 0, 0] });
}

/** The state of an LSTM layer after a step: hidden `h` and cell `c`, each `[B, d]`. */
export interface LstmState {
  /** Hidden state h_t `[B, d]`. */
  h: tf.Tensor2D;
  /** Cell state c_t `[B, d]`. */
  c: tf.Tensor2D;
}

/**
 * One LSTM step (Hochreiter & Schmidhuber 1997 with a forget gate, Gers et al. 2000; the gate
 * layout of PyTorch's `nn.LSTM`): `[i, f, g, o] = x W + h U + b` split into 4 blocks of d,
 * `c' = sigmoid(f) * c + sigmoid(i) * tanh(g)`, `h' = sigmoid(o) * tanh(c')`. Built from plain tf
 * ops (matMul, split, sigmoid, tanh, mul, add), all differentiable on the cpu and wasm backends.
 *
 * @param x input `[B, din]`
 * @param prev previous state (`h`, `c` `[B, d]`)
 * @param kernel W `[din, 4d]`
 * @param recurrent U `[d, 4d]`
 * @param bias b `[4d]`
 */
export function lstmCell(
  x: tf.Tensor2D,
  prev: LstmState,
  kernel: tf.Tensor,
  recurrent: tf.Tensor,
  bias: tf.Tensor,
): LstmState {
  const z = tf.add(
    tf.add(tf.matMul(x, kernel as tf.Tensor2D), tf.matMul(prev.h, recurrent as tf.Tensor2D)),
    bias,
  );
  const [i, f, g, o] = tf.split(z, 4, 1);
  const c = tf.add(tf.mul(tf.sigmoid(f), prev.c), tf.mul(tf.sigmoid(i), tf.tanh(g))) as tf.Tensor2D;
  const h = tf.mul(tf.sigmoid(o), tf.tanh(c)) as tf.Tensor2D;
  return { h, c };
}
