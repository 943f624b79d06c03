/**
 * Modal significance and update ratios (paper Sec. 3.2.1, Eqs. 2, 3, 4), in two variants:
 *
 * - {@link paperSignificance}: what the paper writes. Barber–Agakov bound with the plug-in label
 *   entropy (Eq. 2), rate `I / H(X_k)`, momentum (Eq. 3), ratios by Eq. 4. Float64.
 * - {@link referenceSignificance}: what the authors' audio–video code does where it differs from
 *   the paper, in float32 arithmetic: `H(Y)` as a cross-entropy of the label-frequency vector
 *   with itself, `+0.5` on the bound, a fallback to 0.5 when a shifted bound is not positive,
 *   Eq. 4 as the quotients
 *   `sum_{j != k} e_j / sum_j e_j` of unshifted float32 exponentials, NaN -> 0.5, clamp to
 *   [0.1, 0.9], no momentum; log-softmax in PyTorch's CPU operation order.
 *
 * Both work on plain typed arrays: a trainer downloads the `B x C` uni-modal predictions and the
 * `B x D` encoder features once per step. Every bad input throws {@link AmssArgumentError} naming
 * the argument; no NaN comes out of the paper variant.
 *
 * @module
 */

import {
  AmssArgumentError,
  requireFinite,
  requireInt,
  requireOneOf,
  requirePositive,
} from "../validate.ts";
import type { ModalBatch } from "../types.ts";
import { updateRatios } from "./ratio.ts";

export type { ModalBatch } from "../types.ts";

/**
 * Which path produced the ratios.
 * - `"normal"`: Eq. 4 (paper mode always; reference mode when nothing below happened).
 * - `"clamped"`: reference mode, at least one ratio was clamped to [0.1, 0.9] (see `ratioFlags`).
 * - `"nan"`: reference mode, at least one ratio was NaN (`Infinity / Infinity` after a float32
 *   overflow, or `0 / 0`) and became 0.5.
 * - `"fallback-nonpositive"`: reference mode, some `bound_k + 0.5 <= 0`, so every ratio is 0.5.
 */
export type SignificanceBranch = "normal" | "clamped" | "nan" | "fallback-nonpositive";

/** What happened to one modality's ratio in reference mode (always `"none"` in paper mode). */
export type RatioFlag = "none" | "nan" | "clamped-low" | "clamped-high";

/** All intermediate quantities of one significance step, for logging. Arrays have length K. */
export interface SignificanceResult {
  /** Which estimator produced this result. */
  mode: "paper" | "reference";
  /** Update ratios rho_k (paper: Eq. 4; reference: float32 values widened to double). */
  ratios: Float64Array;
  /** Barber–Agakov bound per modality, nats: `labelEntropy + meanLogQ[k]` (Eq. 2). */
  bound: Float64Array;
  /** `(1/B) sum_i log q(y_i | x_i^k)` per modality. */
  meanLogQ: Float64Array;
  /** H(Y) as used: plug-in entropy (paper) or the reference cross-entropy `H_ref`. */
  labelEntropy: number;
  /** H(X_k) as used: mean softmax entropy of the features, or 1 when `entropy: "none"`. */
  featureEntropy: Float64Array;
  /** u_hat_k: paper `bound / H(X_k)`; reference `(bound + 0.5) / H(X_k)`. */
  rate: Float64Array;
  /** u_k after momentum (Eq. 3); equal to `rate` in reference mode (no momentum). */
  smoothed: Float64Array;
  /** Which path produced `ratios`. */
  branch: SignificanceBranch;
  /** Per-modality NaN / clamp flags (reference mode); all `"none"` in paper mode. */
  ratioFlags: RatioFlag[];
}

/** Configuration of {@link paperSignificance}. */
export interface PaperSignificanceConfig {
  /** Temperature of Eq. 4, finite and > 0. */
  tau: number;
  /** Momentum lambda of Eq. 3, in [0, 1). Default {@link DEFAULT_LAMBDA}. */
  lambda?: number;
  /**
   * Momentum initialisation. `"first"` (default): u_1 = u_hat_1. `"zero"`: u_0 = 0, so
   * u_1 = (1 - lambda) u_hat_1, which shrinks the gaps between modalities (and so pushes every
   * ratio toward 1 - 1/K) for the first ~1/(1 - lambda) steps.
   */
  init?: "first" | "zero";
  /**
   * Denominator of the rate. `"features"` (default, the paper's `I / H(X_k)`): mean softmax
   * entropy of `batch.features`. `"none"`: denominator 1, for callers without features.
   */
  entropy?: "features" | "none";
  /**
   * Floor on H(X_k) (nats). Default 0: a feature softmax that collapses to one-hot (H = 0, rate
   * undefined) is an error. Training sets a small floor (the trainer uses 1e-3) so that features of
   * growing magnitude, which make the softmax peaked and the rate of Eq. 2 / H(X_k) explode, give
   * a very large but finite u instead of stopping the run; `featureEntropy` reports the floored value.
   */
  entropyFloor?: number;
}

