/**
 * Sampling k of n mask units WITHOUT replacement (paper Sec. 3.2.2), plus the inclusion
 * probabilities and Horvitz-Thompson (HT) weights that make the AMSS+ mask exactly unbiased
 * (paper App. A.2 needs E[m_j] = 1, i.e. a weight 1/pi_j with pi_j the INCLUSION probability).
 *
 * Designs:
 * - `"adaptive"`: successive sampling proportional to p (the law of
 *   `torch.multinomial(p, k, replacement=False)`), drawn with exponential keys; HT weights by rank
 *   conditioning.
 * - `"uniform"`: a uniform k-subset (the paper's "Random" baseline); HT weight n/k.
 * - `"topk"`: the k most important units; deterministic, so it has no unbiased HT weights.
 * - `"systematic"`: systematic PPS sampling with exact inclusion probabilities min(1, c p_j).
 *
 * The exact inclusion probabilities of successive sampling, which only the theory, the proofs and
 * the tests need, are in src/theory/inclusion.ts.
 *
 * All randomness comes from the {@link Rng} argument. Importance vectors need not be normalised:
 * they are scaled to sum 1 internally (per call, i.e. per sampling group).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { Rng, sampleUnits, unitsToKeep } from "@amss-ts/amss";
 * const p = [0.5, 0.2, 0.2, 0.1];
 * const k = unitsToKeep(0.5, p.length); // 2
 * const s = sampleUnits("adaptive", p, k, new Rng(1));
 * assert(s.indices.length === 2 && s.weights.every((w) => w >= 1));
 * ```
 * @module
 */

import type { Rng } from "../rng.ts";
import {
  AmssArgumentError,
  requireInt,
  requireNonNegativeVector,
  requireOneOf,
} from "../validate.ts";

/** The sampling designs: `"adaptive"` (successive, Sec. 3.2.2), `"uniform"`, `"topk"`, `"systematic"`. */
export type SamplerKind = "adaptive" | "uniform" | "topk" | "systematic";

/** Every {@link SamplerKind}, for validation and command lines. */
export const SAMPLER_KINDS: readonly SamplerKind[] = ["adaptive", "uniform", "topk", "systematic"];

/** What to do when k exceeds the number of units with positive importance. */
export type ShortfallMode = "error" | "fill";

/**
 * A sample of units. `indices` are the k selected units (distinct); `weights[i]` is the
 * Horvitz-Thompson weight of unit `indices[i]` for the design that drew it (see each sampler).
 * `kind` records the design so that masks can refuse meaningless combinations (HT with topk).
 */
export interface UnitSample {
  /** The selected units (distinct, in [0, n)); for `"adaptive"` in draw order. */
  indices: Int32Array;
  /** `weights[i]`: Horvitz-Thompson weight of unit `indices[i]` (finite, >= 1; all 1 for top-k). */
  weights: Float64Array;
  /** The design that produced the sample (set by every sampler here; optional for hand-made samples). */
  kind?: SamplerKind;
}

/** Options of the randomised samplers. */
export interface SampleOptions {
  /**
   * `"error"` (default): throw when k > number of nonzero p (the adaptive and systematic laws are
   * undefined there). `"fill"`: take every nonzero unit, then fill up with uniformly random
   * zero-importance units. The filled units carry zero importance (when p comes from squared
   * gradients they have zero gradient, so their mask value does not matter) and get weight 1; the
   * nonzero units are then included with probability 1, so their weight 1 is the exact HT weight.
   */
  onShortfall?: ShortfallMode;
}

// ---------------------------------------------------------------------------------------------
// Shared checks

/** An importance vector normalised by {@link normalise}. */
export interface Importance {
  /** p scaled to sum 1 (a plain array: small typed arrays are slow to allocate in V8). */
  q: number[];
  /** number of entries > 0. */
  nnz: number;
}

/** Validates p (non-empty, finite, >= 0, not all zero) and returns it normalised to sum 1. */
export function normalise(name: string, p: ArrayLike<number>): Importance {
  requireNonNegativeVector(name, p);
  const q: number[] = new Array(p.length);
  const { max, nnz } = normaliseInto(p, q);
  if (max === 0) {
    throw new AmssArgumentError(
      `${name} must not be all zero (at least one unit needs positive importance), got ${p.length} zeros`,
    );
  }
  return { q, nnz };
}

