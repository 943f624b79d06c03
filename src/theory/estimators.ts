/**
 * Estimators of the constants Theorems 3 and 4 assume (App. A.1, A.2), at given points w:
 *
 * - the mean E[g ⊙ m] and bias b(w) = E[g ⊙ m] - grad L(w) (Eq. 9; Eq. 23 asks b = 0),
 * - the variance E||g ⊙ m - E[g ⊙ m]||^2 (Eq. 10 / Eq. 24),
 * - the mask-incurred error ratio ||E[g ⊙ m - g]|| / ||E[g]|| (Assumption 3, Eq. 11), whose
 *   maximum over the points is our delta,
 * - and the pair (nu, sigma^2) of Assumption 2 / 4 that makes the variance inequality hold at every
 *   measured point.
 *
 * Expectations are over BOTH the oracle noise and the mask draw. Method (Rao-Blackwellised Monte
 * Carlo): for each outer draw of the noise xi, g = grad L + xi, and the mask's conditional moments
 * E[m_i | g] and E[m_i^2 | g] are computed EXACTLY where the design allows it: inclusion
 * probabilities pi_j of successive sampling by quadrature (`successiveInclusionProbabilities`), of
 * systematic sampling in closed form, k/C for uniform subsets; the mask value is then a known
 * function of the unit (1, 1/p_j, 1/(p_j + 1/C), 1/pi_j) and E[m_j | g] = pi_j s_j,
 * E[m_j^2 | g] = pi_j s_j^2. The one exception is the Horvitz-Thompson weight of successive
 * sampling (rank conditioning): E[m_j | g] = 1 exactly, its second moment by an inner Monte Carlo
 * over mask draws. Noise draws come in antithetic pairs (xi, -xi): the importance depends on g^2
 * only, so at grad L = 0 the pair's noise cancels exactly, and near it almost; this keeps the bias
 * estimate accurate at points with a small gradient, where delta is a ratio of small numbers.
 *
 * Squared norms of means are debiased: with N i.i.d. pair averages u_i of X = g ⊙ E[m | g],
 * ||mean(u)||^2 - tr(S_u) / N (S_u the sample covariance) is unbiased for ||E X||^2; the same
 * correction applies to ||b||^2.
 *
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * import {
 *   gaussianOracle,
 *   METHODS,
 *   pointMoments,
 *   quadraticObjective,
 *   uniformLayout,
 * } from "@amss-ts/amss/theory";
 * const f = quadraticObjective({ layout: uniformLayout(["a"], 1, 10, 4), smoothness: 1, seed: 0 });
 * const mo = pointMoments(f.start, {
 *   oracle: gaussianOracle(f, { sigma2: 1 }),
 *   method: METHODS.uniform,
 *   ratios: [0.3],
 *   pairs: 16,
 *   rng: new Rng(1),
 * });
 * mo.delta; // 0.7 = 1 - k/C exactly for uniform 0/1 masks
 * ```
 * @module
 */

import { Rng } from "../rng.ts";
import { systematicInclusionProbabilities } from "../amss/sampling.ts";
import { successiveInclusionProbabilities } from "./inclusion.ts";
import { AmssArgumentError, requireFinite, requireInt } from "../validate.ts";
import type { Layout } from "./objectives.ts";
import type { GradientOracle } from "./oracle.ts";
import {
  keptPerLayer,
  layerImportance,
  layerUnitMask,
  type MaskConfig,
  maskedSgd,
  theorem3Bound,
  theorem4Bound,
} from "./masked_sgd.ts";

/** Options of {@link conditionalMaskMoments}. */
export interface ConditionalMomentOptions {
  /** Compute E[m | g] and E[m^2 | g] exactly where possible (default true); false: inner Monte Carlo only. */
  exact?: boolean;
  /** Inner mask draws for the moments that have no closed form (default 64). */
  innerDraws?: number;
  /** Quadrature tolerance of the successive inclusion probabilities (default 1e-9). */
  tolerance?: number;
}

/** Per-coordinate conditional mask moments given the stochastic gradient g. */
export interface ConditionalMoments {
  /** E[m_i | g]. */
  mean: Float64Array;
  /** E[m_i^2 | g]. */
  second: Float64Array;
}

