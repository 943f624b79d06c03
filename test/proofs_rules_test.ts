/**
 * The verdict rule of every `deno task proofs` claim, tested on constructed inputs: each outcome
 * the rule can produce (HOLDS, FAILS, HOLDS-UNDER-CONDITION where the rule has it), its
 * boundaries, and the inputs on which it refuses to decide (it throws). The claims' runs on real
 * measurements are tested in `proofs_claims_test.ts` and `proofs_theory_test.ts`.
 */
import { assertEquals, assertThrows } from "@std/assert";
import { BOUND_Z, type BoundCase, boundOutcome } from "../proofs/claims/_common.ts";
import { theorem3Verdict } from "../proofs/claims/theorem3.ts";
import { theorem4Verdict, UNBIASED_TOL } from "../proofs/claims/theorem4.ts";
import { ABOUT, ratesVerdict, SLOPE_MAX } from "../proofs/claims/rates.ts";
import { EXACT_TOL, unbiasednessVerdict } from "../proofs/claims/unbiasedness.ts";
import {
  isUnbiased,
  REBALANCE_MIN,
  rebalances,
  rebalancingVerdict,
  type ScaleGains,
} from "../proofs/claims/rebalancing.ts";
import { barberAgakovVerdict, NUM_TOL } from "../proofs/claims/barber_agakov.ts";
import {
  impliedGap,
  ROUNDING,
  singleGapInterval,
  TABLE8_RHO_AUDIO,
  TABLE8_RHO_VIDEO,
  TABLE8_TAU,
  table8Verdict,
} from "../proofs/claims/table8.ts";
import { FORMULA_TOL, referenceVsPaperVerdict } from "../proofs/claims/reference_vs_paper.ts";

// ---------------------------------------------------------------------------------------------
// Convergence bounds (theorem3, theorem4, rates)

const below: BoundCase = { mean: 1, stdErr: 0.1, bound: 2, diverged: false };
/** Above the bound by 2 standard errors: within the noise. */
const noisyAbove: BoundCase = { mean: 2.2, stdErr: 0.1, bound: 2, diverged: false };
/** Above the bound by 5 standard errors: a violation. */
const clearlyAbove: BoundCase = { mean: 2.5, stdErr: 0.1, bound: 2, diverged: false };
const diverged: BoundCase = { mean: 1, stdErr: 0.1, bound: 2, diverged: true };

Deno.test("boundOutcome: held, violated beyond BOUND_Z standard errors, inconclusive within", () => {
  assertEquals(boundOutcome([below, { ...below, mean: 2 }]), "held"); // at the bound: held
  assertEquals(boundOutcome([below, clearlyAbove]), "violated");
  assertEquals(boundOutcome([below, diverged]), "violated");
  assertEquals(boundOutcome([{ ...below, mean: NaN }]), "violated");
  assertEquals(boundOutcome([below, noisyAbove]), "inconclusive");
  // exactly BOUND_Z standard errors above is not beyond them
  assertEquals(
    boundOutcome([{ mean: 2 + BOUND_Z * 0.25, stdErr: 0.25, bound: 2, diverged: false }]),
    "inconclusive",
  );
  // a violation anywhere outweighs an inconclusive case elsewhere
  assertEquals(boundOutcome([noisyAbove, clearlyAbove]), "violated");
  assertThrows(() => boundOutcome([]));
});

Deno.test("theorem3Verdict: HOLDS; FAILS on delta >= 1, a violation or a divergence; throws when inconclusive", () => {
  assertEquals(theorem3Verdict({ cases: [below, below], maxDelta: 0.44 }), "HOLDS");
  // Assumption 3 (Eq. 11) broken: no finite Eq. 12 bound, even if the numbers look fine
  assertEquals(theorem3Verdict({ cases: [below], maxDelta: 1 }), "FAILS");
  assertEquals(theorem3Verdict({ cases: [below], maxDelta: NaN }), "FAILS");
  assertEquals(theorem3Verdict({ cases: [below, clearlyAbove], maxDelta: 0.44 }), "FAILS");
  assertEquals(theorem3Verdict({ cases: [diverged], maxDelta: 0.44 }), "FAILS");
  assertThrows(
    () => theorem3Verdict({ cases: [below, noisyAbove], maxDelta: 0.44 }),
    Error,
    "inconclusive",
  );
  assertThrows(() => theorem3Verdict({ cases: [], maxDelta: 0.44 }));
});