/** Momentum state of {@link paperSignificance}: plain JSON, so it checkpoints as is. */
export interface PaperSignificanceState {
  /** Smoothed significances u_k after the last step; `null` before the first step. */
  u: number[] | null;
  /** Number of steps taken so far. */
  steps: number;
}

/** Configuration of {@link referenceSignificance}. */
export interface ReferenceSignificanceConfig {
  /** Temperature, finite and > 0 (the reference audio–video commands use 0.2). */
  tau: number;
}

/**
 * Default momentum lambda (Eq. 3). The paper does not state its value; 0.9 averages over about
 * 10 steps, like the usual SGD momentum.
 */
export const DEFAULT_LAMBDA = 0.9;

/**
 * Tolerance on `|sum_c q(c | x_i) - 1|` for `predictionKind: "probs"` rows: a model's float32
 * predicted probabilities, hence loose (compare the theory module's float64
 * `EXACT_DISTRIBUTION_SUM_TOLERANCE`).
 */
export const PREDICTED_PROBS_SUM_TOLERANCE = 1e-3;

/** Additive shift the reference code applies to the bound before dividing by H(X_k). */
export const REFERENCE_BOUND_SHIFT = 0.5;

/** Clamp range of the reference code's ratios (applied in float32: `fround(0.1)`, `fround(0.9)`). */
export const REFERENCE_CLAMP: readonly [number, number] = [0.1, 0.9];

/** The state before the first step of {@link paperSignificance}. */
export function initialPaperSignificanceState(): PaperSignificanceState {
  return { u: null, steps: 0 };
}

// ---------------------------------------------------------------------------------------------
// Validation

interface Shape {
  B: number;
  C: number;
  K: number;
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return v !== null && v !== undefined && typeof (v as ArrayLike<number>).length === "number";
}

/** Validates everything in `batch` except the numeric content of features. */
function validateBatch(batch: ModalBatch, needFeatures: boolean, why: string): Shape {
  if (batch === null || typeof batch !== "object") {
    throw new AmssArgumentError(`batch must be an object, got ${batch}`);
  }
  const C = requireInt("numClasses", batch.numClasses, 2);
  if (!isArrayLike(batch.labels)) {
    throw new AmssArgumentError(`labels must be an array of class ids, got ${batch.labels}`);
  }
  const B = batch.labels.length;
  if (B === 0) throw new AmssArgumentError("labels must not be empty (batch size B = 0)");
  for (let i = 0; i < B; i++) requireInt(`labels[${i}]`, batch.labels[i], 0, C - 1);
  requireOneOf("predictionKind", batch.predictionKind, ["logits", "probs"] as const);
  if (!Array.isArray(batch.predictions)) {
    throw new AmssArgumentError(
      `predictions must be an array with one entry per modality, got ${batch.predictions}`,
    );
  }
  const K = batch.predictions.length;
  if (K < 2) {
    throw new AmssArgumentError(
      `predictions must have at least 2 entries (one per modality), got ${K}`,
    );
  }
  for (let k = 0; k < K; k++) {
    const pk = batch.predictions[k];
    if (!isArrayLike(pk) || pk.length !== B * C) {
      throw new AmssArgumentError(
        `predictions[${k}] must have B * C = ${B} * ${C} = ${B * C} entries (row-major), got ${
          isArrayLike(pk) ? pk.length : pk
        }`,
      );
    }
  }
  if (batch.features === undefined) {
    if (needFeatures) {
      throw new AmssArgumentError(
        `features must be given (one {data, dim} per modality) ${why}`,
      );
    }
    return { B, C, K };
  }
  if (!Array.isArray(batch.features) || batch.features.length !== K) {
    throw new AmssArgumentError(
      `features must have one entry per modality (K = ${K} from predictions), got ${
        Array.isArray(batch.features) ? batch.features.length : batch.features
      }`,
    );
  }
  for (let k = 0; k < K; k++) {
    const fk = batch.features[k];
    if (fk === null || typeof fk !== "object") {
      throw new AmssArgumentError(`features[${k}] must be an object {data, dim}, got ${fk}`);
    }
    const D = requireInt(`features[${k}].dim`, fk.dim, 1);
    if (!isArrayLike(fk.data) || fk.data.length !== B * D) {
      throw new AmssArgumentError(
        `features[${k}].data must have B * dim = ${B} * ${D} = ${B * D} entries (row-major), got ${
          isArrayLike(fk.data) ? fk.data.length : fk.data
        }`,
      );
    }
  }
  return { B, C, K };
}