/**
 * Writes p / sum(p) into q[0..n) (n = p.length; p finite and >= 0, unchecked) and returns the
 * largest p and the number of positive quotients. Divides by the max first so that huge entries
 * cannot overflow the sum. With an all-zero p it returns max 0 and leaves q unwritten. Shared by
 * the samplers and the allocation-free loop of successive_mask.ts, which must round identically.
 */
export function normaliseInto(
  p: ArrayLike<number>,
  q: { [i: number]: number },
): { max: number; nnz: number } {
  const n = p.length;
  let max = 0;
  for (let i = 0; i < n; i++) if (p[i] > max) max = p[i];
  if (max === 0) return { max, nnz: 0 };
  let s = 0;
  for (let i = 0; i < n; i++) {
    q[i] = p[i] / max;
    s += q[i];
  }
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    q[i] /= s;
    if (q[i] > 0) nnz++; // an entry below max * 2^-1074 underflows and counts as zero
  }
  return { max, nnz };
}

/** The validated `onShortfall` option (default `"error"`). */
export function shortfallMode(opts: { onShortfall?: ShortfallMode } | undefined): ShortfallMode {
  const mode = opts?.onShortfall ?? "error";
  return requireOneOf<ShortfallMode>("opts.onShortfall", mode, ["error", "fill"]);
}

/** The error for k greater than the number of units with positive importance. */
export function shortfallError(what: string, k: number, nnz: number): AmssArgumentError {
  return new AmssArgumentError(
    `k must be <= the number of nonzero entries of p for ${what} (the law is undefined otherwise), ` +
      `got k = ${k} with ${nnz} nonzero; pass opts.onShortfall = "fill" to fill with zero-importance units`,
  );
}

function emptySample(kind: SamplerKind): UnitSample {
  return { indices: new Int32Array(0), weights: new Float64Array(0), kind };
}

/** All nonzero units (in `order`), then k - nnz uniformly random zero units; all weights 1. */
function fillSample(
  q: ArrayLike<number>,
  k: number,
  order: ArrayLike<number>,
  rng: Rng,
  kind: SamplerKind,
): UnitSample {
  const zeros: number[] = [];
  for (let i = 0; i < q.length; i++) if (q[i] === 0) zeros.push(i);
  const indices = new Int32Array(k);
  let m = 0;
  for (let i = 0; i < order.length; i++) indices[m++] = order[i];
  // partial Fisher-Yates over the zero units
  for (let i = 0; m < k; i++) {
    const j = i + rng.int(zeros.length - i);
    const t = zeros[i];
    zeros[i] = zeros[j];
    zeros[j] = t;
    indices[m++] = zeros[i];
  }
  return { indices, weights: new Float64Array(k).fill(1), kind };
}

// ---------------------------------------------------------------------------------------------
// Adaptive (successive) sampling

/**
 * Successive sampling proportional to p (paper Sec. 3.2.2, "non-uniform adaptive sampling without
 * replacement"): the law of `torch.multinomial(p, k, replacement=False)`. Drawn with exponential
 * keys (Efraimidis-Spirakis): key_i = E_i / p_i, E_i ~ Exp(1), the k smallest keys win, in draw
 * order. A bounded max-heap of size k + 1 keeps the k + 1 smallest keys: O(n log k + k log k).
 *
 * HT weight (rank conditioning): with t the (k+1)-th smallest key, conditionally on the other
 * units' keys unit j is included iff key_j < t, which has probability 1 - exp(-p_j t), so the
 * weight 1 / (1 - exp(-p_j t)) (computed as 1 / -expm1(-p_j t)) gives E[m_j] = 1 exactly (App. A.2).
 * When k equals the number of nonzero p, t = +Infinity and every weight is 1. Note: these weights
 * are unbounded (t can be small); for k = 1 their variance is even infinite (log-divergent).
 *
 * @param p importance, finite and >= 0, not all zero (normalised internally).
 * @param k number of units, integer in [0, p.length]; k = 0 gives an empty sample.
 * @param rng seeded generator (n exponential draws per call, plus fill draws).
 * @param opts `onShortfall` for k > number of nonzero p (see {@link SampleOptions}).
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * const s = sampleSuccessive([4, 3, 2, 1], 2, new Rng(7));
 * // s.indices: 2 distinct units in draw order; s.weights: their HT weights (>= 1)
 * ```
 */