Deno.test("theorem4Verdict: HOLDS, HOLDS-UNDER-CONDITION, FAILS; throws on biased HT masks or noise", () => {
  const ok = { htCases: [below], htMaxCondBias: 0.01 };
  assertEquals(theorem4Verdict({ ...ok, amssPlusMaxRelBias: 0.01 }), "HOLDS");
  assertEquals(theorem4Verdict({ ...ok, amssPlusMaxRelBias: UNBIASED_TOL }), "HOLDS");
  // the paper's scales violate Eq. 23: the theorem holds for AMSS+ only with HT weights
  assertEquals(
    theorem4Verdict({ ...ok, amssPlusMaxRelBias: UNBIASED_TOL + 1e-3 }),
    "HOLDS-UNDER-CONDITION",
  );
  assertEquals(theorem4Verdict({ ...ok, amssPlusMaxRelBias: 9 }), "HOLDS-UNDER-CONDITION");
  // a counterexample to Eq. 25 for unbiased masks, whatever the paper's scales do
  for (const amssPlusMaxRelBias of [0, 9]) {
    assertEquals(
      theorem4Verdict({ ...ok, htCases: [below, clearlyAbove], amssPlusMaxRelBias }),
      "FAILS",
    );
    assertEquals(theorem4Verdict({ ...ok, htCases: [diverged], amssPlusMaxRelBias }), "FAILS");
  }
  // HT masks measured biased: the implication is untested (control), not refuted
  assertThrows(
    () => theorem4Verdict({ ...ok, htMaxCondBias: UNBIASED_TOL + 1e-3, amssPlusMaxRelBias: 9 }),
    Error,
    "control",
  );
  assertThrows(
    () => theorem4Verdict({ ...ok, htCases: [noisyAbove], amssPlusMaxRelBias: 9 }),
    Error,
    "inconclusive",
  );
});

Deno.test("ratesVerdict: HOLDS, HOLDS-UNDER-CONDITION, FAILS on rate, bound or HT; throws without evidence", () => {
  const base = {
    cases: [below, below],
    worstSlopeLastDecade: -0.5,
    ht: [{ measured: 1.02, boundRatio: 1.3 }],
    biased: [{ measured: 1.3, predicted: 1.25 }],
  };
  assertEquals(ratesVerdict(base), "HOLDS");
  // measured slowdown exactly ABOUT times the predicted one still counts as "about"
  assertEquals(
    ratesVerdict({ ...base, biased: [{ measured: 1.25 * ABOUT, predicted: 1.25 }] }),
    "HOLDS",
  );
  // the slowdown is not about 1/(1 - delta^2) (either way): the factor holds only for the bounds
  assertEquals(
    ratesVerdict({ ...base, biased: [{ measured: 1.63, predicted: 1.27 }] }),
    "HOLDS-UNDER-CONDITION",
  );
  assertEquals(
    ratesVerdict({ ...base, biased: [{ measured: 1, predicted: 1.27 }] }),
    "HOLDS-UNDER-CONDITION",
  );
  // the rate part fails
  assertEquals(ratesVerdict({ ...base, worstSlopeLastDecade: SLOPE_MAX + 0.01 }), "FAILS");
  assertEquals(ratesVerdict({ ...base, worstSlopeLastDecade: NaN }), "FAILS");
  assertEquals(ratesVerdict({ ...base, cases: [below, clearlyAbove] }), "FAILS");
  // HT slower than SGD beyond ABOUT times the ratio of their bounds (at least 1)
  assertEquals(ratesVerdict({ ...base, ht: [{ measured: 1.2, boundRatio: 0.5 }] }), "FAILS");
  assertEquals(
    ratesVerdict({ ...base, ht: [{ measured: 1.3 * ABOUT + 0.01, boundRatio: 1.3 }] }),
    "FAILS",
  );
  assertThrows(() => ratesVerdict({ ...base, cases: [noisyAbove] }), Error, "inconclusive");
  assertThrows(() => ratesVerdict({ ...base, ht: [] }));
  assertThrows(() => ratesVerdict({ ...base, biased: [] }));
});