function requireFiniteEntries(name: string, xs: ArrayLike<number>, cols: number, what: string) {
  for (let j = 0; j < xs.length; j++) {
    if (!Number.isFinite(xs[j])) {
      throw new AmssArgumentError(
        `${name}[${j}] (sample ${Math.floor(j / cols)}, ${what} ${j % cols}) must be finite, got ${
          xs[j]
        }`,
      );
    }
  }
}

function requireLambda(lambda: number): number {
  requireFinite("lambda", lambda);
  if (!(lambda >= 0 && lambda < 1)) {
    throw new AmssArgumentError(`lambda must be in [0, 1), got ${lambda}`);
  }
  return lambda;
}

// ---------------------------------------------------------------------------------------------
// Float64 pieces (paper mode)

/**
 * Plug-in entropy of the batch's label frequencies, `H(Y) = -sum_c p_c log p_c` with
 * `p_c = (1/B) #{i : y_i = c}` (paper, formula under Eq. 2), nats.
 *
 * @throws {AmssArgumentError} naming `labels[i]` / `numClasses` on invalid input.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { labelEntropy } from "./significance.ts";
 * assert(Math.abs(labelEntropy([0, 1, 2, 3], 4) - Math.log(4)) < 1e-15);
 * ```
 */
export function labelEntropy(labels: ArrayLike<number>, numClasses: number): number {
  const C = requireInt("numClasses", numClasses, 2);
  if (!isArrayLike(labels) || labels.length === 0) {
    throw new AmssArgumentError("labels must not be empty (batch size B = 0)");
  }
  const counts = new Float64Array(C);
  for (let i = 0; i < labels.length; i++) counts[requireInt(`labels[${i}]`, labels[i], 0, C - 1)]++;
  const B = labels.length;
  let h = 0;
  for (let c = 0; c < C; c++) {
    if (counts[c] > 0) {
      const p = counts[c] / B;
      h -= p * Math.log(p);
    }
  }
  return h;
}

/**
 * Mean over samples of the entropy (nats) of a softmax taken across each sample's feature
 * coordinates: `(1/B) sum_i H(softmax(x_i))`. This is how the authors' code measures `H(X_k)`,
 * which the paper does not define. Stable for any finite features: per sample,
 * `H = log s + (1/s) sum_j e_j (m - x_j)` with `m = max_j x_j`, `e_j = exp(x_j - m)`,
 * `s = sum_j e_j` (two non-negative terms, no cancellation).
 *
 * @param data `B * dim` row-major features, all finite.
 * @param dim feature dimension D >= 1 (D = 1 gives 0).
 * @param name argument name used in error messages.
 * @throws {AmssArgumentError} on a non-finite entry or a length that is not a multiple of `dim`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { meanSoftmaxEntropy } from "./significance.ts";
 * // equal coordinates -> uniform softmax -> entropy log D
 * assert(Math.abs(meanSoftmaxEntropy([3, 3, 3, 3], 4) - Math.log(4)) < 1e-15);
 * ```
 */
export function meanSoftmaxEntropy(
  data: ArrayLike<number>,
  dim: number,
  name = "features",
): number {
  const D = requireInt(`${name}.dim`, dim, 1);
  if (!isArrayLike(data) || data.length === 0 || data.length % D !== 0) {
    throw new AmssArgumentError(
      `${name}.data must be a non-empty multiple of dim = ${D} entries, got ${data?.length}`,
    );
  }
  requireFiniteEntries(`${name}.data`, data, D, "coordinate");
  const B = data.length / D;
  let total = 0;
  for (let i = 0; i < B; i++) {
    const o = i * D;
    let m = -Infinity;
    for (let j = 0; j < D; j++) if (data[o + j] > m) m = data[o + j];
    let s = 0;
    let w = 0;
    for (let j = 0; j < D; j++) {
      const e = Math.exp(data[o + j] - m);
      s += e;
      if (e > 0) w += e * (m - data[o + j]); // skip e = 0 so that 0 * Infinity never appears
    }
    total += Math.log(s) + w / s;
  }
  return total / B;
}