export function sampleSuccessive(
  p: ArrayLike<number>,
  k: number,
  rng: Rng,
  opts?: SampleOptions,
): UnitSample {
  const { q, nnz } = normalise("p", p);
  const n = q.length;
  requireInt("k", k, 0, n);
  const mode = shortfallMode(opts);
  if (k === 0) return emptySample("adaptive");
  if (k > nnz && mode === "error") throw shortfallError('"adaptive" sampling', k, nnz);

  const keys: number[] = new Array(n).fill(0);
  const cap = Math.min(k, nnz) + 1;
  const heap: number[] = new Array(cap).fill(0);
  // max-heap on (key, index): the root is the largest of the kept keys
  const above = (a: number, b: number) => keys[a] > keys[b] || (keys[a] === keys[b] && a > b);
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (q[i] === 0) continue;
    keys[i] = rng.exponential() / q[i];
    if (size < cap) {
      let c = size++;
      heap[c] = i;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        if (!above(heap[c], heap[parent])) break;
        const t = heap[c];
        heap[c] = heap[parent];
        heap[parent] = t;
        c = parent;
      }
    } else if (above(heap[0], i)) {
      heap[0] = i;
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        const r = l + 1;
        let top = c;
        if (l < size && above(heap[l], heap[top])) top = l;
        if (r < size && above(heap[r], heap[top])) top = r;
        if (top === c) break;
        const t = heap[c];
        heap[c] = heap[top];
        heap[top] = t;
        c = top;
      }
    }
  }
  const byKey = (a: number, b: number) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b);
  if (k >= nnz) {
    // every nonzero unit is included (probability 1, weight 1); fill the rest if asked to
    const order = heap.slice(0, size).sort(byKey);
    return fillSample(q, k, order, rng, "adaptive");
  }
  const t = keys[heap[0]]; // the (k+1)-th smallest key
  const chosen = heap.slice(1, size).sort(byKey);
  const indices = Int32Array.from(chosen);
  const weights = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const pit = -Math.expm1(-q[indices[i]] * t);
    weights[i] = t === Infinity ? 1 : 1 / pit;
  }
  return { indices, weights, kind: "adaptive" };
}

// ---------------------------------------------------------------------------------------------
// Uniform and top-k

/**
 * A uniform k-subset of {0, ..., n-1} (the paper's "Random" baseline) by partial Fisher-Yates
 * with the swaps held in a map: O(k) memory and time. HT weight n/k (every unit has inclusion probability k/n).
 *
 * @param n number of units, integer >= 1.
 * @param k sample size, integer in [0, n].
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * const s = sampleUniform(10, 3, new Rng(1)); // 3 distinct units, weights 10/3
 * ```
 */
export function sampleUniform(n: number, k: number, rng: Rng): UnitSample {
  requireInt("n", n, 1);
  requireInt("k", k, 0, n);
  // partial Fisher-Yates; the swaps are kept in a map so that the cost is O(k), not O(n)
  const moved = new Map<number, number>();
  const indices = new Int32Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const vj = moved.get(j) ?? j;
    moved.set(j, moved.get(i) ?? i);
    indices[i] = vj;
  }
  return {
    indices,
    weights: new Float64Array(k).fill(k === 0 ? 1 : n / k),
    kind: "uniform",
  };
}

/**
 * The k units with the largest p (ties broken by the lower index), in decreasing importance;
 * deterministic, O(n log n). Defined for any k <= n, also k > number of nonzero p (zero units are
 * then taken by lower index). Weights are all 1, but they are NOT Horvitz-Thompson weights: an
 * unselected unit has inclusion probability 0, so no reweighting can make top-k unbiased; the
 * `"horvitz-thompson"` mask scale refuses top-k samples.
 *
 * @param p importance, finite and >= 0, not all zero.
 * @param k integer in [0, p.length].
 * @example
 * ```ts
 * sampleTopK([0.1, 0.5, 0.5, 0.2], 2).indices; // Int32Array [1, 2]
 * ```
 */
export function sampleTopK(p: ArrayLike<number>, k: number): UnitSample {
  const { q } = normalise("p", p);
  requireInt("k", k, 0, q.length);
  const order = Array.from({ length: q.length }, (_, i) => i).sort((a, b) =>
    q[a] > q[b] ? -1 : q[a] < q[b] ? 1 : a - b
  );
  return {
    indices: Int32Array.from(order.slice(0, k)),
    weights: new Float64Array(k).fill(1),
    kind: "topk",
  };
}

