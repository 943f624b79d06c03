/**
 * Stochastic gradient oracles for the convergence simulations: g = grad L(w) + xi with xi a
 * zero-mean Gaussian of total variance E||xi||^2 = sigma^2 (the unbiased stochastic gradient the
 * paper assumes before masking, App. A.1: E[grad l(w)] = grad L(w)).
 *
 * The noise is xi_i = sigma sqrt(q_i) z_i with z_i standard normal and q a per-coordinate variance
 * profile summing to 1 (default uniform, q_i = 1/d), so E||xi||^2 = sigma^2 sum_i q_i = sigma^2 and
 * Var(||xi||^2) = 2 sigma^4 sum_i q_i^2. All randomness comes from the {@link Rng} passed per call.
 *
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * import { gaussianOracle, logSumObjective, uniformLayout } from "@amss-ts/amss/theory";
 * const f = logSumObjective({ layout: uniformLayout(["a"], 1, 8, 4), smoothness: 1, seed: 1 });
 * const oracle = gaussianOracle(f, { sigma2: 0.5 });
 * const g = oracle.sample(f.start, new Rng(2)); // grad L(w(1)) + noise
 * ```
 * @module
 */

import type { Rng } from "../rng.ts";
import { AmssArgumentError, requireFinite, requireNonNegativeVector } from "../validate.ts";
import type { Objective } from "./objectives.ts";

/** A stochastic gradient oracle g(w) = grad L(w) + xi, E[xi] = 0, E||xi||^2 = sigma2. */
export interface GradientOracle {
  /** The objective whose gradient is perturbed. */
  objective: Objective;
  /** E||xi||^2. */
  sigma2: number;
  /** Per-coordinate noise standard deviations sigma sqrt(q_i) (length dim). */
  noiseStd: Float64Array;
  /** Fills `out` (allocated when omitted) with a fresh noise vector xi and returns it. */
  noise(rng: Rng, out?: Float64Array): Float64Array;
  /** g = grad L(w) + xi; `out` (allocated when omitted) receives g, `gradOut` (optional) grad L(w). */
  sample(w: Float64Array, rng: Rng, out?: Float64Array, gradOut?: Float64Array): Float64Array;
}

/** Options of {@link gaussianOracle}. */
export interface GaussianOracleOptions {
  /** Total noise variance sigma^2 = E||xi||^2, finite and >= 0. */
  sigma2: number;
  /** Per-coordinate variance profile q (length dim, >= 0, not all zero); normalised to sum 1. Default uniform. */
  profile?: ArrayLike<number>;
}

/**
 * Fills `out` with independent standard normals by Marsaglia's polar method (both outputs of every
 * accepted pair used, and no trigonometric calls, unlike {@link Rng.normal}: the simulations draw
 * millions of values).
 *
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * const z = fillNormal(new Rng(1), new Float64Array(8));
 * ```
 */
export function fillNormal(rng: Rng, out: Float64Array): Float64Array {
  const n = out.length;
  let i = 0;
  while (i < n) {
    const u = 2 * rng.float() - 1;
    const v = 2 * rng.float() - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const r = Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = u * r;
    if (i < n) out[i++] = v * r;
  }
  return out;
}

/**
 * The Gaussian oracle g = grad L(w) + xi, xi_i ~ N(0, sigma^2 q_i) independently (see the module doc).
 *
 * @param objective the objective (its `gradient` gives grad L).
 * @param opts `sigma2` (E||xi||^2) and an optional variance `profile`.
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * import { quadraticObjective, uniformLayout } from "@amss-ts/amss/theory";
 * const f = quadraticObjective({ layout: uniformLayout(["a"], 1, 4, 2), smoothness: 1, seed: 0 });
 * const o = gaussianOracle(f, { sigma2: 2 });
 * const xi = o.noise(new Rng(3)); // E||xi||^2 = 2
 * ```
 */
export function gaussianOracle(objective: Objective, opts: GaussianOracleOptions): GradientOracle {
  if (!objective || typeof objective.gradient !== "function") {
    throw new AmssArgumentError("objective must be an Objective (with a gradient function)");
  }
  const sigma2 = requireFinite("opts.sigma2", opts?.sigma2);
  if (sigma2 < 0) throw new AmssArgumentError(`opts.sigma2 must be >= 0, got ${sigma2}`);
  const d = objective.dim;
  const std = new Float64Array(d);
  if (opts.profile !== undefined) {
    if (opts.profile.length !== d) {
      throw new AmssArgumentError(
        `opts.profile must have length ${d} (the dimension), got ${opts.profile.length}`,
      );
    }
    const total = requireNonNegativeVector("opts.profile", opts.profile);
    if (!(total > 0)) throw new AmssArgumentError("opts.profile must not be all zero");
    for (let i = 0; i < d; i++) std[i] = Math.sqrt((sigma2 * opts.profile[i]) / total);
  } else {
    std.fill(Math.sqrt(sigma2 / d));
  }
  const check = (out: Float64Array | undefined, name: string): Float64Array => {
    if (out === undefined) return new Float64Array(d);
    if (!(out instanceof Float64Array) || out.length !== d) {
      throw new AmssArgumentError(`${name} must be a Float64Array of length ${d}`);
    }
    return out;
  };
  const scratch = new Float64Array(d);
  return {
    objective,
    sigma2,
    noiseStd: std,
    noise(rng, out) {
      const xi = fillNormal(rng, check(out, "out"));
      for (let i = 0; i < d; i++) xi[i] *= std[i];
      return xi;
    },
    sample(w, rng, out, gradOut) {
      const g = check(out, "out");
      const grad = gradOut === undefined ? g : check(gradOut, "gradOut");
      objective.gradient(w, grad);
      if (grad !== g) g.set(grad);
      if (sigma2 === 0) return g;
      const xi = fillNormal(rng, scratch);
      for (let i = 0; i < d; i++) g[i] += std[i] * xi[i];
      return g;
    },
  };
}