/** `(1/B) sum_i log q(y_i | x_i)` from one modality's predictions (float64). */
function meanLogLikelihood(
  pred: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  kind: "logits" | "probs",
  k: number,
): number {
  const B = labels.length;
  const name = `predictions[${k}]`;
  if (kind === "logits") requireFiniteEntries(name, pred, C, "class");
  let sum = 0;
  for (let i = 0; i < B; i++) {
    const o = i * C;
    const y = labels[i];
    let logq: number;
    if (kind === "logits") {
      // stable log-softmax: log q_y = (l_y - m) - log sum_c exp(l_c - m)
      let m = -Infinity;
      for (let c = 0; c < C; c++) if (pred[o + c] > m) m = pred[o + c];
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(pred[o + c] - m);
      logq = (pred[o + y] - m) - Math.log(s);
    } else {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const v = pred[o + c];
        if (!Number.isFinite(v) || v < 0) {
          throw new AmssArgumentError(
            `${name}[${
              o + c
            }] (sample ${i}, class ${c}) must be a probability (finite, >= 0), got ${v}`,
          );
        }
        s += v;
      }
      if (Math.abs(s - 1) > PREDICTED_PROBS_SUM_TOLERANCE) {
        throw new AmssArgumentError(
          `${name} row of sample ${i} must sum to 1 within ${PREDICTED_PROBS_SUM_TOLERANCE} (predictionKind "probs"), got sum ${s}`,
        );
      }
      logq = Math.log(pred[o + y]);
    }
    if (!Number.isFinite(logq)) {
      throw new AmssArgumentError(
        `${name} gives the true class probability 0 at sample ${i} (labels[${i}] = ${y}): ` +
          `log q = -Infinity makes the Barber–Agakov bound -Infinity; pass logits or clamp the probabilities`,
      );
    }
    sum += logq;
  }
  return sum / B;
}

// ---------------------------------------------------------------------------------------------
// Paper mode

/**
 * Paper-faithful modal significance and update ratios (Sec. 3.2.1), float64:
 *
 * 1. Eq. 2 (Barber–Agakov): `bound_k = H(Y) + (1/B) sum_i log q(y_i | x_i^k)`, `H(Y)` the plug-in
 *    entropy of the batch's label frequencies ({@link labelEntropy}), nats. Logits go through a
 *    stable log-softmax; probabilities are checked (each entry finite and >= 0, each row summing
 *    to 1 within {@link PREDICTED_PROBS_SUM_TOLERANCE}) and used as given, and a true-class
 *    probability of 0 throws (no clamp).
 * 2. Rate `u_hat_k = bound_k / H(X_k)` with `H(X_k)` = {@link meanSoftmaxEntropy} of the features
 *    (`entropy: "features"`, default) or 1 (`entropy: "none"`).
 * 3. Eq. 3 momentum `u_k = lambda u_k + (1 - lambda) u_hat_k` (see {@link PaperSignificanceConfig}
 *    for `init`).
 * 4. Eq. 4 ratios via {@link updateRatios}.
 *
 * Pure: returns a new state and leaves `state` untouched.
 *
 * @throws {AmssArgumentError} naming the argument (`labels[i]`, `predictions[k]`, `features[k]`,
 *   `numClasses`, `tau`, `lambda`, `state.u`, ...) on invalid input, when features are required
 *   but missing, or when `H(X_k) = 0` (e.g. `dim = 1`).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { initialPaperSignificanceState, paperSignificance } from "@amss-ts/amss";
 * const batch = {
 *   labels: [0, 1],
 *   numClasses: 2,
 *   predictionKind: "logits" as const,
 *   predictions: [[4, 0, 0, 4], [0.5, 0, 0, 0.5]], // modality 0 predicts better
 * };
 * let state = initialPaperSignificanceState();
 * const step = paperSignificance(batch, state, { tau: 0.25, entropy: "none" });
 * state = step.state;
 * assert(step.result.ratios[0] < step.result.ratios[1]);
 * ```
 */
