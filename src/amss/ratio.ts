/**
 * Update ratios from modal significance (paper Eq. 4).
 *
 * @module
 */

import { AmssArgumentError, requireFinite, requirePositive } from "../validate.ts";

/**
 * Eq. 4: `rho_k = 1 - softmax(u / tau)_k`, the share of modality k's units to update.
 *
 * The most significant modality (largest `u_k`) gets the smallest ratio; `sum_k rho_k = K - 1`.
 * Numerically stable for every finite `u` and every finite `tau > 0`: exponents are taken after
 * subtracting `max(u)` (so every `e_k = exp((u_k - max u) / tau)` lies in [0, 1] and the largest
 * is exactly 1), and `1 - s_k` is computed as `(sum_{n != k} e_n) / (sum_n e_n)` with prefix and
 * suffix sums, so a ratio close to 0 is not lost to cancellation. The result never contains NaN.
 *
 * @param u modal significances, K >= 2 finite numbers.
 * @param tau temperature, finite and > 0 (the paper recommends tau < 1).
 * @returns the K update ratios, each in [0, 1].
 * @throws {AmssArgumentError} when K < 2, an entry `u[i]` is not finite, or `tau` is not finite
 *   and > 0.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { updateRatios } from "@amss-ts/amss";
 * const rho = updateRatios([0.8, 0.2], 0.25); // audio dominant -> audio updated less
 * assert(rho[0] < rho[1] && Math.abs(rho[0] + rho[1] - 1) < 1e-15);
 * ```
 */
export function updateRatios(u: ArrayLike<number>, tau: number): Float64Array {
  requirePositive("tau", tau);
  if (u === null || u === undefined || typeof u.length !== "number") {
    throw new AmssArgumentError(`u must be an array of numbers, got ${u}`);
  }
  const K = u.length;
  if (K < 2) {
    throw new AmssArgumentError(`u must have at least 2 entries (one per modality), got ${K}`);
  }
  let max = -Infinity;
  for (let k = 0; k < K; k++) {
    requireFinite(`u[${k}]`, u[k]);
    if (u[k] > max) max = u[k];
  }
  // Eq. 4 with the usual max-subtraction: u_k - max is <= 0 (possibly -Infinity when the
  // difference of two finite doubles overflows), so e_k is in [0, 1] and never NaN.
  const e = new Float64Array(K);
  for (let k = 0; k < K; k++) e[k] = Math.exp((u[k] - max) / tau);
  // prefix[k] = e_0 + ... + e_{k-1}; suffix[k] = e_{k+1} + ... + e_{K-1}.
  const prefix = new Float64Array(K);
  for (let k = 1; k < K; k++) prefix[k] = prefix[k - 1] + e[k - 1];
  const suffix = new Float64Array(K);
  for (let k = K - 2; k >= 0; k--) suffix[k] = suffix[k + 1] + e[k + 1];
  const rho = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const others = prefix[k] + suffix[k];
    // 1 - softmax_k = others / (others + e_k). The denominator is formed per k (it is >= 1, since
    // the arg-max term is exactly 1) so that others <= denominator holds after rounding too, and
    // rho_k never exceeds 1.
    rho[k] = others / (others + e[k]);
  }
  return rho;
}
