/**
 * Small exact information-theory helpers on discrete distributions, used to check the
 * Barber–Agakov bound of the paper's Eq. 2 and the bias of its mini-batch plug-in estimate.
 *
 * All logarithms are natural (nats). A discrete joint `p(x, y)` is a row-major `nx x ny` table
 * (`p[x * ny + y]`); a conditional `q(y | x)` has the same layout with every row summing to 1.
 *
 * @module
 */

import type { Rng } from "../rng.ts";
import { AmssArgumentError, requireInt, requireNonNegativeVector } from "../validate.ts";

/** A discrete joint distribution `p(x, y)` stored row-major: `p[x * ny + y]`. */
export interface DiscreteJoint {
  /** Number of values of X (rows). */
  nx: number;
  /** Number of values of Y (columns). */
  ny: number;
  /** `nx * ny` non-negative probabilities summing to 1. */
  p: ArrayLike<number>;
}

/** A plug-in estimate of the Barber–Agakov bound from one mini-batch (see {@link batchBarberAgakovEstimate}). */
export interface BatchBoundEstimate {
  /** `labelEntropy + meanLogQ` (Eq. 2 with both expectations replaced by batch averages). */
  bound: number;
  /** Plug-in entropy of the batch's label frequencies, nats. */
  labelEntropy: number;
  /** `(1/B) sum_i log q(y_i | x_i)`; `-Infinity` when some drawn pair has `q = 0`. */
  meanLogQ: number;
}

/**
 * Tolerance on `|sum - 1|` for the exact (float64) probability vectors and conditional rows given
 * to this module, hence tight (compare `PREDICTED_PROBS_SUM_TOLERANCE` in src/amss/significance.ts
 * for a model's float32 predictions).
 */
export const EXACT_DISTRIBUTION_SUM_TOLERANCE = 1e-9;

function requireDistribution(name: string, p: ArrayLike<number>): void {
  const s = requireNonNegativeVector(name, p);
  if (Math.abs(s - 1) > EXACT_DISTRIBUTION_SUM_TOLERANCE) {
    throw new AmssArgumentError(
      `${name} must sum to 1 (within ${EXACT_DISTRIBUTION_SUM_TOLERANCE}), got sum ${s}`,
    );
  }
}

function requireJoint(joint: DiscreteJoint): void {
  if (joint === null || typeof joint !== "object") {
    throw new AmssArgumentError(`joint must be an object {nx, ny, p}, got ${joint}`);
  }
  requireInt("joint.nx", joint.nx, 1);
  requireInt("joint.ny", joint.ny, 1);
  if (!joint.p || joint.p.length !== joint.nx * joint.ny) {
    throw new AmssArgumentError(
      `joint.p must have nx * ny = ${joint.nx * joint.ny} entries, got ${joint.p?.length}`,
    );
  }
  requireDistribution("joint.p", joint.p);
}

function requireConditional(name: string, q: ArrayLike<number>, nx: number, ny: number): void {
  if (!q || q.length !== nx * ny) {
    throw new AmssArgumentError(`${name} must have nx * ny = ${nx * ny} entries, got ${q?.length}`);
  }
  for (let x = 0; x < nx; x++) {
    let s = 0;
    for (let y = 0; y < ny; y++) {
      const v = q[x * ny + y];
      if (!Number.isFinite(v) || v < 0) {
        throw new AmssArgumentError(`${name}[${x * ny + y}] must be finite and >= 0, got ${v}`);
      }
      s += v;
    }
    if (Math.abs(s - 1) > EXACT_DISTRIBUTION_SUM_TOLERANCE) {
      throw new AmssArgumentError(
        `${name} row x = ${x} must sum to 1 (within ${EXACT_DISTRIBUTION_SUM_TOLERANCE}), got sum ${s}`,
      );
    }
  }
}

function entropyUnchecked(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
  return h;
}

/**
 * Shannon entropy `H(p) = -sum_i p_i log p_i` in nats, with `0 log 0 = 0`.
 *
 * @param p a probability vector: entries finite, >= 0, summing to 1 within
 *   {@link EXACT_DISTRIBUTION_SUM_TOLERANCE}.
 * @throws {AmssArgumentError} naming `p[i]` or the sum when `p` is not a distribution.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { entropy } from "@amss-ts/amss/theory";
 * assert(Math.abs(entropy([0.25, 0.25, 0.25, 0.25]) - Math.log(4)) < 1e-15);
 * ```
 */