/**
 * E[m_i | g] and E[m_i^2 | g] for every coordinate (see the module doc for the method).
 * `config = null` (plain SGD): both all ones.
 *
 * @param layout coordinate layout.
 * @param g the stochastic gradient (the importance is its square per unit).
 * @param config mask method.
 * @param k units kept per layer (from `keptPerLayer`).
 * @param rng generator for the inner Monte Carlo (used only where no closed form exists).
 * @param opts exactness and inner draws.
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * import { METHODS, uniformLayout } from "@amss-ts/amss/theory";
 * const lay = uniformLayout(["a"], 1, 4, 1);
 * const mo = conditionalMaskMoments(lay, Float64Array.from([1, 2, 3, 4]), METHODS.uniform, [2], new Rng(0));
 * // mo.mean = [0.5, 0.5, 0.5, 0.5]
 * ```
 */
export function conditionalMaskMoments(
  layout: Layout,
  g: Float64Array,
  config: MaskConfig | null,
  k: readonly number[],
  rng: Rng,
  opts: ConditionalMomentOptions = {},
): ConditionalMoments {
  const d = layout.dim;
  const mean = new Float64Array(d);
  const second = new Float64Array(d);
  if (config === null) return { mean: mean.fill(1), second: second.fill(1) };
  const exact = opts.exact ?? true;
  const inner = requireInt("opts.innerDraws", opts.innerDraws ?? 64, 1);
  const tolerance = opts.tolerance ?? 1e-9;
  const off = layout.unitOffsets;
  layout.layers.forEach((layer, li) => {
    const C = layer.units;
    const [p] = layerImportance(layout, li, g);
    const kl = k[li];
    const um = new Float64Array(C);
    const us = new Float64Array(C);
    const rankHT = config.sampler === "adaptive" && config.scale === "horvitz-thompson";
    const closed = exact && config.sampler !== "topk";
    if (closed) {
      // inclusion probabilities pi_j of the design (with the engine's shortfall fill)
      let nnz = 0;
      for (let j = 0; j < C; j++) if (p[j] > 0) nnz++;
      let pi: Float64Array;
      if (config.sampler === "uniform") pi = new Float64Array(C).fill(kl / C);
      else if (config.sampler === "systematic") {
        pi = systematicInclusionProbabilities(p, kl, { onShortfall: "fill" });
      } else if (kl >= nnz) {
        // every nonzero unit is taken; the fill draws the rest uniformly among the zero units
        pi = p.map((v) => (v > 0 ? 1 : (kl - nnz) / (C - nnz)));
      } else if (rankHT) {
        pi = new Float64Array(C); // not needed: E[m_j | g] = 1 for every unit with p_j > 0
      } else pi = successiveInclusionProbabilities(p, kl, { tolerance });
      for (let j = 0; j < C; j++) {
        let s: number; // the mask value of unit j when selected
        switch (config.scale) {
          case "none":
            s = 1;
            break;
          case "paper":
            s = p[j] > 0 ? 1 / p[j] : 1; // engine: a filled zero-importance unit gets 1
            break;
          case "reference":
            s = 1 / (p[j] + 1 / C);
            break;
          case "horvitz-thompson":
            if (config.sampler === "uniform") s = kl > 0 ? C / kl : 1;
            else if (config.sampler === "systematic") s = kl > nnz || !(pi[j] > 0) ? 1 : 1 / pi[j];
            else s = NaN; // rank conditioning: random weight, handled below
            break;
        }
        if (rankHT) {
          // E[w_j 1{j in S} | g] = 1 exactly for p_j > 0 (rank conditioning, App. A.2's E[m_j] = 1);
          // when every nonzero unit is taken (k >= nnz) all weights are 1 and E = pi_j.
          um[j] = kl >= nnz || p[j] === 0 ? pi[j] : 1;
        } else {
          um[j] = pi[j] * s;
          us[j] = pi[j] * s * s;
        }
      }
    }
    if (!closed || rankHT) {
      const accM = new Float64Array(C);
      const accS = new Float64Array(C);
      for (let r = 0; r < inner; r++) {
        const m = layerUnitMask(config, p, kl, rng);
        for (let j = 0; j < C; j++) {
          accM[j] += m[j];
          accS[j] += m[j] * m[j];
        }
      }
      for (let j = 0; j < C; j++) {
        if (!closed) um[j] = accM[j] / inner;
        us[j] = accS[j] / inner;
      }
    }
    for (let j = 0; j < C; j++) {
      const u = layer.firstUnit + j;
      mean.fill(um[j], off[u], off[u + 1]);
      second.fill(us[j], off[u], off[u + 1]);
    }
  });
  return { mean, second };
}