export function paperSignificance(
  batch: ModalBatch,
  state: PaperSignificanceState,
  config: PaperSignificanceConfig,
): { result: SignificanceResult; state: PaperSignificanceState } {
  if (config === null || typeof config !== "object") {
    throw new AmssArgumentError(`config must be an object {tau, lambda?, init?, entropy?}`);
  }
  const tau = requirePositive("tau", config.tau);
  const lambda = requireLambda(config.lambda ?? DEFAULT_LAMBDA);
  const init = requireOneOf("init", config.init ?? "first", ["first", "zero"] as const);
  const entropyFloor = config.entropyFloor ?? 0;
  if (!(entropyFloor >= 0 && Number.isFinite(entropyFloor))) {
    throw new AmssArgumentError(`entropyFloor must be finite and >= 0, got ${config.entropyFloor}`);
  }
  const entropyMode = requireOneOf(
    "entropy",
    config.entropy ?? "features",
    ["features", "none"] as const,
  );
  const { K } = validateBatch(
    batch,
    entropyMode === "features",
    'for entropy: "features" (or set entropy: "none" to divide by 1)',
  );
  if (state === null || typeof state !== "object") {
    throw new AmssArgumentError(`state must be an object {u, steps}, got ${state}`);
  }
  requireInt("state.steps", state.steps, 0);
  if (state.u !== null) {
    if (!Array.isArray(state.u) || state.u.length !== K) {
      throw new AmssArgumentError(
        `state.u must be null or an array of K = ${K} numbers, got ${JSON.stringify(state.u)}`,
      );
    }
    for (let k = 0; k < K; k++) requireFinite(`state.u[${k}]`, state.u[k]);
  }

  const hY = labelEntropy(batch.labels, batch.numClasses);
  const meanLogQ = new Float64Array(K);
  const bound = new Float64Array(K);
  const featureEntropy = new Float64Array(K).fill(1);
  const rate = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    meanLogQ[k] = meanLogLikelihood(
      batch.predictions[k],
      batch.labels,
      batch.numClasses,
      batch.predictionKind,
      k,
    );
    bound[k] = hY + meanLogQ[k]; // Eq. 2
    if (entropyMode === "features") {
      const f = batch.features![k];
      featureEntropy[k] = Math.max(
        meanSoftmaxEntropy(f.data, f.dim, `features[${k}]`),
        entropyFloor,
      );
      if (!(featureEntropy[k] > 0)) {
        throw new AmssArgumentError(
          `features[${k}] has softmax entropy H(X_${k}) = 0 (dim = ${f.dim}; dim = 1 or one-hot softmaxes), ` +
            `so the rate I / H(X_${k}) is undefined; use dim >= 2 or entropy: "none"`,
        );
      }
    }
    rate[k] = bound[k] / featureEntropy[k]; // u_hat = I / H(X_k)
    if (!Number.isFinite(rate[k])) {
      throw new AmssArgumentError(
        `features[${k}] has softmax entropy H(X_${k}) = ${
          featureEntropy[k]
        }, so small that the rate ` +
          `${bound[k]} / H overflows; use features with a less peaked softmax or entropy: "none"`,
      );
    }
  }

  // Eq. 3: u = lambda u + (1 - lambda) u_hat; "first": u_1 = u_hat_1, "zero": u_0 = 0.
  const smoothed = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    if (state.u === null && init === "first") smoothed[k] = rate[k];
    else {
      const prev = state.u === null ? 0 : state.u[k];
      smoothed[k] = lambda * prev + (1 - lambda) * rate[k];
    }
  }
  const ratios = updateRatios(smoothed, tau); // Eq. 4
  return {
    result: {
      mode: "paper",
      ratios,
      bound,
      meanLogQ,
      labelEntropy: hY,
      featureEntropy,
      rate,
      smoothed,
      branch: "normal",
      ratioFlags: new Array<RatioFlag>(K).fill("none"),
    },
    state: { u: Array.from(smoothed), steps: state.steps + 1 },
  };
}

// ---------------------------------------------------------------------------------------------
// Reference mode (float32)

const f32 = Math.fround;

/**
 * One row's float32 softmax pieces in PyTorch's CPU operation order: `d_j = x_j - m`
 * (`m = max_j x_j`), `e_j = exp(d_j)`, `s = sum_j e_j`, `logS = log s`, over `row[0..n)`.
 * Writes `d[0..n)` and `e[0..n)` and returns `{ s, logS }`. From these,
 * `log_softmax(x)_j = d_j - logS` and `softmax(x)_j = e_j * (1 / s)`, as torch computes them.
 *
 * The order matters: the other grouping, `x_j - (m + logS)`, rounds `m + logS` to the precision
 * of `m` (ulp 3e-5 at m = 300), which shifts every log-probability of the row by up to half of
 * that; `d_j - logS` subtracts the max first (exact when `x_j` is within a factor 2 of `m`).
 */
