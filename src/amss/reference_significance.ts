/**
 * Modal significance as the authors' audio–video reference code computes it (paper Sec. 3.2.1,
 * Eqs. 2 and 4, where the code differs from the paper), in float32 arithmetic and PyTorch's CPU
 * operation order: `H(Y)` as a cross-entropy of the label-frequency vector with itself, `+0.5` on
 * the bound, a fallback to 0.5 when a shifted bound is not positive, Eq. 4 as the quotients
 * `sum_{j != k} e_j / sum_j e_j` of unshifted float32 exponentials, NaN -> 0.5, clamp to
 * [0.1, 0.9], no momentum.
 *
 * Apart from the paper's float64 estimator (./significance.ts), whose batch validation and result
 * type it shares: this one follows the reference code's operations and float32 rounding rather
 * than the paper's formulas, and its float32 helpers serve nothing else.
 *
 * @module
 */
import { AmssArgumentError, requireInt, requirePositive } from "../validate.ts";
import type { ModalBatch } from "../types.ts";
import {
  isArrayLike,
  type RatioFlag,
  type SignificanceResult,
  validateBatch,
} from "./significance.ts";

/** Configuration of {@link referenceSignificance}. */
export interface ReferenceSignificanceConfig {
  /** Temperature, finite and > 0 (the reference audio–video commands use 0.2). */
  tau: number;
}

/** Additive shift the reference code applies to the bound before dividing by H(X_k). */
export const REFERENCE_BOUND_SHIFT = 0.5;

/** Clamp range of the reference code's ratios (applied in float32: `fround(0.1)`, `fround(0.9)`). */
export const REFERENCE_CLAMP: readonly [number, number] = [0.1, 0.9];

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
 * import { referenceLabelEntropy } from "./reference_significance.ts";
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