// ---------------------------------------------------------------------------------------------
// unbiasedness

Deno.test("unbiasednessVerdict: one biased configuration FAILS; all within EXACT_TOL HOLDS", () => {
  assertEquals(unbiasednessVerdict({ paperRelBias: [0, 1e-9, EXACT_TOL] }), "HOLDS");
  assertEquals(unbiasednessVerdict({ paperRelBias: [0, 0, 6] }), "FAILS");
  assertEquals(unbiasednessVerdict({ paperRelBias: [2 * EXACT_TOL] }), "FAILS");
  assertEquals(unbiasednessVerdict({ paperRelBias: [0, NaN] }), "FAILS");
  assertThrows(() => unbiasednessVerdict({ paperRelBias: [] }));
});

// ---------------------------------------------------------------------------------------------
// rebalancing

/** What the claim measures: HT unbiased, with equal gains; the biased scales rebalance. */
const HT: ScaleGains = {
  scale: "horvitz-thompson",
  dominant: 0.9986,
  other: 0.9981,
  seDominant: 0.004,
  seOther: 0.002,
};
const exact = (scale: string, dominant: number, other: number): ScaleGains => ({
  scale,
  dominant,
  other,
  seDominant: 0,
  seOther: 0,
});

Deno.test("rebalancing: isUnbiased and rebalances on their boundaries", () => {
  assertEquals(isUnbiased(HT), true);
  assertEquals(rebalances(HT), false);
  assertEquals(isUnbiased(exact("x", 1, 1 + EXACT_TOL / 2)), true);
  assertEquals(isUnbiased(exact("x", 1, 1 + 2 * EXACT_TOL)), false);
  // a Monte-Carlo gain 4 standard errors off 1 is unbiased within Z_MAX = 5, 6 off is not
  assertEquals(isUnbiased({ ...HT, dominant: 1 - 4 * HT.seDominant }), true);
  assertEquals(isUnbiased({ ...HT, dominant: 1 - 6 * HT.seDominant }), false);
  // rebalancing: the dominant modality's gain at least REBALANCE_MIN below the other's
  assertEquals(rebalances(exact("x", 0.2, 0.8)), true);
  assertEquals(rebalances(exact("x", 1 - REBALANCE_MIN - 0.01, 1)), true);
  assertEquals(rebalances(exact("x", 1 - REBALANCE_MIN + 0.01, 1)), false);
  // the wrong way round (the dominant modality gets more) is not rebalancing
  assertEquals(rebalances(exact("x", 0.8, 0.2)), false);
  // a 10% difference hidden in noise (5 x hypot(0.05, 0.05) ≈ 0.35) is not rebalancing
  assertEquals(
    rebalances({ scale: "x", dominant: 0.9, other: 1, seDominant: 0.05, seOther: 0.05 }),
    false,
  );
});

Deno.test("rebalancingVerdict: HOLDS only when one scale is unbiased AND rebalances", () => {
  // what the claim measures: the unbiased scale does not rebalance, the rebalancing ones are biased
  const measured = [
    exact("none", 0.179, 0.844),
    exact("paper", 8.1, 40.2),
    exact("reference", 6.5, 31.3),
    HT,
  ];
  assertEquals(rebalancingVerdict(measured), "FAILS");
  // no scale rebalances at all (every scale treats the modalities alike): FAILS as well
  assertEquals(rebalancingVerdict([exact("none", 0.5, 0.5), exact("paper", 8, 8), HT]), "FAILS");
  assertEquals(rebalancingVerdict([HT]), "FAILS");
  // no scale is unbiased, none rebalances: FAILS
  assertEquals(rebalancingVerdict([exact("none", 0.5, 0.5)]), "FAILS");
  // rebalancing scales only, all biased: FAILS
  assertEquals(rebalancingVerdict([exact("none", 0.2, 0.8)]), "FAILS");
  // a scale that is unbiased (each gain within 5 s.e. of 1) and whose dominant gain is
  // significantly lower (0.198 > 5 x hypot(0.02, 0.02) ≈ 0.141, and 10% below): HOLDS
  const both: ScaleGains = {
    scale: "hypothetical",
    dominant: 0.901,
    other: 1.099,
    seDominant: 0.02,
    seOther: 0.02,
  };
  assertEquals(isUnbiased(both) && rebalances(both), true);
  assertEquals(rebalancingVerdict([...measured, both]), "HOLDS");
  assertThrows(() => rebalancingVerdict([]));
});

