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

/** Options of {@link successiveInclusionProbabilities}. */
export interface InclusionOptions {
  /** As in {@link SampleOptions}; with `"fill"` nonzero units get pi = 1 and zero units (k-nnz)/(n-nnz). */
  onShortfall?: ShortfallMode;
  /** Absolute quadrature tolerance on the sum of the integrals (default 1e-11, in [1e-15, 1e-3]). */
  tolerance?: number;
}

// ---------------------------------------------------------------------------------------------
// Shared checks

interface Importance {
  /** p scaled to sum 1 (a plain array: small typed arrays are slow to allocate in V8). */
  q: number[];
  /** number of entries > 0. */
  nnz: number;
}

/** Validates p (non-empty, finite, >= 0, not all zero) and returns it normalised to sum 1. */
function normalise(name: string, p: ArrayLike<number>): Importance {
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

function shortfallMode(opts: { onShortfall?: ShortfallMode } | undefined): ShortfallMode {
  const mode = opts?.onShortfall ?? "error";
  return requireOneOf<ShortfallMode>("opts.onShortfall", mode, ["error", "fill"]);
}

function shortfallError(what: string, k: number, nnz: number): AmssArgumentError {
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

function shortfallProbabilities(q: number[], k: number, nnz: number): Float64Array {
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

// ---------------------------------------------------------------------------------------------
// Exact inclusion probabilities of successive sampling

const GL_ORDER = 10;
const [GL_X, GL_W] = gaussLegendre(GL_ORDER);

/** Gauss-Legendre nodes and weights on [-1, 1] by Newton iteration on P_m. */
function gaussLegendre(m: number): [Float64Array, Float64Array] {
  const x = new Float64Array(m);
  const w = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (m + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = z;
      for (let j = 2; j <= m; j++) {
        const p2 = ((2 * j - 1) * z * p1 - (j - 1) * p0) / j;
        p0 = p1;
        p1 = p2;
      }
      dp = (m * (z * p1 - p0)) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-15) {
        // one more derivative at the converged node
        p0 = 1;
        p1 = z;
        for (let j = 2; j <= m; j++) {
          const p2 = ((2 * j - 1) * z * p1 - (j - 1) * p0) / j;
          p0 = p1;
          p1 = p2;
        }
        dp = (m * (z * p1 - p0)) / (z * z - 1);
        break;
      }
    }
    x[i] = z;
    w[i] = 2 / ((1 - z * z) * dp * dp);
  }
  return [x, w];
}

/**
 * Integrand of pi_j in s = log t for every nonzero unit j:
 * f_j(s) = p_j t e^{-p_j t} P(N_{-j}(t) <= k - 1), t = e^s, where N_{-j}(t) counts the other units
 * whose key is below t (independent Bernoulli(q_i), q_i = 1 - e^{-p_i t}).
 */
class SuccessiveIntegrand {
  readonly #p: Float64Array;
  readonly #k: number;
  readonly #c: Float64Array;
  readonly #qq: Float64Array;
  readonly #P: Float64Array; // pmf of the arrived count, truncated at k (entries 0..k-1)
  readonly #Q: Float64Array; // pmf of the not-arrived count, truncated at nz-k (entries 0..nz-k-1)
  readonly #r: Float64Array;

  constructor(p: Float64Array, k: number) {
    const nz = p.length;
    this.#p = p;
    this.#k = k;
    this.#c = new Float64Array(nz);
    this.#qq = new Float64Array(nz);
    this.#P = new Float64Array(k);
    this.#Q = new Float64Array(nz - k);
    this.#r = new Float64Array(Math.max(k, nz - k));
  }

  /** Writes f_j(s) into out (length nz). */
  eval(s: number, out: Float64Array): void {
    const p = this.#p;
    const nz = p.length;
    const k = this.#k;
    const c = this.#c;
    const qq = this.#qq;
    const t = Math.exp(s);
    let anyLow = false;
    let anyHigh = false;
    for (let i = 0; i < nz; i++) {
      const a = p[i] * t;
      c[i] = Math.exp(-a);
      qq[i] = -Math.expm1(-a);
      if (qq[i] <= 0.5) anyLow = true;
      else anyHigh = true;
    }
    if (anyLow) poissonBinomial(qq, c, this.#P);
    if (anyHigh) poissonBinomial(c, qq, this.#Q);
    const r = this.#r;
    for (let j = 0; j < nz; j++) {
      let F: number;
      if (qq[j] <= 0.5) {
        // remove unit j from the arrived count: stable since q_j <= 1/2
        const P = this.#P;
        let sum = 0;
        r[0] = P[0] / c[j];
        sum = r[0];
        for (let m = 1; m < k; m++) {
          r[m] = (P[m] - qq[j] * r[m - 1]) / c[j];
          sum += r[m];
        }
        F = sum;
      } else {
        // remove unit j from the not-arrived count (success prob 1 - q_j < 1/2): stable;
        // N_{-j} <= k-1  <=>  M_{-j} >= nz - k, so F = 1 - P(M_{-j} <= nz - k - 1)
        const Q = this.#Q;
        const L = nz - k;
        r[0] = Q[0] / qq[j];
        let sum = r[0];
        for (let m = 1; m < L; m++) {
          r[m] = (Q[m] - c[j] * r[m - 1]) / qq[j];
          sum += r[m];
        }
        F = 1 - sum;
      }
      F = Math.min(1, Math.max(0, F));
      out[j] = p[j] * t * c[j] * F;
    }
  }
}

/**
 * Truncated Poisson-binomial pmf: out[m] = P(sum_i B_i = m) for m < out.length, with
 * B_i ~ Bernoulli(succ[i]) and fail[i] = 1 - succ[i] passed separately for accuracy. O(n L).
 */
function poissonBinomial(succ: Float64Array, fail: Float64Array, out: Float64Array): void {
  const L = out.length;
  out.fill(0);
  out[0] = 1;
  for (let i = 0; i < succ.length; i++) {
    const s = succ[i];
    const f = fail[i];
    for (let m = Math.min(i + 1, L - 1); m >= 1; m--) out[m] = out[m] * f + out[m - 1] * s;
    out[0] *= f;
  }
}

/**
 * EXACT inclusion probabilities of successive sampling ({@link sampleSuccessive}) by numerical
 * integration. With exponential keys, unit j is included iff its key is below the k-th smallest
 * key of the other units, so
 * pi_j = ∫_0^∞ p_j e^{-p_j t} P(N_{-j}(t) <= k-1) dt,
 * N_{-j}(t) a Poisson-binomial count with success probabilities 1 - e^{-p_i t} (p normalised).
 *
 * Method: [0, 1e-7] in closed form (there P(N_{-j} <= k-1) >= 1 - t^2 so the error is below
 * 1e-14); the upper limit T is doubled until e^{-p_min T} P(N(T) <= k) bounds the tail below
 * tolerance / 100; in between, s = log t is integrated by adaptive composite 10-point
 * Gauss-Legendre (a panel is bisected until whole-vs-halves differ by less than its share of
 * `tolerance`, max over all units at once). At each node the Poisson-binomial pmf of all nonzero
 * units is computed once, truncated at k (O(n k)), and unit j is removed by forward deconvolution
 * r(m) = (P(m) - q_j r(m-1)) / (1 - q_j), stable for q_j <= 1/2; for q_j > 1/2 the same is done
 * on the complementary count of units not yet arrived (truncated at n - k), where it is stable.
 *
 * Cost: O(M n^2) with M the number of nodes (a few hundred to a few thousand; more for large k,
 * whose transitions in log t are sharp, of width about 1/sqrt(min(k, n - k))). Accuracy: about
 * 1e-12 absolute against brute-force enumeration in the tests (n <= 8); sum pi = k to ~1e-11.
 *
 * @param p importance, finite and >= 0, not all zero (normalised internally). Zero units get 0.
 * @param k integer in [0, p.length]; k > number of nonzero p throws unless `opts.onShortfall`
 *   is `"fill"` (nonzero units then get 1, zero units (k - nnz)/(n - nnz)).
 * @example
 * ```ts
 * const pi = successiveInclusionProbabilities([0.5, 0.3, 0.2], 2);
 * // pi sums to 2; pi[0] = 0.5 + 0.3*0.5/0.7 + 0.2*0.5/0.8 ≈ 0.8393
 * ```
 */
export function successiveInclusionProbabilities(
  p: ArrayLike<number>,
  k: number,
  opts?: InclusionOptions,
): Float64Array {
  const { q, nnz } = normalise("p", p);
  const n = q.length;
  requireInt("k", k, 0, n);
  const mode = shortfallMode(opts);
  const tol = opts?.tolerance ?? 1e-11;
  if (typeof tol !== "number" || !(tol >= 1e-15 && tol <= 1e-3)) {
    throw new AmssArgumentError(`opts.tolerance must be in [1e-15, 1e-3], got ${tol}`);
  }
  const pi = new Float64Array(n);
  if (k === 0) return pi;
  if (k > nnz) {
    if (mode === "error") throw shortfallError("successive sampling", k, nnz);
    return shortfallProbabilities(q, k, nnz);
  }
  const nzIdx: number[] = [];
  for (let i = 0; i < n; i++) if (q[i] > 0) nzIdx.push(i);
  if (k === nnz) {
    for (const i of nzIdx) pi[i] = 1;
    return pi;
  }
  const pz = Float64Array.from(nzIdx, (i) => q[i]);
  let pmin = Infinity;
  for (const v of pz) pmin = Math.min(pmin, v);

  // upper limit: tail_j <= e^{-p_j T} P(N_{-j}(T) <= k-1) <= e^{-p_min T} P(N_all(T) <= k)
  const tLo = 1e-7;
  const cdf = new Float64Array(k + 1);
  const cc = new Float64Array(nnz);
  const qq = new Float64Array(nnz);
  let tHi = 1;
  for (; tHi < 8e307; tHi *= 2) {
    for (let i = 0; i < nnz; i++) {
      cc[i] = Math.exp(-pz[i] * tHi);
      qq[i] = -Math.expm1(-pz[i] * tHi);
    }
    poissonBinomial(qq, cc, cdf);
    let mass = 0;
    for (let m = 0; m <= k; m++) mass += cdf[m];
    if (Math.exp(-pmin * tHi) * Math.min(1, mass) <= tol / 100) break;
  }

  const f = new SuccessiveIntegrand(pz, k);
  const acc = new Float64Array(nnz);
  for (let j = 0; j < nnz; j++) acc[j] = -Math.expm1(-pz[j] * tLo);
  const A = Math.log(tLo);
  const B = Math.log(tHi);
  const fx = new Float64Array(nnz);
  const panel = (a: number, b: number): Float64Array => {
    const out = new Float64Array(nnz);
    const mid = (a + b) / 2;
    const half = (b - a) / 2;
    for (let i = 0; i < GL_ORDER; i++) {
      f.eval(mid + half * GL_X[i], fx);
      const w = GL_W[i] * half;
      for (let j = 0; j < nnz; j++) out[j] += w * fx[j];
    }
    return out;
  };
  let budget = 100_000; // bisections; a safety net against pathological integrands
  const refine = (a: number, b: number, whole: Float64Array, depth: number): void => {
    const mid = (a + b) / 2;
    const left = panel(a, mid);
    const right = panel(mid, b);
    let err = 0;
    for (let j = 0; j < nnz; j++) err = Math.max(err, Math.abs(left[j] + right[j] - whole[j]));
    budget--;
    if (err <= (tol * (b - a)) / (B - A) || depth >= 40 || budget <= 0) {
      for (let j = 0; j < nnz; j++) acc[j] += left[j] + right[j];
      return;
    }
    refine(a, mid, left, depth + 1);
    refine(mid, b, right, depth + 1);
  };
  const panels = Math.max(1, Math.ceil(B - A));
  for (let i = 0; i < panels; i++) {
    const a = A + ((B - A) * i) / panels;
    const b = A + ((B - A) * (i + 1)) / panels;
    refine(a, b, panel(a, b), 0);
  }
  for (let j = 0; j < nnz; j++) pi[nzIdx[j]] = Math.min(1, Math.max(0, acc[j]));
  return pi;
}

/**
 * Exact inclusion probabilities of successive sampling by enumerating every sequence of draws
 * (draw i picks unit j with probability p_j / (mass not yet drawn)); sequences are aggregated by
 * the set drawn so far, which is exact and costs O(2^n n). For tests: n <= 10, else it throws.
 *
 * @param p importance, finite and >= 0, not all zero, length <= 10.
 * @param k integer in [0, number of nonzero p].
 * @example
 * ```ts
 * successiveInclusionBruteForce([0.5, 0.3, 0.2], 1); // [0.5, 0.3, 0.2]
 * ```
 */
export function successiveInclusionBruteForce(p: ArrayLike<number>, k: number): Float64Array {
  if (p.length > 10) {
    throw new AmssArgumentError(`p must have at most 10 entries for brute force, got ${p.length}`);
  }
  const { q, nnz } = normalise("p", p);
  const n = q.length;
  requireInt("k", k, 0, n);
  if (k > nnz) throw shortfallError("successive sampling", k, nnz);
  const size = 1 << n;
  const prob = new Float64Array(size);
  const pop = new Int32Array(size);
  for (let s = 1; s < size; s++) pop[s] = pop[s >> 1] + (s & 1);
  prob[0] = 1;
  const pi = new Float64Array(n);
  for (let s = 0; s < size; s++) {
    if (prob[s] === 0) continue;
    if (pop[s] === k) {
      for (let j = 0; j < n; j++) if (s & (1 << j)) pi[j] += prob[s];
      continue;
    }
    let rest = 0;
    for (let j = 0; j < n; j++) if (!(s & (1 << j))) rest += q[j];
    for (let j = 0; j < n; j++) {
      if (!(s & (1 << j)) && q[j] > 0) prob[s | (1 << j)] += (prob[s] * q[j]) / rest;
    }
  }
  return pi;
}