/** Options of {@link pointMoments}. */
export interface PointMomentOptions extends ConditionalMomentOptions {
  /** The oracle (carries the objective). */
  oracle: GradientOracle;
  /** Mask method; null for plain SGD. */
  method: MaskConfig | null;
  /** Update ratio per modality (default all 1). */
  ratios?: ArrayLike<number>;
  /** Number of antithetic noise pairs N (2N oracle draws), integer >= 2. */
  pairs: number;
  /** Generator for the noise and the inner mask draws. */
  rng: Rng;
  /** Units kept per layer: ceil (default) or floor. */
  rounding?: "ceil" | "floor";
}

/** The moments of g ⊙ m at one point w (see the module doc). */
export interface PointMoments {
  /** ||grad L(w)||^2 (exact). */
  gradNorm2: number;
  /** ||E[g ⊙ m]||^2 = ||grad L + b||^2 (debiased estimate; Eq. 10's reference). */
  meanNorm2: number;
  /** E||g ⊙ m - E[g ⊙ m]||^2 (Eq. 10 / Eq. 24 left-hand side). */
  variance: number;
  /** ||b(w)|| = ||E[g ⊙ m] - grad L(w)|| (Eq. 9; debiased, clamped at 0). */
  biasNorm: number;
  /** ||b|| / ||grad L||: the ratio Assumption 3 (Eq. 11) bounds by delta; Infinity when grad L = 0 and b != 0. */
  delta: number;
  /** The same ratio without the debiasing of ||b||^2 (an upper-biased plug-in). */
  deltaPlugIn: number;
  /** Standard error of the ratio from the Monte Carlo (sqrt(tr(S_u)/N) / ||grad L||). */
  deltaStdErr: number;
  /** <E[g ⊙ m], grad L> / ||grad L||^2: the gain of the mean update along the gradient. */
  gain: number;
  /** Cosine of the angle between E[g ⊙ m] and grad L. */
  cosine: number;
  /** Number of oracle draws used (2N). */
  draws: number;
}

/**
 * Monte Carlo (Rao-Blackwellised, antithetic) moments of g ⊙ m at the point w.
 *
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * import { gaussianOracle, logSumObjective, METHODS, uniformLayout } from "@amss-ts/amss/theory";
 * const f = logSumObjective({ layout: uniformLayout(["a"], 1, 8, 4), smoothness: 1, seed: 0 });
 * const mo = pointMoments(f.start, {
 *   oracle: gaussianOracle(f, { sigma2: 0.1 }), method: METHODS["amss+ht"], ratios: [0.5],
 *   pairs: 8, rng: new Rng(2),
 * });
 * mo.biasNorm; // 0: HT masks are unbiased given g, and the pairs cancel the noise
 * ```
 */