// ---------------------------------------------------------------------------------------------
// barber_agakov

Deno.test("barberAgakovVerdict: HOLDS; FAILS on each part of the claim, beyond NUM_TOL", () => {
  const ok = {
    maxBoundMinusI: -3.7e-10,
    maxTightnessError: 8e-16,
    minPerturbedGap: 3.7e-10,
    maxExpectedBatchBias: -0.0177,
  };
  assertEquals(barberAgakovVerdict(ok), "HOLDS");
  assertEquals(
    barberAgakovVerdict({ ...ok, maxBoundMinusI: NUM_TOL, maxTightnessError: NUM_TOL }),
    "HOLDS",
  );
  // a q with a bound above I
  assertEquals(barberAgakovVerdict({ ...ok, maxBoundMinusI: 1e-9 }), "FAILS");
  // not tight at q = p(y|x)
  assertEquals(barberAgakovVerdict({ ...ok, maxTightnessError: 1e-9 }), "FAILS");
  // a q different from p(y|x) on the support that is still tight: "only if" false
  assertEquals(barberAgakovVerdict({ ...ok, minPerturbedGap: 0 }), "FAILS");
  assertEquals(barberAgakovVerdict({ ...ok, minPerturbedGap: NUM_TOL }), "FAILS");
  // the batch estimate above I in expectation
  assertEquals(barberAgakovVerdict({ ...ok, maxExpectedBatchBias: 1e-3 }), "FAILS");
  assertEquals(barberAgakovVerdict({ ...ok, maxBoundMinusI: NaN }), "FAILS");
});

// ---------------------------------------------------------------------------------------------
// table8

/** Eq. 4 for two modalities, rho_audio = σ(-gap/τ), rounded to the table's 4 decimals. */
function tableFromGap(gap: (tau: number) => number): { rhoAudio: number[]; rhoVideo: number[] } {
  const rhoAudio = TABLE8_TAU.map((t) => Math.round(1e4 / (1 + Math.exp(gap(t) / t))) / 1e4);
  return { rhoAudio, rhoVideo: rhoAudio.map((a) => Math.round(1e4 * (1 - a)) / 1e4) };
}

Deno.test("singleGapInterval: a table from one gap fits within rounding; Table 8 does not", () => {
  const one = tableFromGap(() => 0.5);
  const fit = singleGapInterval(TABLE8_TAU, one.rhoAudio);
  assertEquals(fit.fits, true);
  assertEquals(fit.maxLo <= 0.5 && 0.5 <= fit.minHi, true);
  assertEquals(singleGapInterval(TABLE8_TAU, TABLE8_RHO_AUDIO).fits, false);
  // the interval ends invert Eq. 4 at the rounding limits
  assertEquals(singleGapInterval([1], [0.3]).maxLo, impliedGap(1, 0.3 + ROUNDING));
});

