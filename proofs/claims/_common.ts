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