export function pointMoments(w: Float64Array, opts: PointMomentOptions): PointMoments {
  const { oracle, method, rng } = opts;
  const f = oracle.objective;
  const layout = f.layout;
  const d = f.dim;
  const N = requireInt("opts.pairs", opts.pairs, 2);
  const k = keptPerLayer(layout, opts.ratios ?? layout.modalities.map(() => 1), opts.rounding);
  const grad = f.gradient(w);
  let gradNorm2 = 0;
  for (let i = 0; i < d; i++) gradNorm2 += grad[i] * grad[i];
  const xi = new Float64Array(d);
  const g = new Float64Array(d);
  const u = new Float64Array(d);
  const sumU = new Float64Array(d);
  let sumU2 = 0; // sum_i ||u_i||^2
  let second = 0; // sum over draws of E[||g ⊙ m||^2 | g]
  for (let n = 0; n < N; n++) {
    oracle.noise(rng, xi);
    u.fill(0);
    for (const sign of [1, -1]) {
      for (let i = 0; i < d; i++) g[i] = grad[i] + sign * xi[i];
      const mo = conditionalMaskMoments(layout, g, method, k, rng, opts);
      for (let i = 0; i < d; i++) {
        u[i] += 0.5 * g[i] * mo.mean[i];
        second += g[i] * g[i] * mo.second[i];
      }
    }
    let un = 0;
    for (let i = 0; i < d; i++) {
      sumU[i] += u[i];
      un += u[i] * u[i];
    }
    sumU2 += un;
  }
  let meanPlug = 0;
  let biasPlug = 0;
  let dot = 0;
  for (let i = 0; i < d; i++) {
    const mu = sumU[i] / N;
    meanPlug += mu * mu;
    biasPlug += (mu - grad[i]) ** 2;
    dot += mu * grad[i];
  }
  // tr(S_u) = (sum ||u_i||^2 - N ||mean u||^2) / (N - 1); the mean's MC variance is tr(S_u) / N
  const trS = Math.max(0, (sumU2 - N * meanPlug) / (N - 1));
  const mcVar = trS / N;
  const meanNorm2 = Math.max(0, meanPlug - mcVar);
  const bias2 = Math.max(0, biasPlug - mcVar);
  const secondMoment = second / (2 * N);
  const gnorm = Math.sqrt(gradNorm2);
  const ratio = (x: number) => (gnorm > 0 ? x / gnorm : x > 0 ? Infinity : 0);
  return {
    gradNorm2,
    meanNorm2,
    variance: Math.max(0, secondMoment - meanNorm2),
    biasNorm: Math.sqrt(bias2),
    delta: ratio(Math.sqrt(bias2)),
    deltaPlugIn: ratio(Math.sqrt(biasPlug)),
    deltaStdErr: ratio(Math.sqrt(mcVar)),
    gain: gradNorm2 > 0 ? dot / gradNorm2 : NaN,
    cosine: gradNorm2 > 0 && meanNorm2 > 0 ? dot / (gnorm * Math.sqrt(meanNorm2)) : NaN,
    draws: 2 * N,
  };
}

/** One measured point for the variance fit: reference x (||E[g ⊙ m]||^2 or ||grad L||^2) and variance V. */
export interface VariancePoint {
  /** Eq. 10: ||grad L + b||^2; Eq. 24: ||grad L||^2. */
  reference: number;
  /** E||g ⊙ m - E[g ⊙ m]||^2. */
  variance: number;
}

/**
 * Which squared norm Assumption 2 / 4 scales nu by: `"mean"` = ||grad L + b||^2 = ||E[g ⊙ m]||^2
 * (Eq. 10, Theorem 3) or `"gradient"` = ||grad L||^2 (Eq. 24, Theorem 4).
 */
export type VarianceReference = "mean" | "gradient";

/**
 * Turns measured moments into {@link VariancePoint}s with the given reference.
 *
 * @example
 * ```ts
 * varianceProfile([{ gradNorm2: 4, meanNorm2: 1, variance: 2 } as PointMoments], "mean");
 * // [{ reference: 1, variance: 2 }]
 * ```
 */
export function varianceProfile(
  moments: readonly PointMoments[],
  reference: VarianceReference,
): VariancePoint[] {
  return moments.map((m) => ({
    reference: reference === "mean" ? m.meanNorm2 : m.gradNorm2,
    variance: m.variance,
  }));
}

/**
 * The smallest sigma^2 that makes V_i <= nu x_i + sigma^2 hold at every point (Eq. 10 / Eq. 24 for
 * a fixed nu): the upper envelope max_i (V_i - nu x_i), clamped at 0.
 *
 * @example
 * ```ts
 * sigma2Envelope([{ reference: 1, variance: 3 }, { reference: 4, variance: 5 }], 1); // 2
 * ```
 */
export function sigma2Envelope(points: readonly VariancePoint[], nu: number): number {
  requireFinite("nu", nu);
  if (nu < 0) throw new AmssArgumentError(`nu must be >= 0, got ${nu}`);
  if (points.length === 0) throw new AmssArgumentError("points must not be empty");
  let s = 0;
  for (const p of points) s = Math.max(s, p.variance - nu * p.reference);
  return s;
}

