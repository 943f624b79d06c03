/**
 * Golden comparison of {@link referenceSignificance} with PyTorch: every case of
 * `fixtures/significance_golden.json` (written by `fixtures/significance_golden.py`, which
 * evaluates the reference-mode formulas with torch float32 operations on the CPU) is recomputed
 * here and compared quantity by quantity.
 *
 * Tolerance. Both sides evaluate the same formulas in float32, so they differ only through
 * rounding: torch's vectorised exp/log are within 1 ulp (ours: the float32 rounding of a double
 * result, within about half an ulp), and torch sums in another order (vectorised, cascaded) than
 * our left-to-right loops. With `u = 2^-24` (float32 unit roundoff), an elementary function
 * within 1 ulp contributes a relative `2u`, and a float32 sum of n terms in ANY order is within
 * `(n - 1) u sum_i |t_i|` of the exact sum (first order; Higham, "Accuracy and Stability of
 * Numerical Algorithms", Sec. 4.2). Propagating these through each quantity gives a bound on one
 * side's error (`sideBounds` below, derivation beside each line); the two sides can differ by at
 * most the sum of their bounds, so every comparison allows twice the bound. The bound grows with
 * the number of summed terms (L label classes, C logits per row, B rows, B * D feature terms) and
 * with the size of the quantity, i.e. "a few ulps relative times the number of summed terms".
 * It is a worst case: the measured differences (printed) are far smaller, yet the grouping
 * `x - (max + log sum)` of the log-softmax, off by up to half an ulp of the row maximum, exceeds it
 * on the cases whose feature rows have maxima in the hundreds.
 *
 * Branches (fallback, clamp, NaN, exp or sum overflow) and per-modality flags must match exactly,
 * as must every ratio that was clamped or replaced (0.5, fround(0.1), fround(0.9)) and every
 * non-finite or signed-zero intermediate. The script keeps every case away from the thresholds
 * of those branches, so rounding cannot legitimately flip one.
 */
import { assert, assertEquals } from "@std/assert";
import type { ModalBatch, RatioFlag, SignificanceBranch } from "../src/amss/significance.ts";
import { referenceSignificance } from "../src/amss/reference_significance.ts";

type Num = number | "Infinity" | "-Infinity" | "NaN";

interface GoldenCase {
  name: string;
  input: {
    labels: number[];
    numClasses: number;
    tau: number;
    predictions: number[][];
    features: { dim: number; data: number[] }[];
  };
  expected: {
    labelEntropy: Num;
    meanLogQ: Num[];
    bound: Num[];
    featureEntropy: Num[];
    rate: Num[];
    ratios: Num[];
    branch: SignificanceBranch;
    ratioFlags: RatioFlag[];
  };
}