function softmaxPiecesF32(
  row: Float32Array,
  n: number,
  d: Float32Array,
  e: Float32Array,
): { s: number; logS: number } {
  let m = -Infinity;
  for (let j = 0; j < n; j++) if (row[j] > m) m = row[j];
  let s = 0;
  for (let j = 0; j < n; j++) {
    d[j] = row[j] - m;
    e[j] = Math.exp(d[j]);
    s = f32(s + e[j]);
  }
  return { s, logS: f32(Math.log(s)) };
}

/**
 * The reference code's label entropy, in float32: the cross-entropy of the label-frequency vector
 * with itself, the first argument read as logits:
 * `H_ref = -sum_c f_c log_softmax(f)_c`, `f_c = #{i : y_i = c} / B` for c = 0..max(label)
 * (the plug-in entropy of Eq. 2 is what the paper writes; this is what the code computes).
 * Evaluated as torch does: `log_softmax(f)_c = (f_c - max f) - log sum_c' exp(f_c' - max f)`,
 * then `-(sum_c log_softmax(f)_c * f_c)`.
 *
 * Equals the true entropy `log C` only for a batch balanced over classes 0..C-1 (then f is
 * constant and log_softmax(f) = -log C); otherwise it differs (e.g. labels [0, 0, 0, 1] give
 * about 0.599 instead of 0.562), and a batch whose largest label is below C - 1 uses a shorter f.
 *
 * @throws {AmssArgumentError} naming `labels[i]` when a label is not a non-negative integer, or
 *   when `labels` is empty.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { referenceLabelEntropy } from "./significance.ts";
 * const h = referenceLabelEntropy([0, 1, 2, 3]); // balanced: log 4 in float32
 * assert(Math.abs(h - Math.log(4)) < 1e-6);
 * ```
 */
export function referenceLabelEntropy(labels: ArrayLike<number>): number {
  if (!isArrayLike(labels) || labels.length === 0) {
    throw new AmssArgumentError("labels must not be empty (batch size B = 0)");
  }
  const B = labels.length;
  let L = 0;
  for (let i = 0; i < B; i++) L = Math.max(L, requireInt(`labels[${i}]`, labels[i], 0) + 1);
  const counts = new Float64Array(L);
  for (let i = 0; i < B; i++) counts[labels[i]]++;
  const f = new Float32Array(L);
  for (let c = 0; c < L; c++) f[c] = counts[c] / B;
  const d = new Float32Array(L);
  const e = new Float32Array(L);
  const { logS } = softmaxPiecesF32(f, L, d, e);
  let acc = 0;
  for (let c = 0; c < L; c++) acc = f32(acc + f32(f32(d[c] - logS) * f[c]));
  return -acc;
}

/** Copies one row into float32, rejecting values that are not finite float32 numbers. */
function loadRowF32(
  src: ArrayLike<number>,
  o: number,
  n: number,
  row: Float32Array,
  notFinite: (j: number) => string,
): void {
  for (let j = 0; j < n; j++) {
    row[j] = src[o + j];
    if (!Number.isFinite(row[j])) {
      throw new AmssArgumentError(`${notFinite(j)}, got ${src[o + j]}`);
    }
  }
}

/**
 * Float32 `(1/B) sum_i log_softmax(logits_i)[y_i]` for one modality: minus the mean-reduced
 * cross-entropy of the logits (Eq. 2's second term), `log_softmax` in torch's order
 * ({@link softmaxPiecesF32}).
 */
function meanLogLikelihoodF32(
  pred: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  k: number,
): number {
  const B = labels.length;
  const row = new Float32Array(C);
  const d = new Float32Array(C);
  const e = new Float32Array(C);
  let sum = 0;
  for (let i = 0; i < B; i++) {
    loadRowF32(
      pred,
      i * C,
      C,
      row,
      (c) =>
        `predictions[${k}][${i * C + c}] (sample ${i}, class ${c}) must be a finite float32 logit`,
    );
    const { logS } = softmaxPiecesF32(row, C, d, e);
    sum = f32(sum + f32(d[labels[i]] - logS));
  }
  return f32(sum / B);
}