/** A (nu, sigma^2) pair for Assumption 2 / 4, and how it was chosen. */
export interface VarianceConstants {
  nu: number;
  sigma2: number;
  method: "regression" | "tightest";
}

/**
 * A (nu, sigma^2) pair under which Assumption 2 / 4 holds at every measured point.
 *
 * The valid pairs form the region sigma^2 >= max_i (V_i - nu x_i): not one "smallest" pair but a
 * Pareto front (more nu, less sigma^2). Two rules pick a point on it, and both then take sigma^2 as
 * the upper envelope at that nu ({@link sigma2Envelope}), because the assumption must hold at ALL
 * points (a plain regression line would be violated at about half of them):
 *
 * - `"regression"` (default): nu = least-squares slope of V on x (clamped at 0), the trend of the
 *   variance with the squared norm (a regression of the measured variance on ||grad L||^2).
 * - `"tightest"` (give `initialTerm` = 2 L L(w(1))): the nu that minimises the theorems' bound
 *   2 (1 + nu) L L(w(1)) + sigma^2(nu) / (1 + nu) (Eq. 12 / Eq. 25 times sqrt(T)(1 - delta^2)), so the
 *   check uses the smallest bound the theorem offers for these measurements: the strictest test.
 *   sigma^2(nu) is piecewise linear; on a piece where point i is active the bound is convex in
 *   1 + nu with minimiser sqrt((V_i + x_i) / (2 L L(w(1)))), so the minimum is at 0, a breakpoint
 *   (a slope between two points) or one of those stationary points; all are evaluated.
 *
 * @example
 * ```ts
 * const pts = [{ reference: 1, variance: 2 }, { reference: 3, variance: 4 }];
 * fitVarianceConstants(pts); // { nu: 1, sigma2: 1, method: "regression" }
 * ```
 */
export function fitVarianceConstants(
  points: readonly VariancePoint[],
  opts: { method?: "regression" | "tightest"; initialTerm?: number } = {},
): VarianceConstants {
  if (points.length === 0) throw new AmssArgumentError("points must not be empty");
  points.forEach((p, i) => {
    requireFinite(`points[${i}].reference`, p.reference);
    requireFinite(`points[${i}].variance`, p.variance);
  });
  const method = opts.method ?? "regression";
  if (method === "regression") {
    const n = points.length;
    let mx = 0;
    let my = 0;
    for (const p of points) {
      mx += p.reference / n;
      my += p.variance / n;
    }
    let sxx = 0;
    let sxy = 0;
    for (const p of points) {
      sxx += (p.reference - mx) ** 2;
      sxy += (p.reference - mx) * (p.variance - my);
    }
    const nu = sxx > 0 ? Math.max(0, sxy / sxx) : 0;
    return { nu, sigma2: sigma2Envelope(points, nu), method };
  }
  if (method !== "tightest") {
    throw new AmssArgumentError(`opts.method must be "regression" or "tightest", got ${method}`);
  }
  const c = requireFinite("opts.initialTerm", opts.initialTerm as number);
  if (!(c > 0)) throw new AmssArgumentError(`opts.initialTerm must be > 0, got ${c}`);
  const candidates = [0];
  for (let i = 0; i < points.length; i++) {
    const a = points[i];
    const st = Math.sqrt((a.variance + a.reference) / c) - 1;
    if (st > 0) candidates.push(st);
    for (let j = i + 1; j < points.length; j++) {
      const b = points[j];
      const dx = a.reference - b.reference;
      if (dx !== 0) {
        const slope = (a.variance - b.variance) / dx;
        if (slope > 0 && Number.isFinite(slope)) candidates.push(slope);
      }
    }
  }
  let best = { nu: 0, sigma2: sigma2Envelope(points, 0) };
  let bestVal = Infinity;
  for (const nu of candidates) {
    const s2 = sigma2Envelope(points, nu);
    const val = c * (1 + nu) + s2 / (1 + nu);
    if (val < bestVal) {
      bestVal = val;
      best = { nu, sigma2: s2 };
    }
  }
  return { ...best, method };
}