const golden: { torch: string; cases: GoldenCase[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/significance_golden.json", import.meta.url)),
);

const num = (v: Num): number => typeof v === "number" ? v : Number(v);

/** float32 unit roundoff. */
const U = 2 ** -24;

/**
 * Bounds on ONE side's float32 error, per quantity, for a case whose exact values are close to
 * `e` (the torch values; using them instead of the exact ones changes the bounds only at second
 * order). `lsm` is a log-softmax entry (<= 0); `logS = log sum_j exp(x_j - max)`.
 */
function sideBounds(c: GoldenCase) {
  const B = c.input.labels.length;
  const C = c.input.numClasses;
  const L = Math.max(...c.input.labels) + 1;
  const e = c.expected;
  const K = e.meanLogQ.length;
  // One log-softmax entry over n terms: d = x - max rounds (u |d|); s = sum of n exps, each 2u,
  // plus (n - 1) u from the sum: s is within (n + 1) u relative, so logS within (n + 1) u + 2u logS
  // absolute; d - logS rounds (u |lsm|). With |d| <= |lsm| and logS <= |lsm|:
  // |error(lsm)| <= 4u |lsm| + (n + 1) u.
  // H_ref = -sum_c f_c lsm_c over L classes: each product adds u |f_c lsm_c|, the sum
  // (L - 1) u sum_c f_c |lsm_c|; with sum_c f_c = 1 and sum_c f_c |lsm_c| = H_ref:
  const hY = Math.abs(num(e.labelEntropy));
  const bH = U * ((L + 4) * hY + L + 1);
  const bQ: number[] = [];
  const bHX: number[] = [];
  const bBound: number[] = [];
  const bShift: number[] = [];
  const bRate: number[] = [];
  const bT: number[] = [];
  for (let k = 0; k < K; k++) {
    // meanLogQ = (1/B) sum_i lsm_i (all <= 0, C terms per row): per term 4u |lsm| + (C + 1) u,
    // the sum (B - 1) u sum |lsm_i|, the division u; over B: mean |lsm| = |meanLogQ|.
    const q = Math.abs(num(e.meanLogQ[k]));
    bQ.push(U * ((B + 4) * q + C + 1));
    // H(X_k) = -(1/B) sum_ij p_ij lsm_ij over B * D terms. p = e_j * (1/s): exp 2u, 1/s within
    // (D + 2) u, the product u: (D + 5) u relative. p * lsm: (D + 5) u + 4u + u = (D + 10) u of
    // |p lsm|, plus p (D + 1) u from lsm's absolute part; the sum (B D - 1) u sum |p lsm|; the
    // division u. Over B: sum_ij p |lsm| / B = H and sum_ij p / B = 1.
    const D = c.input.features[k].dim;
    const hx = Math.abs(num(e.featureEntropy[k]));
    bHX.push(U * ((B * D + D + 10) * hx + D + 1));
    // bound = meanLogQ + H_ref, shifted = bound + 0.5: one rounding each.
    bBound.push(bQ[k] + bH + U * Math.abs(num(e.bound[k])));
    const shifted = num(e.bound[k]) + 0.5;
    bShift.push(bBound[k] + U * Math.abs(shifted));
    // rate = shifted / H(X_k): relative errors add, plus the division's u.
    const rate = Math.abs(num(e.rate[k]));
    bRate.push((bShift[k] + rate * bHX[k]) / hx + U * rate);
    // t = rate / tau (tau is an exact float32): one more rounding.
    bT.push(bRate[k] / c.input.tau + U * rate / c.input.tau);
  }
  // rho_k = S_k / (S_k + e_k) = 1 - softmax(t)_k: sum_j |d rho_k / d t_j| = 2 s_k (1 - s_k) <= 1/2,
  // so an error in the t's moves rho by at most max_j |error(t_j)| / 2; the K exps (2u each),
  // the K - 1 + 1 additions and the division add (2K + 3) u relative on rho <= 1. The clamp is
  // 1-Lipschitz, so the bound survives it.
  const bRho = Math.max(...bT.filter(Number.isFinite)) / 2 + (2 * K + 3) * U;
  return { bH, bQ, bHX, bBound, bRate, bRho };
}

interface Stat {
  maxAbs: number;
  maxRel: number;
  maxOfTol: number;
  n: number;
}
const stats = new Map<string, Stat>();

/** Compares one value; records |diff|, |diff| / |want| and |diff| / tol. */
function close(what: string, got: number, wantRaw: Num, sideBound: number, where: string) {
  const want = num(wantRaw);
  if (!Number.isFinite(want) || want === 0) {
    // non-finite values and signed zeros come from exact float32 events: compare exactly
    assert(Object.is(got, want), `${where}: ${what} = ${got}, PyTorch ${want} (exactly)`);
    return;
  }
  const diff = Math.abs(got - want);
  const tol = 2 * sideBound;
  assert(
    diff <= tol,
    `${where}: ${what} = ${got}, PyTorch ${want}: |diff| ${diff.toExponential(3)} > tolerance ${
      tol.toExponential(3)
    } (${(diff / U / Math.abs(want)).toFixed(1)} ulps relative)`,
  );
  const s = stats.get(what) ?? { maxAbs: 0, maxRel: 0, maxOfTol: 0, n: 0 };
  s.maxAbs = Math.max(s.maxAbs, diff);
  s.maxRel = Math.max(s.maxRel, diff / Math.abs(want));
  s.maxOfTol = Math.max(s.maxOfTol, diff / tol);
  s.n++;
  stats.set(what, s);
}

function batchOf(c: GoldenCase): ModalBatch {
  return {
    labels: c.input.labels,
    numClasses: c.input.numClasses,
    predictionKind: "logits",
    predictions: c.input.predictions,
    features: c.input.features,
  };
}

Deno.test("golden fixture: at least 40 cases, inputs exact float32, every branch and flag covered", () => {
  const cases = golden.cases;
  assert(cases.length >= 40, `only ${cases.length} cases`);
  assertEquals(new Set(cases.map((c) => c.name)).size, cases.length, "case names are unique");
  for (const c of cases) {
    const xs = [
      c.input.tau,
      ...c.input.predictions.flat(),
      ...c.input.features.flatMap((f) => f.data),
    ];
    for (const x of xs) assert(Object.is(Math.fround(x), x), `${c.name}: ${x} is not a float32`);
    assert(c.input.tau >= 0.03 && c.input.tau <= 4, `${c.name}: tau ${c.input.tau}`);
  }
  const branches = new Set(cases.map((c) => c.expected.branch));
  for (const b of ["normal", "clamped", "nan", "fallback-nonpositive"]) {
    assert(branches.has(b as SignificanceBranch), b);
  }
  const flagsOf = (c: GoldenCase) => c.expected.ratioFlags.join(",");
  const has = (pred: (c: GoldenCase) => boolean, what: string) =>
    assert(cases.some(pred), `no case with ${what}`);
  const K2 = (c: GoldenCase) => c.expected.ratios.length === 2;
  // one exponential overflowing: the authors' (0.1, 0.5), in both modality orders
  has((c) => K2(c) && flagsOf(c) === "clamped-low,nan", "overflow of e_0 only");
  has((c) => K2(c) && flagsOf(c) === "nan,clamped-low", "overflow of e_1 only");
  // both overflowing: (0.5, 0.5); only the sum overflowing: (0.1, 0.1)
  has(
    (c) => K2(c) && flagsOf(c) === "nan,nan" && c.expected.rate.every((r) => num(r) > 0),
    "both e_k overflowing",
  );
  has(
    (c) =>
      K2(c) && flagsOf(c) === "clamped-low,clamped-low" && c.expected.rate.every((r) => num(r) > 0),
    "the sum overflowing",
  );
  has((c) => c.expected.featureEntropy.some((h) => Object.is(num(h), -0)), "H(X_k) = -0");
  has((c) => c.expected.ratioFlags.includes("clamped-high"), "a ratio clamped to 0.9");
  // label sets: classes missing below the max, max label below C - 1, a single class
  has((c) => {
    const L = Math.max(...c.input.labels) + 1;
    return L === c.input.numClasses && new Set(c.input.labels).size < L;
  }, "a missing class below the largest label");
  has((c) => Math.max(...c.input.labels) < c.input.numClasses - 1, "max label < C - 1");
  has((c) => new Set(c.input.labels).size === 1, "a single class");
  has((c) => !c.input.labels.includes(0), "class 0 absent");
  // feature scales from ~1 to ~100 and maxima in the hundreds; tau from 0.1 to 4; K > 2
  const maxAbsFeature = cases.map((c) =>
    Math.max(...c.input.features.flatMap((f) => f.data.map(Math.abs)))
  );
  assert(maxAbsFeature.some((m) => m < 4), "no case with features of scale 1");
  assert(maxAbsFeature.some((m) => m > 250), "no case with features above 250");
  for (const tau of [0.1, 0.2, 0.25, 0.5, 1, 2, 4]) {
    has((c) => c.input.tau === Math.fround(tau), `tau = ${tau}`);
  }
  for (const K of [3, 4]) has((c) => c.expected.ratios.length === K, `K = ${K}`);
  has((c) => c.expected.ratios.length === 3 && c.expected.branch === "nan", "K = 3 overflow");
});

Deno.test("golden: referenceSignificance matches PyTorch float32 on every case (ratios, H(Y), bound, rates, H(X_k))", () => {
  for (const c of golden.cases) {
    const r = referenceSignificance(batchOf(c), { tau: c.input.tau });
    const e = c.expected;
    const where = `case ${c.name}`;
    assertEquals(r.branch, e.branch, `${where}: branch`);
    assertEquals(r.ratioFlags, e.ratioFlags, `${where}: ratio flags`);
    const b = sideBounds(c);
    close("H(Y)", r.labelEntropy, e.labelEntropy, b.bH, where);
    for (let k = 0; k < e.ratios.length; k++) {
      close("meanLogQ", r.meanLogQ[k], e.meanLogQ[k], b.bQ[k], `${where}, modality ${k}`);
      close("bound", r.bound[k], e.bound[k], b.bBound[k], `${where}, modality ${k}`);
      close(
        "H(X_k)",
        r.featureEntropy[k],
        e.featureEntropy[k],
        b.bHX[k],
        `${where}, modality ${k}`,
      );
      close("rate", r.rate[k], e.rate[k], b.bRate[k], `${where}, modality ${k}`);
      if (e.ratioFlags[k] === "none") {
        close("ratio", r.ratios[k], e.ratios[k], b.bRho, `${where}, modality ${k}`);
      } else {
        // 0.5 (fallback or NaN), fround(0.1) or fround(0.9): exactly
        assert(
          Object.is(r.ratios[k], num(e.ratios[k])),
          `${where}, modality ${k}: ratio ${r.ratios[k]}, PyTorch ${e.ratios[k]} (exactly)`,
        );
      }
    }
  }
  const lines = [...stats].map(([what, s]) =>
    `  ${what.padEnd(9)} n=${String(s.n).padStart(3)}  max |diff| ${s.maxAbs.toExponential(2)}  ` +
    `max rel ${s.maxRel.toExponential(2)} (${(s.maxRel / U).toFixed(1)} u)  ` +
    `max |diff|/tol ${s.maxOfTol.toFixed(3)}`
  );
  console.log(
    `golden (torch ${golden.torch}, ${golden.cases.length} cases), finite non-zero values:\n${
      lines.join("\n")
    }`,
  );
});
