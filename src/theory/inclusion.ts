/**
 * Exact inclusion probabilities of the engine's successive sampling ({@link sampleSuccessive},
 * `torch.multinomial` without replacement): {@link successiveInclusionProbabilities} by numerical
 * integration and {@link successiveInclusionBruteForce} by enumeration. They are what makes a
 * Horvitz-Thompson mask unbiased (paper App. A.2), and only the theory, the proofs and the tests
 * use them: the engine's samplers draw without them.
 *
 * @module
 */
import {
  normalise,
  shortfallError,
  type ShortfallMode,
  shortfallMode,
  shortfallProbabilities,
} from "../amss/sampling.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";

/** Options of {@link successiveInclusionProbabilities}. */
export interface InclusionOptions {
  /** As in {@link SampleOptions}; with `"fill"` nonzero units get pi = 1 and zero units (k-nnz)/(n-nnz). */
  onShortfall?: ShortfallMode;
  /** Absolute quadrature tolerance on the sum of the integrals (default 1e-11, in [1e-15, 1e-3]). */
  tolerance?: number;
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