/** Options of {@link estimateConstants}. */
export interface EstimateOptions extends PointMomentOptions {
  /** Eq. 10 (`"mean"`, Theorem 3) or Eq. 24 (`"gradient"`, Theorem 4). */
  reference: VarianceReference;
  /** How to choose nu (see {@link fitVarianceConstants}); default `"regression"`. */
  fit?: "regression" | "tightest";
  /** 2 L L(w(1)), required for `fit: "tightest"`. */
  initialTerm?: number;
  /** Use this nu (e.g. the one a run's step size used) and fit only sigma^2 (upper envelope). */
  nu?: number;
}

/** The assumed constants measured over a set of points. */
export interface MeasuredConstants {
  /** nu (Assumption 2 / 4). */
  nu: number;
  /** sigma^2 (Assumption 2 / 4): upper envelope at nu. */
  sigma2: number;
  /** max over the points of ||b|| / ||grad L|| (Assumption 3's delta, debiased estimate). */
  delta: number;
  /** The same with the plug-in ratio (no debiasing; upper-biased). */
  deltaPlugIn: number;
  /** Largest Monte Carlo standard error of the per-point ratio. */
  deltaStdErr: number;
  /** max over the points of ||b|| / ||grad L|| for Theorem 4's unbiasedness (Eq. 23): same as delta. */
  maxRelativeBias: number;
  /** Smallest gain <E[g ⊙ m], grad L> / ||grad L||^2 over the points. */
  gainMin: number;
  /** Largest gain over the points. */
  gainMax: number;
  /** Smallest cosine between E[g ⊙ m] and grad L over the points. */
  cosineMin: number;
  /** The per-point moments. */
  moments: PointMoments[];
}

/**
 * Measures {@link PointMoments} at every point and reduces them to the theorems' constants:
 * delta = max_i ||b_i|| / ||grad L_i|| (Assumption 3 must hold at every point), (nu, sigma^2) by
 * {@link fitVarianceConstants} (or sigma^2 alone at a given nu).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { Rng } from "@amss-ts/amss";
 * import {
 *   gaussianOracle,
 *   logSumObjective,
 *   maskedSgd,
 *   METHODS,
 *   uniformLayout,
 * } from "@amss-ts/amss/theory";
 * const layout = uniformLayout(["a", "v"], 1, 6, 2);
 * const f = logSumObjective({ layout, smoothness: 1, seed: 1 });
 * const oracle = gaussianOracle(f, { sigma2: 1 });
 * const method = METHODS["amss+ht"], ratios = [0.5, 0.75];
 * const run = maskedSgd({ oracle, method, ratios, T: 50, seed: 2, keepPoints: 3 });
 * const c = estimateConstants(run.points.map((p) => p.w), {
 *   oracle,
 *   method,
 *   ratios,
 *   pairs: 8,
 *   rng: new Rng(3),
 *   reference: "mean",
 * });
 * assert(c.moments.length === 3 && c.sigma2 >= 0);
 * ```
 */
export function estimateConstants(
  points: readonly Float64Array[],
  opts: EstimateOptions,
): MeasuredConstants {
  if (points.length === 0) throw new AmssArgumentError("points must not be empty");
  const moments = points.map((w) => pointMoments(w, opts));
  return summariseMoments(moments, opts);
}

/**
 * Reduces already measured moments to the constants (see {@link estimateConstants}); lets callers
 * pool points from several runs.
 */
export function summariseMoments(
  moments: readonly PointMoments[],
  opts: {
    reference: VarianceReference;
    fit?: "regression" | "tightest";
    initialTerm?: number;
    nu?: number;
  },
): MeasuredConstants {
  if (moments.length === 0) throw new AmssArgumentError("moments must not be empty");
  const prof = varianceProfile(moments, opts.reference);
  const fitted = opts.nu !== undefined
    ? { nu: opts.nu, sigma2: sigma2Envelope(prof, opts.nu) }
    : fitVarianceConstants(prof, { method: opts.fit, initialTerm: opts.initialTerm });
  const usable = moments.filter((m) => m.gradNorm2 > 0);
  const max = (f: (m: PointMoments) => number) =>
    usable.reduce((a, m) => Math.max(a, f(m)), usable.length ? -Infinity : 0);
  const min = (f: (m: PointMoments) => number) =>
    usable.reduce((a, m) => Math.min(a, f(m)), usable.length ? Infinity : 0);
  const delta = max((m) => m.delta);
  return {
    nu: fitted.nu,
    sigma2: fitted.sigma2,
    delta,
    deltaPlugIn: max((m) => m.deltaPlugIn),
    deltaStdErr: max((m) => m.deltaStdErr),
    maxRelativeBias: delta,
    gainMin: min((m) => m.gain),
    gainMax: max((m) => m.gain),
    cosineMin: min((m) => m.cosine),
    moments: [...moments],
  };
}