// ---------------------------------------------------------------------------------------------
// Systematic PPS

function systematicFromNormalised(q: number[], k: number): number[] {
  const n = q.length;
  const pi: number[] = new Array(n).fill(0);
  if (k === 0) return pi;
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (q[i] > 0) order.push(i);
  order.sort((a, b) => q[b] - q[a] || a - b);
  const m = order.length;
  // suffix[r] = sum of q over order[r..], accumulated from the smallest for accuracy
  const suffix: number[] = new Array(m + 1).fill(0);
  for (let r = m - 1; r >= 0; r--) suffix[r] = suffix[r + 1] + q[order[r]];
  // certainty units: while the largest remaining unit would get c p >= 1, give it pi = 1
  let cert = 0;
  let c = k / suffix[0];
  while (cert < k && cert < m && q[order[cert]] * c >= 1) {
    pi[order[cert]] = 1;
    cert++;
    c = cert < m ? (k - cert) / suffix[cert] : 0;
  }
  if (cert >= k) c = 0;
  for (let r = cert; r < m; r++) pi[order[r]] = Math.min(1, c * q[order[r]]);
  return pi;
}

/**
 * Exact inclusion probabilities of {@link sampleSystematic}: pi_j = min(1, c p_j) with c chosen
 * so that sum pi = k. Units whose c p_j >= 1 get pi = 1 and c is re-solved on the rest (iterated
 * over the units sorted by decreasing p: O(n log n)). Zero-p units get pi = 0.
 *
 * @param p importance, finite and >= 0, not all zero (normalised internally).
 * @param k integer in [0, p.length], at most the number of nonzero p unless `opts.onShortfall` is
 *   `"fill"` (then nonzero units get 1 and zero units (k - nnz)/(n - nnz)).
 * @example
 * ```ts
 * systematicInclusionProbabilities([6, 2, 1, 1], 2); // [1, 0.5, 0.25, 0.25]
 * ```
 */
export function systematicInclusionProbabilities(
  p: ArrayLike<number>,
  k: number,
  opts?: SampleOptions,
): Float64Array {
  const { q, nnz } = normalise("p", p);
  requireInt("k", k, 0, q.length);
  const mode = shortfallMode(opts);
  if (k > nnz) {
    if (mode === "error") throw shortfallError('"systematic" sampling', k, nnz);
    return shortfallProbabilities(q, k, nnz);
  }
  return Float64Array.from(systematicFromNormalised(q, k));
}

/** Inclusion probabilities under `onShortfall: "fill"`: 1 for nonzero units, (k-nnz)/(n-nnz) else. */
export function shortfallProbabilities(q: number[], k: number, nnz: number): Float64Array {
  const n = q.length;
  const pi = new Float64Array(n);
  for (let i = 0; i < n; i++) pi[i] = q[i] > 0 ? 1 : (k - nnz) / (n - nnz);
  return pi;
}

/**
 * Systematic probability-proportional-to-size sampling with exact inclusion probabilities
 * pi_j = min(1, c p_j), sum pi = k ({@link systematicInclusionProbabilities}). Units with pi = 1
 * are always taken; the others are put in a random (seeded) order, laid out as consecutive
 * intervals of lengths pi_j on [0, k'), and unit j is selected when a point u + m (u uniform in
 * [0, 1), m integer) falls in its interval. Exactly k distinct units are selected, each with
 * probability exactly pi_j (pairwise probabilities depend on the random order). HT weight 1/pi_j.
 * O(n log n).
 *
 * @param p importance, finite and >= 0, not all zero (normalised internally).
 * @param k integer in [0, p.length]; k = 0 gives an empty sample.
 * @param opts `onShortfall` for k > number of nonzero p (see {@link SampleOptions}).
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * const s = sampleSystematic([6, 2, 1, 1], 2, new Rng(3));
 * // unit 0 always; one of 1, 2, 3 with probabilities 0.5, 0.25, 0.25; weights 1/pi
 * ```
 */
