/**
 * Pieces shared by the claim modules.
 *
 * @module
 */
import type { ObjectiveKind } from "../../src/theory/objectives.ts";

/** A number for a verdict line: 3 significant digits, exponent form for very large or small values. */
export function fmt(x: number, d = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(d - 1);
  return Number(x.toPrecision(d)).toString();
}

/**
 * The smooth objectives of the convergence claims: family, smoothness constant L, and oracle noise
 * sigma^2 as a multiple of ||grad L(w(1))||^2.
 */
export const OBJECTIVES: { kind: ObjectiveKind; L: number; noise: number }[] = [
  { kind: "logsum", L: 2, noise: 1 },
  { kind: "tanh-regression", L: 1, noise: 0.25 },
  { kind: "quadratic", L: 5, noise: 4 },
];

/**
 * One case of a convergence bound (one objective, mask and horizon T): the mean over seeds of
 * (1/T) sum_t ||grad L(w(t))||^2, its standard error over the seeds, the theorem's bound on the
 * expectation of that average (Eq. 12 or Eq. 25), and whether a run diverged (non-finite values).
 */
export interface BoundCase {
  mean: number;
  stdErr: number;
  bound: number;
  diverged: boolean;
}

/**
 * How many standard errors a measured mean must lie above a bound to count as a violation. The
 * theorems bound an expectation and we measure a mean over 2-4 seeds, whose standard error is
 * itself rough: when the expectation sits exactly at the bound, a t statistic with 1 to 3 degrees
 * of freedom exceeds 3 with probability about 10% to 3% (a normal one: 0.13%). A smaller excess
 * is not taken as a counterexample (see {@link boundOutcome}).
 */
export const BOUND_Z = 3;

/**
 * Compares measured means with a theorem's bound. `"held"`: every case finite and its mean at or
 * below the bound. `"violated"`: some run diverged, or some mean exceeds its bound by more than
 * {@link BOUND_Z} standard errors (a counterexample beyond seed noise). `"inconclusive"`: no
 * violation, but some mean is above its bound within the noise (more seeds are needed).
 *
 * @throws {Error} on an empty list (no evidence, no outcome).
 */
export function boundOutcome(cases: readonly BoundCase[]): "held" | "violated" | "inconclusive" {
  if (cases.length === 0) throw new Error("boundOutcome: no cases");
  let inconclusive = false;
  for (const c of cases) {
    if (c.diverged || !Number.isFinite(c.mean)) return "violated";
    if (c.mean <= c.bound) continue;
    if (c.mean - BOUND_Z * c.stdErr > c.bound) return "violated";
    inconclusive = true;
  }
  return inconclusive ? "inconclusive" : "held";
}