/**
 * Both theorems' bounds with measured constants: Eq. 12 (divided by 1 - delta^2; Infinity when
 * delta >= 1) and Eq. 25.
 *
 * @example
 * ```ts
 * boundsFor({ L: 1, initialGap: 1, nu: 0, sigma2: 0, T: 4, delta: 0.5 });
 * // { theorem3: 1 / 0.75, theorem4: 1 }
 * ```
 */
export function boundsFor(
  c: { L: number; initialGap: number; nu: number; sigma2: number; T: number; delta: number },
): { theorem3: number; theorem4: number } {
  return { theorem3: theorem3Bound(c), theorem4: theorem4Bound(c) };
}

// ---------------------------------------------------------------------------------------------
// Bound experiments

/** Options of {@link convergenceExperiment}. */
export interface ExperimentOptions {
  /** The oracle (carries the objective, its L and its start). */
  oracle: GradientOracle;
  /** Mask method; null for plain SGD. */
  method: MaskConfig | null;
  /** Update ratio per modality (default all 1). */
  ratios?: ArrayLike<number>;
  /** Horizons T to run (each with eta = 1/((1 + nu) L sqrt(T))). */
  Ts: readonly number[];
  /** Independent runs per horizon (their mean estimates the expectation the theorems bound). */
  seeds: number;
  /** Base seed (runs, pilot and Monte Carlo draws derive theirs from it). */
  seed: number;
  /** Eq. 10 (`"mean"`, Theorem 3) or Eq. 24 (`"gradient"`, Theorem 4). */
  reference: VarianceReference;
  /** Antithetic noise pairs per measured point. */
  pairs: number;
  /** Points measured per trajectory (evenly spaced, t = 1 included). */
  points: number;
  /** Horizon of the pilot run that fixes nu (default the largest T). */
  pilotT?: number;
  /** Fixed nu (skips the pilot fit). */
  nu?: number;
  /** Conditional-moment options (exactness, inner draws). */
  moments?: ConditionalMomentOptions;
}

/** One horizon of a {@link convergenceExperiment}. */
export interface ExperimentRow {
  /** Horizon T. */
  T: number;
  /** Step size used. */
  eta: number;
  /** (1/T) sum_t ||grad L(w(t))||^2 of every run. */
  runs: number[];
  /** Mean over runs (estimates the expectation bounded by Eq. 12 / Eq. 25). */
  mean: number;
  /** Standard error of the mean. */
  stdErr: number;
  /** Theorem 3's bound (Eq. 12) with the measured constants (Infinity if delta >= 1). */
  bound3: number;
  /** Theorem 4's bound (Eq. 25) with the measured constants. */
  bound4: number;
  /** True when some run diverged. */
  diverged: boolean;
}

/** Result of {@link convergenceExperiment}. */
export interface ExperimentResult {
  /** Smoothness constant L. */
  L: number;
  /** L(w(1)) - inf L = L(w(1)) (inf L = 0 for every objective of the kit). */
  initialGap: number;
  /** Constants pooled over the pilot's and the runs' measured points (nu fixed by the pilot). */
  constants: MeasuredConstants;
  /** One row per horizon. */
  rows: ExperimentRow[];
  /** Number of points the constants were measured at. */
  measuredPoints: number;
}