export function sampleSystematic(
  p: ArrayLike<number>,
  k: number,
  rng: Rng,
  opts?: SampleOptions,
): UnitSample {
  const { q, nnz } = normalise("p", p);
  const n = q.length;
  requireInt("k", k, 0, n);
  const mode = shortfallMode(opts);
  if (k === 0) return emptySample("systematic");
  if (k > nnz) {
    if (mode === "error") throw shortfallError('"systematic" sampling', k, nnz);
    const nonzero: number[] = [];
    for (let i = 0; i < n; i++) if (q[i] > 0) nonzero.push(i);
    return fillSample(q, k, nonzero, rng, "systematic");
  }
  const pi = systematicFromNormalised(q, k);
  const indices = new Int32Array(k);
  const weights = new Float64Array(k);
  let count = 0;
  const rest: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pi[i] === 1) {
      indices[count] = i;
      weights[count++] = 1;
    } else if (pi[i] > 0) {
      rest.push(i);
    }
  }
  const kRest = k - count; // the rest's pi sum to kRest (up to rounding)
  if (kRest > 0) {
    rng.shuffle(rest);
    const u = rng.float();
    let m = 0; // next point: u + m
    let b = 0; // right end of the current interval
    for (let r = 0; r < rest.length && m < kRest; r++) {
      const j = rest[r];
      b = r === rest.length - 1 ? kRest : b + pi[j];
      // In exact arithmetic each interval (length < 1) holds at most one point and all kRest
      // points are hit; forcing the tail when units run short only guards against rounding.
      if (u + m < b || rest.length - r === kRest - m) {
        indices[count] = j;
        weights[count++] = 1 / pi[j];
        m++;
      }
    }
  }
  return { indices, weights, kind: "systematic" };
}

// ---------------------------------------------------------------------------------------------
// Dispatcher and layer sizes

/**
 * Draws k units with the design `kind` (see {@link SamplerKind}). `"uniform"` uses only p.length
 * and the entries' validity (an all-zero p is allowed there); `"topk"` ignores `rng` and `opts`.
 *
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * const rng = new Rng(0);
 * const s = sampleUnits("systematic", [3, 1, 0, 2], 2, rng);
 * ```
 */
export function sampleUnits(
  kind: SamplerKind,
  p: ArrayLike<number>,
  k: number,
  rng: Rng,
  opts?: SampleOptions,
): UnitSample {
  requireOneOf<SamplerKind>("kind", kind, SAMPLER_KINDS);
  switch (kind) {
    case "adaptive":
      return sampleSuccessive(p, k, rng, opts);
    case "systematic":
      return sampleSystematic(p, k, rng, opts);
    case "topk":
      return sampleTopK(p, k);
    case "uniform":
      requireNonNegativeVector("p", p);
      return sampleUniform(p.length, k, rng);
  }
}

/** Relative tolerance of {@link unitsToKeep}'s guard against rounding in rho * C. */
export const UNITS_TO_KEEP_REL_EPS = 1e-12;

/**
 * Number of units kept in a layer of C units at update ratio rho: ceil(rho * C) as in paper
 * Sec. 3.2.2 (|S| = ceil(rho |w|)), or floor(rho * C) as parts of the reference code do.
 * Floating-point guard: when rho * C is within a relative 1e-12 ({@link UNITS_TO_KEEP_REL_EPS}) of
 * an integer it is taken as that integer, so 0.3 * 10 = 3.0000000000000004 gives 3 (not 4) with
 * ceil and 0.29999999999999999 * 10 gives 3 with floor. Result clamped to [0, C]; with floor a
 * tiny rho may give 0.
 *
 * @param rho update ratio in (0, 1].
 * @param C number of units in the layer, integer >= 0.
 * @param rounding `"ceil"` (paper, default) or `"floor"` (reference code).
 * @example
 * ```ts
 * unitsToKeep(0.3, 10); // 3
 * unitsToKeep(0.25, 10); // 3
 * unitsToKeep(0.25, 10, "floor"); // 2
 * ```
 */
export function unitsToKeep(rho: number, C: number, rounding: "ceil" | "floor" = "ceil"): number {
  if (typeof rho !== "number" || !(rho > 0 && rho <= 1)) {
    throw new AmssArgumentError(`rho must be in (0, 1], got ${rho}`);
  }
  requireInt("C", C, 0);
  requireOneOf("rounding", rounding, ["ceil", "floor"]);
  const x = rho * C;
  const r = Math.round(x);
  let out: number;
  if (Math.abs(x - r) <= UNITS_TO_KEEP_REL_EPS * x) out = r;
  else out = rounding === "ceil" ? Math.ceil(x) : Math.floor(x);
  return Math.min(C, Math.max(0, out));
}
