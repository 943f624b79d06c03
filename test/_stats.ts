/**
 * Statistical helpers shared by the Monte-Carlo and property tests: normal tail quantiles for
 * Bonferroni-corrected tolerances, and fast-check arbitraries for unit doubles and importance
 * vectors.
 */
import fc from "fast-check";

/**
 * P(Z > z) for a standard normal Z, by Simpson's rule with 4000 steps on [z, z + 16] (error far
 * below 1e-15; the mass beyond z + 16 is negligible).
 */
export function normalUpperTail(z: number): number {
  const steps = 4000;
  const h = 16 / steps;
  const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  let s = phi(z) + phi(z + 16);
  for (let i = 1; i < steps; i++) s += (i % 2 ? 4 : 2) * phi(z + i * h);
  return (s * h) / 3;
}

/**
 * The two-sided standard normal quantile: the z with P(|Z| > z) = alpha, by 80 bisection steps
 * on [0, 40] over {@link normalUpperTail}.
 */
export function zTwoSided(alpha: number): number {
  let lo = 0;
  let hi = 40;
  for (let it = 0; it < 80; it++) {
    const mid = (lo + hi) / 2;
    if (2 * normalUpperTail(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Uniform doubles on [0, 1] with 2^30 + 1 levels. (fc.double spreads its draws over the binary
 * exponents, so most of its values in [0, 1] are tiny: importance vectors built from it would be
 * nearly degenerate.)
 */
export const unit01 = (): fc.Arbitrary<number> =>
  fc.integer({ min: 0, max: 2 ** 30 }).map((i) => i / 2 ** 30);

/** The shapes {@link importanceArb} draws from. */
type Family = "uniform" | "skewed" | "heavy";

/**
 * Importance vectors of length minN..maxN: uniform, geometrically skewed, or heavy-tailed
 * (truncated Pareto with tail index 0.7), the largest/smallest nonzero ratio capped at maxRatio,
 * optionally with zeros (at least one entry stays positive).
 */
export function importanceArb(
  minN: number,
  maxN: number,
  maxRatio: number,
): fc.Arbitrary<number[]> {
  return fc.record({
    family: fc.constantFrom<Family>("uniform", "skewed", "heavy"),
    n: fc.integer({ min: minN, max: maxN }),
    u: fc.array(unit01(), { minLength: maxN, maxLength: maxN }),
    withZeros: fc.boolean(),
    zero: fc.array(fc.boolean(), { minLength: maxN, maxLength: maxN }),
  }).map(({ family, n, u, withZeros, zero }) => {
    const p: number[] = [];
    for (let i = 0; i < n; i++) {
      if (family === "uniform") p.push(1);
      else if (family === "skewed") {
        p.push(Math.exp((-Math.log(maxRatio) * i * u[0]) / Math.max(1, n - 1)));
      } else p.push(Math.min(maxRatio, Math.pow(1 - u[i], -1 / 0.7)));
    }
    if (withZeros) {
      for (let i = 1; i < n; i++) if (zero[i]) p[i] = 0; // p[0] stays positive
    }
    return p;
  });
}