/**
 * The theorems' experiment: (1) a pilot run with nu = 0 gives trajectory points where the moments
 * are measured, and nu is fitted as the `"tightest"` choice ({@link fitVarianceConstants});
 * (2) for every T, `seeds` runs with eta = 1/((1 + nu) L sqrt(T)); points of the first run of
 * every T are measured too; (3) sigma^2 = upper envelope at that nu over ALL measured points,
 * delta = max of ||b|| / ||grad L|| over them; (4) both bounds per T.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { gaussianOracle, logSumObjective, METHODS, uniformLayout } from "@amss-ts/amss/theory";
 * const layout = uniformLayout(["a", "v"], 1, 6, 2);
 * const f = logSumObjective({ layout, smoothness: 1, seed: 1 });
 * const ex = convergenceExperiment({
 *   oracle: gaussianOracle(f, { sigma2: 1 }),
 *   method: METHODS.amss,
 *   ratios: [0.5, 0.75],
 *   Ts: [50, 200],
 *   seeds: 2,
 *   seed: 1,
 *   reference: "mean",
 *   pairs: 4,
 *   points: 2,
 * });
 * // one row per horizon: the runs' mean (1/T) sum ||grad L||^2 beside Theorem 3's bound (Eq. 12)
 * assert(ex.rows.length === 2 && ex.rows.every((r) => r.bound3 > 0));
 * ```
 */
export function convergenceExperiment(opts: ExperimentOptions): ExperimentResult {
  const { oracle, method } = opts;
  const f = oracle.objective;
  const ratios = opts.ratios ?? f.layout.modalities.map(() => 1);
  if (!Array.isArray(opts.Ts) || opts.Ts.length === 0) {
    throw new AmssArgumentError("opts.Ts must be a non-empty array of horizons");
  }
  opts.Ts.forEach((T, i) => requireInt(`opts.Ts[${i}]`, T, 1));
  const S = requireInt("opts.seeds", opts.seeds, 1);
  const P = requireInt("opts.points", opts.points, 1);
  const L = f.smoothness;
  const initialGap = f.value(f.start) - f.infimum;
  const initialTerm = 2 * L * initialGap;
  const base = new Rng(requireFinite("opts.seed", opts.seed));
  const mcRng = base.fork();
  const momentOpts = (r: Rng): PointMomentOptions => ({
    oracle,
    method,
    ratios,
    pairs: opts.pairs,
    rng: r,
    ...opts.moments,
  });
  const measured: PointMoments[] = [];
  let nu = opts.nu;
  if (nu === undefined) {
    const pilotT = requireInt("opts.pilotT", opts.pilotT ?? Math.max(...opts.Ts), 1);
    const pilot = maskedSgd({
      oracle,
      method,
      ratios,
      T: pilotT,
      nu: 0,
      seed: base.uint32(),
      keepPoints: Math.min(P, pilotT),
    });
    for (const p of pilot.points) measured.push(pointMoments(p.w, momentOpts(mcRng)));
    nu = summariseMoments(measured, {
      reference: opts.reference,
      fit: initialTerm > 0 ? "tightest" : "regression",
      initialTerm: initialTerm > 0 ? initialTerm : undefined,
    }).nu;
  }
  const rowsRaw: { T: number; eta: number; runs: number[]; diverged: boolean }[] = [];
  for (const T of opts.Ts) {
    const runs: number[] = [];
    let diverged = false;
    let eta = 0;
    for (let s = 0; s < S; s++) {
      const r = maskedSgd({
        oracle,
        method,
        ratios,
        T,
        nu,
        seed: base.uint32(),
        keepPoints: s === 0 ? Math.min(P, T) : 0,
      });
      eta = r.eta;
      runs.push(r.avgGradNorm2);
      diverged ||= r.diverged;
      for (const p of r.points) measured.push(pointMoments(p.w, momentOpts(mcRng)));
    }
    rowsRaw.push({ T, eta, runs, diverged });
  }
  const constants = summariseMoments(measured, { reference: opts.reference, nu });
  const rows = rowsRaw.map((r) => {
    const n = r.runs.length;
    const mean = r.runs.reduce((a, b) => a + b, 0) / n;
    const sd = n > 1 ? Math.sqrt(r.runs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
    const c = {
      L,
      initialGap,
      nu: nu as number,
      sigma2: constants.sigma2,
      T: r.T,
      delta: constants.delta,
    };
    return {
      ...r,
      mean,
      stdErr: sd / Math.sqrt(n),
      bound3: theorem3Bound(c),
      bound4: theorem4Bound(c),
    };
  });
  return { L, initialGap, constants, rows, measuredPoints: measured.length };
}