export function entropy(p: ArrayLike<number>): number {
  requireDistribution("p", p);
  return entropyUnchecked(p);
}

/** Marginal `p(x)` (length `nx`) of a validated joint. */
function marginalX(joint: DiscreteJoint): Float64Array {
  const px = new Float64Array(joint.nx);
  for (let x = 0; x < joint.nx; x++) {
    for (let y = 0; y < joint.ny; y++) px[x] += joint.p[x * joint.ny + y];
  }
  return px;
}

/** Marginal `p(y)` (length `ny`) of a validated joint. */
function marginalY(joint: DiscreteJoint): Float64Array {
  const py = new Float64Array(joint.ny);
  for (let x = 0; x < joint.nx; x++) {
    for (let y = 0; y < joint.ny; y++) py[y] += joint.p[x * joint.ny + y];
  }
  return py;
}

/**
 * The label marginal `p(y) = sum_x p(x, y)` of a discrete joint.
 *
 * @throws {AmssArgumentError} when `joint` is not a valid joint distribution.
 */
export function labelMarginal(joint: DiscreteJoint): Float64Array {
  requireJoint(joint);
  return marginalY(joint);
}

/**
 * Mutual information `I(X; Y) = sum_{x,y} p(x,y) log( p(x,y) / (p(x) p(y)) )` in nats.
 *
 * @throws {AmssArgumentError} when `joint` is not a valid joint distribution.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { mutualInformation } from "@amss-ts/amss/theory";
 * // Y = X, uniform on two values: I = log 2.
 * const i = mutualInformation({ nx: 2, ny: 2, p: [0.5, 0, 0, 0.5] });
 * assert(Math.abs(i - Math.log(2)) < 1e-15);
 * ```
 */
export function mutualInformation(joint: DiscreteJoint): number {
  requireJoint(joint);
  const px = marginalX(joint);
  const py = marginalY(joint);
  let mi = 0;
  for (let x = 0; x < joint.nx; x++) {
    for (let y = 0; y < joint.ny; y++) {
      const pxy = joint.p[x * joint.ny + y];
      if (pxy > 0) mi += pxy * (Math.log(pxy) - Math.log(px[x]) - Math.log(py[y]));
    }
  }
  return mi;
}

/**
 * The true conditional `p(y | x)` of a joint, row-major like the joint. Rows with `p(x) = 0` are
 * set to the uniform distribution (any choice gives the same bound, since those rows carry no mass).
 *
 * @throws {AmssArgumentError} when `joint` is not a valid joint distribution.
 */
export function conditionalOf(joint: DiscreteJoint): Float64Array {
  requireJoint(joint);
  const px = marginalX(joint);
  const q = new Float64Array(joint.nx * joint.ny);
  for (let x = 0; x < joint.nx; x++) {
    for (let y = 0; y < joint.ny; y++) {
      q[x * joint.ny + y] = px[x] > 0 ? joint.p[x * joint.ny + y] / px[x] : 1 / joint.ny;
    }
  }
  return q;
}

/**
 * Population Barber–Agakov bound (paper Eq. 2): `H(Y) + E_{p(x,y)} log q(y | x)`, in nats.
 *
 * It is `<= I(X; Y)` for every conditional `q`, with equality iff `q(y|x) = p(y|x)` wherever
 * `p(x, y) > 0` (the gap is `E_x KL(p(.|x) || q(.|x))`). Returns `-Infinity` when `q` gives
 * probability 0 to a pair that has positive mass.
 *
 * @param joint the joint `p(x, y)`.
 * @param q a conditional `q(y | x)`, `nx x ny` row-major, rows summing to 1.
 * @throws {AmssArgumentError} naming `joint.*` or `q[i]` on invalid input.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { barberAgakovBound, conditionalOf, mutualInformation } from "@amss-ts/amss/theory";
 * const joint = { nx: 2, ny: 2, p: [0.4, 0.1, 0.2, 0.3] };
 * const tight = barberAgakovBound(joint, conditionalOf(joint));
 * assert(Math.abs(tight - mutualInformation(joint)) < 1e-12);
 * ```
 */
export function barberAgakovBound(joint: DiscreteJoint, q: ArrayLike<number>): number {
  requireJoint(joint);
  requireConditional("q", q, joint.nx, joint.ny);
  let expLogQ = 0;
  for (let i = 0; i < joint.p.length; i++) {
    const pxy = joint.p[i];
    if (pxy > 0) expLogQ += pxy * Math.log(q[i]); // q = 0 -> -Infinity, never NaN
  }
  return entropyUnchecked(marginalY(joint)) + expLogQ;
}