/**
 * Float32 `H(X_k)` as the reference code computes it: the cross-entropy of the features (read as
 * logits over their D coordinates) with their own softmax, mean-reduced over the batch:
 * `-(sum_{i,j} log_softmax(x_i)_j * softmax(x_i)_j) / B`, both in torch's order
 * ({@link softmaxPiecesF32}). A coordinate with softmax 0 contributes 0 (its log-softmax is finite).
 */
function meanSoftmaxEntropyF32(data: ArrayLike<number>, D: number, B: number, k: number): number {
  const row = new Float32Array(D);
  const d = new Float32Array(D);
  const e = new Float32Array(D);
  let acc = 0;
  for (let i = 0; i < B; i++) {
    loadRowF32(
      data,
      i * D,
      D,
      row,
      (j) =>
        `features[${k}].data[${i * D + j}] (sample ${i}, coordinate ${j}) must be a finite float32`,
    );
    const { s, logS } = softmaxPiecesF32(row, D, d, e);
    const inv = f32(1 / s);
    for (let j = 0; j < D; j++) acc = f32(acc + f32(f32(d[j] - logS) * f32(e[j] * inv)));
  }
  return f32(-acc / B);
}

/**
 * Modal significance as the authors' audio–video reference code computes it, in float32
 * arithmetic (every operation is rounded with `Math.fround`; Float64 inputs are first rounded to
 * float32, so a value beyond the float32 range is rejected as non-finite). Every log-softmax and
 * softmax uses PyTorch's CPU operation order, `(x - max) - log sum exp(x - max)` and
 * `exp(x - max) * (1 / sum)`.
 *
 * 1. `H_ref` = {@link referenceLabelEntropy} (cross-entropy of the label frequencies with
 *    themselves, not the entropy of Eq. 2 unless the batch is balanced over 0..C-1).
 * 2. `bound_k = H_ref + (1/B) sum_i log_softmax(logits_i^k)[y_i]` (Eq. 2 with `H_ref`).
 * 3. `H(X_k) = -(1/B) sum_i sum_j softmax(x_i^k)_j log_softmax(x_i^k)_j`, the softmax taken
 *    across feature coordinates (features required, dim >= 2).
 * 4. `rate_k = (bound_k + 0.5) / H(X_k)`. If any `bound_k + 0.5 <= 0`, every ratio is 0.5
 *    (branch `"fallback-nonpositive"`).
 * 5. Otherwise Eq. 4 without max-subtraction, as the code writes it: `t_k = rate_k / tau`,
 *    `e_k = exp(t_k)`, and for two modalities `rho_a = e_v / (e_v + e_a)`,
 *    `rho_v = e_a / (e_a + e_v)`. For K modalities we use the same expression with the other
 *    modalities' terms summed first: `rho_k = S_k / (S_k + e_k)`, `S_k = sum_{j != k} e_j` in
 *    index order (mathematically `1 - softmax(t)_k`; identical to the code at K = 2). Float32
 *    overflow decides the outcome when `t_k` exceeds ln(FLT_MAX) ~ 88.7228: an infinite `e_k`
 *    gives its own ratio `finite / Infinity = 0` and every ratio whose numerator holds it
 *    `Infinity / Infinity = NaN`; finite `e_k` whose sum overflows give `finite / Infinity = 0`.
 * 6. A NaN ratio becomes 0.5 (branch `"nan"`), then each ratio is clamped to
 *    [fround(0.1), fround(0.9)] (branch `"clamped"` when anything was clamped and nothing was
 *    NaN); `ratioFlags` says what happened per modality. No momentum. The constants 0.5 of steps
 *    4 and 6 are kept for every K, as in the authors' three-modality code.
 *
 * So with two modalities, one overflowing exponential gives (0.1, 0.5) (the overflowing modality
 * first) and an overflowing sum gives (0.1, 0.1).
 *
 * Ratios are float32 values widened to double (a clamped ratio is `fround(0.1)` =
 * 0.10000000149..., not 0.1). When every feature softmax of modality k is one-hot in float32
 * (the other coordinates' exponentials underflow), `H(X_k)` is minus a sum of zeros, `-0`, as in
 * torch; the rate is then `-Infinity`, `e_k = 0`, and step 5 proceeds as the reference code would
 * (rho_k = S_k / S_k = 1, clamped to 0.9). A tiny positive `H(X_k)` gives a huge rate instead.
 *
 * @throws {AmssArgumentError} when `predictionKind` is not `"logits"`, features are missing or
 *   have `dim < 2`, `tau` is not finite and > 0, or any batch check fails.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { referenceSignificance } from "@amss-ts/amss";
 * const r = referenceSignificance({
 *   labels: [0, 1],
 *   numClasses: 2,
 *   predictionKind: "logits",
 *   predictions: [[2, 0, 0, 2], [0, 0, 0, 0]],
 *   features: [{ data: [1, 0, 0, 1], dim: 2 }, { data: [1, 0, 0, 1], dim: 2 }],
 * }, { tau: 0.2 });
 * assert(r.ratios[0] < r.ratios[1]);
 * ```
 */
