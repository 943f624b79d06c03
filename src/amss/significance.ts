/**
 * Modal significance and update ratios (paper Sec. 3.2.1, Eqs. 2, 3, 4), in two variants:
 *
 * - {@link paperSignificance}: what the paper writes. Barber–Agakov bound with the plug-in label
 *   entropy (Eq. 2), rate `I / H(X_k)`, momentum (Eq. 3), ratios by Eq. 4. Float64.
 * - `referenceSignificance` (./reference_significance.ts): what the authors' audio–video code
 *   does where it differs from the paper, in float32 arithmetic: `H(Y)` as a cross-entropy of the
 *   label-frequency vector with itself, `+0.5` on the bound, a fallback to 0.5 when a shifted
 *   bound is not positive, Eq. 4 as the quotients
 *   `sum_{j != k} e_j / sum_j e_j` of unshifted float32 exponentials, NaN -> 0.5, clamp to
 *   [0.1, 0.9], no momentum; log-softmax in PyTorch's CPU operation order.
 *
 * This module holds the paper variant and what both share: the result type
 * ({@link SignificanceResult}, with its branch and per-modality flags) and the validation of a
 * {@link ModalBatch}, which the reference module imports.
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

export function isArrayLike(v: unknown): v is ArrayLike<number> {
  return v !== null && v !== undefined && typeof (v as ArrayLike<number>).length === "number";
}

/** Validates everything in `batch` except the numeric content of features. */
export function validateBatch(batch: ModalBatch, needFeatures: boolean, why: string): Shape {
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