/**
 * Draws `B` independent pairs `(x_i, y_i)` from a discrete joint (inverse-CDF sampling with `rng`).
 *
 * @throws {AmssArgumentError} when `joint` is invalid or `B` is not an integer >= 1.
 */
export function sampleJoint(
  joint: DiscreteJoint,
  B: number,
  rng: Rng,
): { x: Int32Array; y: Int32Array } {
  requireJoint(joint);
  requireInt("B", B, 1);
  const n = joint.p.length;
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += joint.p[i];
    cdf[i] = acc;
  }
  const xs = new Int32Array(B);
  const ys = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const r = rng.float() * acc; // in [0, acc): the first cell with cdf > r has positive mass
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    xs[b] = Math.floor(lo / joint.ny);
    ys[b] = lo % joint.ny;
  }
  return { x: xs, y: ys };
}

/**
 * The mini-batch plug-in estimate of the Barber–Agakov bound that AMSS computes each step:
 * draws `B` pairs from `joint` with `rng`, then returns `H_hat(Y) + (1/B) sum_i log q(y_i | x_i)`,
 * with `H_hat(Y)` the entropy of the batch's label frequencies (paper Eq. 2 and the two batch
 * formulas below it).
 *
 * Its expectation is `E[H_hat(Y)] + E_p log q`: the second term is unbiased, the first is biased
 * low (about `(C - 1) / (2B)`, see {@link expectedPlugInEntropy}), so at `q = p(y|x)` the estimate
 * is biased below `I(X; Y)`; single batches can still exceed `I` through sampling noise.
 *
 * @throws {AmssArgumentError} on an invalid joint, conditional or batch size.
 */
export function batchBarberAgakovEstimate(
  joint: DiscreteJoint,
  q: ArrayLike<number>,
  B: number,
  rng: Rng,
): BatchBoundEstimate {
  requireJoint(joint);
  requireConditional("q", q, joint.nx, joint.ny);
  const { x, y } = sampleJoint(joint, B, rng);
  const counts = new Float64Array(joint.ny);
  let sumLogQ = 0;
  for (let b = 0; b < B; b++) {
    counts[y[b]]++;
    sumLogQ += Math.log(q[x[b] * joint.ny + y[b]]);
  }
  let labelEntropy = 0;
  for (let c = 0; c < joint.ny; c++) {
    if (counts[c] > 0) {
      const f = counts[c] / B;
      labelEntropy -= f * Math.log(f);
    }
  }
  const meanLogQ = sumLogQ / B;
  return { bound: labelEntropy + meanLogQ, labelEntropy, meanLogQ };
}

/**
 * Exact expectation of the plug-in entropy of `B` i.i.d. draws from `p`:
 * `E[H_hat] = -sum_c sum_{n=0}^{B} Binom(n; B, p_c) (n/B) log(n/B)`
 * (each count is Binomial(B, p_c), and the plug-in entropy is a sum over classes).
 * `H(p) - E[H_hat]` is the plug-in bias, `(C' - 1) / (2B) + O(B^-2)` with `C'` the number of
 * classes with `p_c > 0` (Miller–Madow).
 *
 * @param p probability vector (validated like {@link entropy}).
 * @param B batch size, integer in [1, 10^7].
 * @throws {AmssArgumentError} naming `p` or `B`.
 */
export function expectedPlugInEntropy(p: ArrayLike<number>, B: number): number {
  requireDistribution("p", p);
  requireInt("B", B, 1, 1e7);
  const logFact = new Float64Array(B + 1);
  for (let n = 1; n <= B; n++) logFact[n] = logFact[n - 1] + Math.log(n);
  let h = 0;
  for (let c = 0; c < p.length; c++) {
    const pc = p[c];
    if (pc <= 0) continue;
    const logP = Math.log(pc);
    const log1mP = pc < 1 ? Math.log1p(-pc) : -Infinity;
    for (let n = 1; n <= B; n++) {
      const tail = B - n === 0 ? 0 : (B - n) * log1mP; // 0 * log 0 = 0
      const pmf = Math.exp(logFact[B] - logFact[n] - logFact[B - n] + n * logP + tail);
      const f = n / B;
      h -= pmf * f * Math.log(f);
    }
  }
  return h;
}
