/**
 * Statistics of the bench's tables: mean and sample standard deviation over seeds, and the paired
 * comparison of a method with a baseline over the seeds both ran (same seed: same initialisation
 * and data order), as a Student-t confidence interval of the mean paired difference.
 *
 * The t quantile comes from the npm package `jstat` (its `studentt.inv`).
 *
 * @module
 */
import jstatModule from "jstat";

interface JStat {
  studentt: { inv(p: number, dof: number): number };
}
const jStat: JStat = ((jstatModule as unknown as { jStat?: JStat }).jStat ??
  jstatModule) as unknown as JStat;

/** Mean and sample standard deviation (0 for a single value); NaN mean for none. */
export function meanSd(xs: readonly number[]): { mean: number; sd: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/** The two-sided `level` quantile of Student's t with `dof` degrees of freedom (t_{(1+level)/2}). */
export function tQuantile(level: number, dof: number): number {
  if (!(level > 0 && level < 1) || !(dof >= 1)) {
    throw new RangeError(`tQuantile: level must be in (0, 1) and dof >= 1, got ${level}, ${dof}`);
  }
  return jStat.studentt.inv((1 + level) / 2, dof);
}

/** A t-interval of a mean: mean ± t * sd / sqrt(n); null bounds with fewer than 2 values. */
export interface TInterval {
  n: number;
  mean: number;
  lo: number | null;
  hi: number | null;
  /** Whether the interval excludes 0 (false when there is no interval). */
  excludesZero: boolean;
}

/** The `level` t-interval of the mean of `xs` (differences, for a paired comparison). */
export function tInterval(xs: readonly number[], level = 0.95): TInterval {
  const { mean, sd, n } = meanSd(xs);
  if (n < 2) return { n, mean, lo: null, hi: null, excludesZero: false };
  const half = tQuantile(level, n - 1) * sd / Math.sqrt(n);
  const lo = mean - half, hi = mean + half;
  return { n, mean, lo, hi, excludesZero: lo > 0 || hi < 0 };
}