Deno.test("table8Verdict: HOLDS, HOLDS-UNDER-CONDITION, FAILS; throws on an unusable table", () => {
  const table = {
    eq4Violations: 0,
    tau: TABLE8_TAU,
    rhoAudio: TABLE8_RHO_AUDIO,
    rhoVideo: TABLE8_RHO_VIDEO,
  };
  // the real table: no single gap, but the paper states its rho are means over iterations
  assertEquals(
    table8Verdict({ ...table, singleGapFits: false, paperStatesMeanOverIterations: true }),
    "HOLDS",
  );
  // were the paper silent on the averaging, a varying gap would be an unstated condition
  assertEquals(
    table8Verdict({ ...table, singleGapFits: false, paperStatesMeanOverIterations: false }),
    "HOLDS-UNDER-CONDITION",
  );
  // a table one fixed gap explains needs no condition
  const one = tableFromGap(() => 0.5);
  assertEquals(
    table8Verdict({
      ...table,
      ...one,
      singleGapFits: singleGapInterval(TABLE8_TAU, one.rhoAudio).fits,
      paperStatesMeanOverIterations: false,
    }),
    "HOLDS",
  );
  const stated = { singleGapFits: false, paperStatesMeanOverIterations: true };
  // Eq. 4's disparity not falling with τ somewhere: the statement is false
  assertEquals(table8Verdict({ ...table, ...stated, eq4Violations: 1 }), "FAILS");
  // rows not summing to 1 beyond two half-units of rounding: the table contradicts Eq. 4
  const rhoVideo = [...TABLE8_RHO_VIDEO];
  rhoVideo[3] += 3 * ROUNDING;
  assertEquals(table8Verdict({ ...table, ...stated, rhoVideo }), "FAILS");
  rhoVideo[3] = TABLE8_RHO_VIDEO[3] + 2 * ROUNDING;
  assertEquals(table8Verdict({ ...table, ...stated, rhoVideo }), "HOLDS");
  // a τ < 1 row with a smaller disparity than τ = 1's, or a τ > 1 row with a larger one
  const i1 = TABLE8_TAU.indexOf(1);
  for (const [t, rho] of [[0.5, TABLE8_RHO_AUDIO[i1] + 0.01], [2, TABLE8_RHO_AUDIO[i1] - 0.01]]) {
    const rhoAudio = [...TABLE8_RHO_AUDIO];
    const i = TABLE8_TAU.indexOf(t);
    rhoAudio[i] = rho;
    const rv = [...TABLE8_RHO_VIDEO];
    rv[i] = 1 - rho;
    assertEquals(
      table8Verdict({ ...table, ...stated, rhoAudio, rhoVideo: rv }),
      "FAILS",
      `τ = ${t}`,
    );
  }
  // a gap growing with τ faster than τ (gap/τ = 3τ) reverses the trend: FAILS
  const reversed = tableFromGap((t) => 3 * t * t);
  assertEquals(table8Verdict({ ...table, ...reversed, ...stated }), "FAILS");
  assertThrows(() =>
    table8Verdict({
      ...table,
      ...stated,
      tau: [0.5, 2],
      rhoAudio: [0.3, 0.4],
      rhoVideo: [0.7, 0.6],
    })
  );
  assertThrows(() =>
    table8Verdict({
      ...table,
      ...stated,
      tau: [0.5, 1],
      rhoAudio: [0.3, 0.4],
      rhoVideo: [0.7, 0.6],
    })
  );
  assertThrows(() => table8Verdict({ ...table, ...stated, rhoAudio: [0.3] }));
});

// ---------------------------------------------------------------------------------------------
// reference_vs_paper

Deno.test("referenceVsPaperVerdict: HOLDS when the formulas agree; any difference beyond FORMULA_TOL FAILS", () => {
  assertEquals(referenceVsPaperVerdict({ maxAbsBatch: 1e-15, maxAbsStream: 1e-12 }), "HOLDS");
  assertEquals(
    referenceVsPaperVerdict({ maxAbsBatch: FORMULA_TOL, maxAbsStream: FORMULA_TOL }),
    "HOLDS",
  );
  // one batch is a counterexample, however small the mean difference
  assertEquals(referenceVsPaperVerdict({ maxAbsBatch: 0.5, maxAbsStream: 0 }), "FAILS");
  // a float32-sized difference of the formulas is still a different formula
  assertEquals(referenceVsPaperVerdict({ maxAbsBatch: 1e-4, maxAbsStream: 0 }), "FAILS");
  // formulas agree, momentum (Eq. 3) missing: Eqs. 2-4 are not all computed
  assertEquals(referenceVsPaperVerdict({ maxAbsBatch: 0, maxAbsStream: 0.03 }), "FAILS");
  assertEquals(referenceVsPaperVerdict({ maxAbsBatch: NaN, maxAbsStream: 0 }), "FAILS");
});