export function referenceSignificance(
  batch: ModalBatch,
  config: ReferenceSignificanceConfig,
): SignificanceResult {
  if (config === null || typeof config !== "object") {
    throw new AmssArgumentError(`config must be an object {tau}`);
  }
  const tau = requirePositive("tau", config.tau);
  const { B, C, K } = validateBatch(
    batch,
    true,
    "in reference mode (H(X_k) is the mean softmax entropy of the features)",
  );
  if (batch.predictionKind !== "logits") {
    throw new AmssArgumentError(
      `predictionKind must be "logits" in reference mode (the reference code applies log-softmax to logits), got "${batch.predictionKind}"`,
    );
  }
  for (let k = 0; k < K; k++) {
    const d = batch.features![k].dim;
    if (d < 2) {
      throw new AmssArgumentError(
        `features[${k}].dim must be >= 2 in reference mode (a softmax over one coordinate has entropy 0), got ${d}`,
      );
    }
  }

  const hRef = referenceLabelEntropy(batch.labels);
  const meanLogQ = new Float64Array(K);
  const bound = new Float64Array(K);
  const featureEntropy = new Float64Array(K);
  const shifted = new Float64Array(K);
  const rate = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    meanLogQ[k] = meanLogLikelihoodF32(batch.predictions[k], batch.labels, C, k);
    bound[k] = f32(meanLogQ[k] + hRef); // Eq. 2 with H_ref in place of H(Y)
    const f = batch.features![k];
    featureEntropy[k] = meanSoftmaxEntropyF32(f.data, f.dim, B, k);
    shifted[k] = f32(bound[k] + REFERENCE_BOUND_SHIFT);
    rate[k] = f32(shifted[k] / featureEntropy[k]);
  }
  const common = {
    mode: "reference" as const,
    bound,
    meanLogQ,
    labelEntropy: hRef,
    featureEntropy,
    rate,
    smoothed: Float64Array.from(rate),
  };
  if (shifted.some((x) => x <= 0)) {
    return {
      ...common,
      ratios: new Float64Array(K).fill(0.5),
      branch: "fallback-nonpositive",
      ratioFlags: new Array<RatioFlag>(K).fill("none"),
    };
  }
  // Eq. 4 as the reference code writes it (see step 5 above): no max-subtraction, so exp may
  // overflow to Infinity and the quotients become 0 or NaN.
  const tau32 = f32(tau);
  const e = new Float64Array(K);
  for (let k = 0; k < K; k++) e[k] = f32(Math.exp(f32(rate[k] / tau32)));
  const lo = f32(REFERENCE_CLAMP[0]);
  const hi = f32(REFERENCE_CLAMP[1]);
  const ratios = new Float64Array(K);
  const ratioFlags = new Array<RatioFlag>(K).fill("none");
  let anyNaN = false;
  let anyClamp = false;
  for (let k = 0; k < K; k++) {
    let others = 0;
    for (let j = 0; j < K; j++) if (j !== k) others = f32(others + e[j]);
    let r = f32(others / f32(others + e[k]));
    if (Number.isNaN(r)) {
      r = 0.5;
      ratioFlags[k] = "nan";
      anyNaN = true;
    }
    if (r < lo) {
      r = lo;
      if (ratioFlags[k] === "none") ratioFlags[k] = "clamped-low";
      anyClamp = true;
    } else if (r > hi) {
      r = hi;
      if (ratioFlags[k] === "none") ratioFlags[k] = "clamped-high";
      anyClamp = true;
    }
    ratios[k] = r;
  }
  return {
    ...common,
    ratios,
    branch: anyNaN ? "nan" : anyClamp ? "clamped" : "normal",
    ratioFlags,
  };
}
