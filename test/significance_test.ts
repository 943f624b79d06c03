import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertLess,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import fc from "fast-check";
import {
  initialPaperSignificanceState,
  labelEntropy,
  meanSoftmaxEntropy,
  type ModalBatch,
  paperSignificance,
  type PaperSignificanceState,
} from "../src/amss/significance.ts";
import {
  referenceLabelEntropy,
  referenceSignificance,
} from "../src/amss/reference_significance.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";

const LN2 = Math.log(2);
const LN3 = Math.log(3);
const softplus = (x: number) => Math.log1p(Math.exp(x));
/** 1 - softmax(u / tau), written out directly for the small hand cases. */
const oneMinusSoftmax = (u: number[], tau: number) => {
  const e = u.map((x) => Math.exp(x / tau));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => 1 - x / s);
};
const F32_MAX = 3.4028234663852886e38;
const LN_F32_MAX = Math.log(F32_MAX); // 88.7228...

/**
 * Tolerance for comparing a float32 pipeline with exact (double) hand values: at most 64 float32
 * roundings (relative 2^-24 each) on quantities of magnitude <= 2, and the final
 * 1 - exp(a/tau) / (exp(a/tau) + exp(b/tau)) step multiplies an absolute error in a rate by at
 * most 1 / (4 tau) <= 1 / tau.
 */
const f32Tol = (tau = 1) => 64 * 2 ** -24 * 2 * (1 + 1 / tau);

/** Two classes, labels [0, 1]; modality k predicts the true class with logits [a_k, 0] / [0, a_k]. */
function twoClassBatch(a: number[], dims = a.map(() => 2)): ModalBatch {
  return {
    labels: [0, 1],
    numClasses: 2,
    predictionKind: "logits",
    predictions: a.map((ak) => [ak, 0, 0, ak]),
    // all-zero features: uniform softmax, H(X_k) = ln D
    features: dims.map((d) => ({ data: new Array(2 * d).fill(0), dim: d })),
  };
}
/** Hand value of the Barber–Agakov bound for {@link twoClassBatch}: ln 2 + log sigmoid(a). */
const twoClassBound = (a: number) => LN2 - softplus(-a);

// =============================================================================================
// Paper mode

Deno.test("paper mode: Eq. 2 bound, H(X_k) and rate match hand computation", () => {
  const batch: ModalBatch = {
    labels: [0, 1, 1],
    numClasses: 2,
    predictionKind: "logits",
    predictions: [
      [LN3, 0, 0, LN3, 0, 0], // q(true) = 3/4, 3/4, 1/2
      [0, 0, 0, 0, 0, 0], // q(true) = 1/2 everywhere
    ],
    features: [
      { data: [0, 0, LN3, 0, 5, 5], dim: 2 }, // entropies ln 2, H(3/4, 1/4), ln 2
      { data: [1, 1, 1, 1, 0, 0, 0, 0, -7, -7, -7, -7], dim: 4 }, // ln 4 each
    ],
  };
  const tau = 0.5;
  const { result, state } = paperSignificance(batch, initialPaperSignificanceState(), { tau });
  // H(Y) = -(1/3 ln 1/3 + 2/3 ln 2/3) = ln 3 - (2/3) ln 2
  const hY = LN3 - (2 / 3) * LN2;
  assertAlmostEquals(result.labelEntropy, hY, 1e-15);
  // mean log q: modality 0: (2 ln(3/4) + ln(1/2)) / 3 = (2 ln 3 - 5 ln 2) / 3; modality 1: -ln 2
  const b0 = hY + (2 * LN3 - 5 * LN2) / 3; // = (5/3) ln 3 - (7/3) ln 2
  const b1 = hY - LN2; // = ln 3 - (5/3) ln 2 < 0
  assertAlmostEquals(result.bound[0], (5 / 3) * LN3 - (7 / 3) * LN2, 1e-15);
  assertAlmostEquals(result.bound[0], b0, 1e-15);
  assertAlmostEquals(result.bound[1], b1, 1e-15);
  // H(3/4, 1/4) = 2 ln 2 - (3/4) ln 3, so H(X_0) = (4 ln 2 - (3/4) ln 3) / 3; H(X_1) = ln 4
  const h0 = (4 * LN2 - 0.75 * LN3) / 3;
  assertAlmostEquals(result.featureEntropy[0], h0, 1e-15);
  assertAlmostEquals(result.featureEntropy[1], 2 * LN2, 1e-15);
  assertAlmostEquals(result.rate[0], b0 / h0, 1e-14);
  assertAlmostEquals(result.rate[1], b1 / (2 * LN2), 1e-14);
  // init "first": u_1 = u_hat_1; Eq. 4
  assertEquals(Array.from(result.smoothed), Array.from(result.rate));
  const rho = oneMinusSoftmax([b0 / h0, b1 / (2 * LN2)], tau);
  assertAlmostEquals(result.ratios[0], rho[0], 1e-14);
  assertAlmostEquals(result.ratios[1], rho[1], 1e-14);
  assertLess(result.ratios[0], result.ratios[1]); // the better-predicting modality is masked more
  assertEquals(result.branch, "normal");
  assertEquals(result.ratioFlags, ["none", "none"]);
  assertEquals(state.steps, 1);
});

Deno.test("paper mode: momentum recursion (Eq. 3) matches hand computation over three steps, init 'first' and 'zero'", () => {
  // step t, modality k: twoClassBatch with a = A[t][k]; entropy "none" so u_hat = bound.
  const A = [[2, 0], [1, 1], [0, 3]];
  const uh = A.map((row) => row.map(twoClassBound)); // u_hat_t^k
  const lambda = 0.8;
  const tau = 0.3;
  // Expanded by hand: "first": u1 = uh1, u2 = 0.8 uh1 + 0.2 uh2, u3 = 0.64 uh1 + 0.16 uh2 + 0.2 uh3.
  //                   "zero":  u1 = 0.2 uh1, u2 = 0.16 uh1 + 0.2 uh2, u3 = 0.128 uh1 + 0.16 uh2 + 0.2 uh3.
  const expected = {
    first: [
      (k: number) => uh[0][k],
      (k: number) => 0.8 * uh[0][k] + 0.2 * uh[1][k],
      (k: number) => 0.64 * uh[0][k] + 0.16 * uh[1][k] + 0.2 * uh[2][k],
    ],
    zero: [
      (k: number) => 0.2 * uh[0][k],
      (k: number) => 0.16 * uh[0][k] + 0.2 * uh[1][k],
      (k: number) => 0.128 * uh[0][k] + 0.16 * uh[1][k] + 0.2 * uh[2][k],
    ],
  };
  for (const init of ["first", "zero"] as const) {
    let state: PaperSignificanceState = initialPaperSignificanceState();
    for (let t = 0; t < 3; t++) {
      const out = paperSignificance(twoClassBatch(A[t]), state, {
        tau,
        lambda,
        init,
        entropy: "none",
      });
      const u = [0, 1].map(expected[init][t]);
      for (let k = 0; k < 2; k++) {
        assertAlmostEquals(out.result.rate[k], uh[t][k], 1e-15);
        assertEquals(out.result.featureEntropy[k], 1);
        assertAlmostEquals(out.result.smoothed[k], u[k], 1e-15, `${init} step ${t + 1}`);
        assertAlmostEquals(out.state.u![k], u[k], 1e-15);
      }
      const rho = oneMinusSoftmax(u, tau);
      assertAlmostEquals(out.result.ratios[0], rho[0], 1e-14);
      assertAlmostEquals(out.result.ratios[1], rho[1], 1e-14);
      assertEquals(out.state.steps, t + 1);
      state = out.state;
    }
  }
  // lambda = 0: no memory, u = u_hat at every step
  const s1 = paperSignificance(twoClassBatch(A[0]), initialPaperSignificanceState(), {
    tau,
    lambda: 0,
    entropy: "none",
  });
  const s2 = paperSignificance(twoClassBatch(A[1]), s1.state, { tau, lambda: 0, entropy: "none" });
  assertEquals(Array.from(s2.result.smoothed), Array.from(s2.result.rate));
  // default lambda is 0.9 and default init is "first"
  const d2 = paperSignificance(twoClassBatch(A[1]), s1.state, { tau, entropy: "none" });
  assertAlmostEquals(d2.result.smoothed[0], 0.9 * uh[0][0] + 0.1 * uh[1][0], 1e-15);
});

Deno.test("paper mode: K = 3 modalities work; ratios sum to K - 1 and follow the bounds", () => {
  const batch: ModalBatch = {
    labels: [0, 1, 2],
    numClasses: 3,
    predictionKind: "logits",
    predictions: [
      [3, 0, 0, 0, 3, 0, 0, 0, 3], // good
      [1, 0, 0, 0, 1, 0, 0, 0, 1], // medium
      [0, 0, 0, 0, 0, 0, 0, 0, 0], // chance
    ],
    features: [0, 1, 2].map(() => ({ data: new Float32Array(9), dim: 3 })),
  };
  const { result } = paperSignificance(batch, initialPaperSignificanceState(), { tau: 0.5 });
  // log q(true) for logits [a, 0, 0] = a - ln(e^a + 2); H(Y) = ln 3; H(X_k) = ln 3
  const bounds = [3, 1, 0].map((a) => LN3 + a - Math.log(Math.exp(a) + 2));
  assertAlmostEquals(result.bound[2], 0, 1e-15);
  const rho = oneMinusSoftmax(bounds.map((b) => b / LN3), 0.5);
  for (let k = 0; k < 3; k++) {
    assertAlmostEquals(result.bound[k], bounds[k], 1e-15);
    assertAlmostEquals(result.ratios[k], rho[k], 1e-14);
  }
  assertAlmostEquals(result.ratios.reduce((a, b) => a + b, 0), 2, 1e-15);
  assert(result.ratios[0] < result.ratios[1] && result.ratios[1] < result.ratios[2]);
});

Deno.test("paper mode: state is JSON round-trippable, resuming from it gives identical results, input state untouched", () => {
  const rng = new Rng(31);
  const batches = Array.from({ length: 4 }, () => randomBatch(rng, 6, 4, 3, 5));
  const config = { tau: 0.25, lambda: 0.7 };
  let state = initialPaperSignificanceState();
  for (let t = 0; t < 2; t++) state = paperSignificance(batches[t], state, config).state;
  const frozen = JSON.stringify(state);
  const restored: PaperSignificanceState = JSON.parse(frozen);
  assertEquals(restored, state);
  const a = paperSignificance(batches[2], state, config);
  const b = paperSignificance(batches[2], restored, config);
  assertEquals(JSON.stringify(state), frozen); // pure: the old state is not mutated
  assertEquals(Array.from(a.result.ratios), Array.from(b.result.ratios));
  assertEquals(a.state, b.state);
  const a2 = paperSignificance(batches[3], a.state, config);
  const b2 = paperSignificance(batches[3], JSON.parse(JSON.stringify(b.state)), config);
  assertEquals(Array.from(a2.result.ratios), Array.from(b2.result.ratios));
  // the initial state is plain JSON too
  assertEquals(JSON.parse(JSON.stringify(initialPaperSignificanceState())), { u: null, steps: 0 });
});

/** A random valid batch: B samples, C classes, K modalities, D feature coordinates. */
function randomBatch(rng: Rng, B: number, C: number, K: number, D: number, scale = 3): ModalBatch {
  return {
    labels: Array.from({ length: B }, () => rng.int(C)),
    numClasses: C,
    predictionKind: "logits",
    predictions: Array.from(
      { length: K },
      () => Float32Array.from({ length: B * C }, () => scale * rng.normal()),
    ),
    features: Array.from({ length: K }, () => ({
      data: Float32Array.from({ length: B * D }, () => scale * rng.normal()),
      dim: D,
    })),
  };
}

Deno.test("paper mode: probabilities and logits give the same bound", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 1, max: 8 }),
      (seed, B) => {
        const rng = new Rng(seed);
        const C = 2 + rng.int(4);
        const batch = randomBatch(rng, B, C, 2, 3);
        const probs = batch.predictions.map((logits) => {
          const out = new Float64Array(logits.length);
          for (let i = 0; i < B; i++) {
            let m = -Infinity;
            for (let c = 0; c < C; c++) m = Math.max(m, logits[i * C + c]);
            let s = 0;
            for (let c = 0; c < C; c++) s += Math.exp(logits[i * C + c] - m);
            for (let c = 0; c < C; c++) out[i * C + c] = Math.exp(logits[i * C + c] - m) / s;
          }
          return out;
        });
        const cfg = { tau: 0.5 };
        const a = paperSignificance(batch, initialPaperSignificanceState(), cfg).result;
        const b = paperSignificance(
          { ...batch, predictions: probs, predictionKind: "probs" },
          initialPaperSignificanceState(),
          cfg,
        ).result;
        for (let k = 0; k < 2; k++) assertAlmostEquals(a.bound[k], b.bound[k], 1e-12);
      },
    ),
    { seed: 301, numRuns: 200 },
  );
});

Deno.test("paper mode: a true-class probability of 0 is an error naming the modality and sample", () => {
  const batch: ModalBatch = {
    labels: [0, 1],
    numClasses: 2,
    predictionKind: "probs",
    predictions: [[0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]],
  };
  assertThrows(
    () => paperSignificance(batch, initialPaperSignificanceState(), { tau: 1, entropy: "none" }),
    AmssArgumentError,
    "predictions[1] gives the true class probability 0 at sample 1 (labels[1] = 1)",
  );
});

Deno.test("paper mode: probability rows must be non-negative and sum to 1 within 1e-3", () => {
  const mk = (row: number[]): ModalBatch => ({
    labels: [0],
    numClasses: 2,
    predictionKind: "probs",
    predictions: [[0.5, 0.5], row],
  });
  const run = (b: ModalBatch) =>
    paperSignificance(b, initialPaperSignificanceState(), { tau: 1, entropy: "none" });
  assertThrows(
    () => run(mk([0.6, 0.6])),
    AmssArgumentError,
    "predictions[1] row of sample 0 must sum to 1 within 0.001",
  );
  assertThrows(
    () => run(mk([1.2, -0.2])),
    AmssArgumentError,
    "predictions[1][1] (sample 0, class 1) must be a probability",
  );
  assertThrows(() => run(mk([NaN, 1])), AmssArgumentError, "predictions[1][0]");
  // within tolerance: accepted and used as given
  const ok = run(mk([0.5004, 0.5004])).result;
  assertAlmostEquals(ok.meanLogQ[1], Math.log(0.5004), 1e-15);
});

Deno.test("paper mode: entropy 'none' divides by 1; 'features' needs features with H(X_k) > 0", () => {
  const batch = twoClassBatch([2, 0]);
  const none = paperSignificance(batch, initialPaperSignificanceState(), {
    tau: 1,
    entropy: "none",
  });
  assertEquals(Array.from(none.result.rate), Array.from(none.result.bound));
  const { features: _drop, ...noFeatures } = batch;
  assertThrows(
    () => paperSignificance(noFeatures, initialPaperSignificanceState(), { tau: 1 }),
    AmssArgumentError,
    'features must be given (one {data, dim} per modality) for entropy: "features"',
  );
  // entropy "none" ignores missing features
  paperSignificance(noFeatures, initialPaperSignificanceState(), { tau: 1, entropy: "none" });
  // D = 1: the softmax over one coordinate is 1, its entropy 0
  assertThrows(
    () =>
      paperSignificance(twoClassBatch([2, 0], [2, 1]), initialPaperSignificanceState(), { tau: 1 }),
    AmssArgumentError,
    "features[1] has softmax entropy H(X_1) = 0 (dim = 1",
  );
  // one-hot softmaxes (huge gaps) also give exactly 0
  const peaked = { ...batch, features: [{ data: [0, 1e6, 1e6, 0], dim: 2 }, batch.features![1]] };
  assertThrows(
    () => paperSignificance(peaked, initialPaperSignificanceState(), { tau: 1 }),
    AmssArgumentError,
    "features[0] has softmax entropy H(X_0) = 0",
  );
  // a tiny but positive H(X_k) that makes bound / H overflow is an error too, not an infinite rate
  const overflow: ModalBatch = {
    ...batch,
    predictions: [[1e300, -1e300, 1e300, -1e300], batch.predictions[1]], // log q = -2e300 at sample 1
    features: [{ data: [0, 30, 30, 0], dim: 2 }, batch.features![1]], // H ~ 31 e^-30 ~ 3e-12
  };
  assertThrows(
    () => paperSignificance(overflow, initialPaperSignificanceState(), { tau: 1 }),
    AmssArgumentError,
    "so small that the rate",
  );
});

Deno.test("meanSoftmaxEntropy and labelEntropy: hand values and stability", () => {
  // rows [0, 0, 0] -> ln 3; [ln 3, 0, 0] -> softmax (3/5, 1/5, 1/5) -> ln 5 - (3/5) ln 3
  assertAlmostEquals(
    meanSoftmaxEntropy([0, 0, 0, LN3, 0, 0], 3),
    (0.4 * LN3 + Math.log(5)) / 2,
    1e-15,
  );
  // huge but finite features: shift invariance keeps the value
  assertAlmostEquals(meanSoftmaxEntropy([1e300, 1e300], 2), LN2, 1e-15);
  assertAlmostEquals(meanSoftmaxEntropy([-1e300, 1e300], 2), 0, 0);
  assertAlmostEquals(labelEntropy([0, 0, 1, 2], 3), 1.5 * LN2, 1e-15);
});

Deno.test("paper mode: every output is finite for random valid batches (no NaN)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.record({
        B: fc.integer({ min: 1, max: 8 }),
        C: fc.integer({ min: 2, max: 5 }),
        K: fc.integer({ min: 2, max: 4 }),
        D: fc.integer({ min: 2, max: 6 }),
        logitScale: fc.constantFrom(0.01, 1, 30, 1e100, 1e300),
        featureScale: fc.constantFrom(0.01, 1, 30),
        tau: fc.double({ min: 1e-6, max: 1e3, noNaN: true }),
        lambda: fc.double({ min: 0, max: 0.999, noNaN: true }),
        init: fc.constantFrom("first" as const, "zero" as const),
      }),
      (seed, { B, C, K, D, logitScale, featureScale, tau, lambda, init }) => {
        const rng = new Rng(seed);
        let state = initialPaperSignificanceState();
        for (let t = 0; t < 3; t++) {
          const batch = randomBatch(rng, B, C, K, D, featureScale);
          // plain arrays: Float32Array cannot hold logits of size 1e100 or 1e300
          batch.predictions = batch.predictions.map(() =>
            Array.from({ length: B * C }, () => logitScale * rng.normal())
          );
          // logits of size 1e100+ give bounds of that size; divided by a small H(X_k) they may
          // overflow, which is a (tested) error, so those runs divide by 1
          const entropy = logitScale > 30 ? "none" : "features";
          const out = paperSignificance(batch, state, { tau, lambda, init, entropy });
          const r = out.result;
          for (const arr of [r.ratios, r.bound, r.meanLogQ, r.featureEntropy, r.rate, r.smoothed]) {
            for (const x of arr) assert(Number.isFinite(x), `non-finite ${x}`);
          }
          assert(Number.isFinite(r.labelEntropy));
          // K ratios, each with relative error ~ 2K eps
          assertAlmostEquals(
            r.ratios.reduce((a, b) => a + b, 0),
            K - 1,
            8 * K * K * Number.EPSILON,
          );
          state = out.state;
        }
      },
    ),
    { seed: 302, numRuns: 300 },
  );
});

// =============================================================================================
// Reference mode (float32)

Deno.test("reference mode: H_ref equals log C for a batch balanced over classes 0..C-1", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 12 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer(),
      (C, m, seed) => {
        const labels = Array.from({ length: C * m }, (_, i) => i % C);
        new Rng(seed).shuffle(labels);
        // float32: about 3C + 6 roundings of relative 2^-24 on terms of size <= max(1, ln C)
        const tol = (3 * C + 6) * 2 ** -24 * Math.max(1, Math.log(C));
        assertAlmostEquals(referenceLabelEntropy(labels), Math.log(C), tol);
        assertAlmostEquals(labelEntropy(labels, C), Math.log(C), 1e-14);
      },
    ),
    { seed: 401, numRuns: 200 },
  );
});

Deno.test("reference mode: H_ref differs from the entropy for unbalanced batches and uses length max(label) + 1", () => {
  // With sum_c f_c = 1: H_ref = -sum_c f_c (f_c - LSE(f)) = LSE(f) - sum_c f_c^2, LSE = ln sum_c e^{f_c}.
  const tol = 32 * 2 ** -24 * 2;
  // [0, 0, 0, 1]: f = (3/4, 1/4): H_ref = ln(e^{3/4} + e^{1/4}) - 5/8 ~ 0.5991,
  // the entropy is ln 4 - (3/4) ln 3 ~ 0.5623.
  const href = referenceLabelEntropy([0, 0, 0, 1]);
  assertAlmostEquals(href, Math.log(Math.exp(0.75) + Math.exp(0.25)) - 5 / 8, tol);
  assertAlmostEquals(labelEntropy([0, 0, 0, 1], 2), 2 * LN2 - 0.75 * LN3, 1e-15);
  assertGreater(href - labelEntropy([0, 0, 0, 1], 2), 0.03);
  // max label 2 < C - 1 = 3, class 0 absent: f = (0, 1/2, 1/2) of length 3:
  // H_ref = ln(1 + 2 e^{1/2}) - 1/2 ~ 0.9580, not the length-4 value ln(2 + 2 e^{1/2}) - 1/2 ~ 1.1672,
  // and not the entropy ln 2.
  const h3 = referenceLabelEntropy([1, 1, 2, 2]);
  assertAlmostEquals(h3, Math.log(1 + 2 * Math.exp(0.5)) - 0.5, tol);
  assertGreater(Math.abs(h3 - (Math.log(2 + 2 * Math.exp(0.5)) - 0.5)), 0.2);
  assertGreater(h3 - labelEntropy([1, 1, 2, 2], 4), 0.2);
  // [0, 1, 0, 1] with C = 4: f = (1/2, 1/2) of length 2, H_ref = ln 2 (the length-4 vector would give ~1.1672)
  assertAlmostEquals(referenceLabelEntropy([0, 1, 0, 1]), LN2, tol);
  // the result reports the H_ref it used
  const b = twoClassBatch([1, 1]);
  const r = referenceSignificance({ ...b, labels: [1, 1], numClasses: 2 }, { tau: 1 });
  // f = (0, 1): H_ref = ln(1 + e) - 1
  assertAlmostEquals(r.labelEntropy, Math.log(1 + Math.E) - 1, tol);
});

Deno.test("reference mode: normal path matches hand computation; all values are float32", () => {
  // labels [0, 1]: H_ref = ln 2; features all 0 with D = 2: H(X_k) = ln 2;
  // bound_k = ln 2 - softplus(-a_k); rate_k = (bound_k + 0.5) / ln 2.
  const tau = 1;
  const r = referenceSignificance(twoClassBatch([2, 0]), { tau });
  const rate = [2, 0].map((a) => (twoClassBound(a) + 0.5) / LN2); // 1.53823, 0.72135
  const rho0 = 1 / (1 + Math.exp((rate[0] - rate[1]) / tau)); // 0.30643
  const tol = f32Tol(tau);
  assertAlmostEquals(r.labelEntropy, LN2, tol);
  for (let k = 0; k < 2; k++) {
    assertAlmostEquals(r.bound[k], twoClassBound([2, 0][k]), tol);
    assertAlmostEquals(r.featureEntropy[k], LN2, tol);
    assertAlmostEquals(r.rate[k], rate[k], tol);
  }
  assertAlmostEquals(r.ratios[0], rho0, tol);
  assertAlmostEquals(r.ratios[1], 1 - rho0, tol);
  assertAlmostEquals(rho0, 0.30643, 1e-5); // sanity of the hand value itself
  assertEquals(r.branch, "normal");
  assertEquals(r.ratioFlags, ["none", "none"]);
  assertEquals(r.mode, "reference");
  assertEquals(Array.from(r.smoothed), Array.from(r.rate)); // no momentum
  for (const arr of [r.ratios, r.bound, r.meanLogQ, r.featureEntropy, r.rate]) {
    for (const x of arr) assertStrictEquals(Math.fround(x), x);
  }
  assertStrictEquals(Math.fround(r.labelEntropy), r.labelEntropy);
});

Deno.test("reference mode: Float32Array / Int32Array inputs give the same result as plain arrays", () => {
  const rng = new Rng(77);
  const batch = randomBatch(rng, 8, 4, 2, 16);
  const plain: ModalBatch = {
    ...batch,
    labels: Array.from(batch.labels),
    predictions: batch.predictions.map((p) => Array.from(p)),
    features: batch.features!.map((f) => ({ data: Array.from(f.data), dim: f.dim })),
  };
  const typed: ModalBatch = { ...batch, labels: Int32Array.from(batch.labels) };
  assertEquals(
    referenceSignificance(typed, { tau: 0.2 }),
    referenceSignificance(plain, { tau: 0.2 }),
  );
});

Deno.test("reference mode: ratios below 0.1 / above 0.9 are clamped to fround(0.1) / fround(0.9)", () => {
  // same batch as the normal case, tau = 0.2: rho_0 = 1 / (1 + exp(0.81688 / 0.2)) ~ 0.0166
  const r = referenceSignificance(twoClassBatch([2, 0]), { tau: 0.2 });
  const rate = [2, 0].map((a) => (twoClassBound(a) + 0.5) / LN2);
  assertLess(1 / (1 + Math.exp((rate[0] - rate[1]) / 0.2)), 0.1);
  assertStrictEquals(r.ratios[0], Math.fround(0.1));
  assertStrictEquals(r.ratios[1], Math.fround(0.9));
  assertEquals(r.ratioFlags, ["clamped-low", "clamped-high"]);
  assertEquals(r.branch, "clamped");
  // mirrored: modality 1 dominant
  const m = referenceSignificance(twoClassBatch([0, 2]), { tau: 0.2 });
  assertEquals(Array.from(m.ratios), [Math.fround(0.9), Math.fround(0.1)]);
  assertEquals(m.ratioFlags, ["clamped-high", "clamped-low"]);
});

Deno.test("reference mode: if either bound + 0.5 <= 0 both ratios fall back to 0.5", () => {
  // a = -3: bound = ln 2 - softplus(3) ~ -2.355, so bound + 0.5 < 0
  for (const a of [[2, -3], [-3, 2], [-3, -3]]) {
    const r = referenceSignificance(twoClassBatch(a), { tau: 0.2 });
    assertEquals(Array.from(r.ratios), [0.5, 0.5]);
    assertEquals(r.branch, "fallback-nonpositive");
  }
  // the threshold is bound + 0.5 = 0: choose a with bound = -0.5 -/+ 1e-3
  // (ln 2 - softplus(-a) = -0.5 + d  <=>  a = -ln(expm1(ln 2 + 0.5 - d)); 1e-3 >> float32 error)
  const aFor = (d: number) => -Math.log(Math.expm1(LN2 + 0.5 - d));
  const below = referenceSignificance(twoClassBatch([2, aFor(-1e-3)]), { tau: 1 });
  assertAlmostEquals(below.bound[1], -0.501, f32Tol());
  assertEquals(below.branch, "fallback-nonpositive");
  const above = referenceSignificance(twoClassBatch([2, aFor(1e-3)]), { tau: 1 });
  assertAlmostEquals(above.bound[1], -0.499, f32Tol());
  assert(above.branch !== "fallback-nonpositive");
  assertLess(above.ratios[0], 0.5);
});

Deno.test("reference mode: float32 exp overflow follows the authors' quotients: e_k = Inf gives rho_k = 0 -> 0.1 and the other Inf / Inf = NaN -> 0.5", () => {
  // rho_0 = e_1 / (e_1 + e_0), rho_1 = e_0 / (e_0 + e_1), e_k = exp(rate_k / tau) in float32
  const rate = [2, 0].map((a) => (twoClassBound(a) + 0.5) / LN2); // 1.53823, 0.72135
  // one overflow: tau = 0.017: rate_0 / tau ~ 90.5 > ln(FLT_MAX) ~ 88.72, rate_1 / tau ~ 42.4.
  // e_0 = Inf: rho_0 = e_1 / Inf = 0 -> clamped to 0.1; rho_1 = Inf / Inf = NaN -> 0.5.
  // (The form 1 - e_k / (e_0 + e_1) would give the opposite, (0.5, 0.9).)
  assertGreater(rate[0] / 0.017, LN_F32_MAX);
  assertLess(rate[1] / 0.017, LN_F32_MAX);
  const one = referenceSignificance(twoClassBatch([2, 0]), { tau: 0.017 });
  assertEquals(Array.from(one.ratios), [Math.fround(0.1), 0.5]);
  assertEquals(one.ratioFlags, ["clamped-low", "nan"]);
  assertEquals(one.branch, "nan");
  // mirrored: the overflowing modality second
  const mirrored = referenceSignificance(twoClassBatch([0, 2]), { tau: 0.017 });
  assertEquals(Array.from(mirrored.ratios), [0.5, Math.fround(0.1)]);
  assertEquals(mirrored.ratioFlags, ["nan", "clamped-low"]);
  // both overflow: tau = 0.005 (rate / tau ~ 308 and 144): Inf / Inf twice -> 0.5, 0.5
  const both = referenceSignificance(twoClassBatch([2, 0]), { tau: 0.005 });
  assertEquals(Array.from(both.ratios), [0.5, 0.5]);
  assertEquals(both.ratioFlags, ["nan", "nan"]);
  assertEquals(both.branch, "nan");
  // the threshold sits at ln(FLT_MAX) = 88.7228: 88.70 stays finite (clamped, no NaN), 88.75 overflows
  // (margins 0.02 / 88.7 = 2e-4 relative, far above the float32 error of the rate, ~1e-6)
  const justBelow = referenceSignificance(twoClassBatch([2, 0]), { tau: rate[0] / 88.7 });
  assertEquals(justBelow.branch, "clamped");
  assertEquals(Array.from(justBelow.ratios), [Math.fround(0.1), Math.fround(0.9)]);
  const justAbove = referenceSignificance(twoClassBatch([2, 0]), { tau: rate[0] / 88.75 });
  assertEquals(justAbove.branch, "nan");
  assertEquals(Array.from(justAbove.ratios), [Math.fround(0.1), 0.5]);
  // the same inputs in paper mode (float64, stable) never produce NaN
  const paper = paperSignificance(twoClassBatch([2, 0]), initialPaperSignificanceState(), {
    tau: 0.005,
  });
  assert(paper.result.ratios.every(Number.isFinite));
});

Deno.test("reference mode: float32 overflow of e_0 + e_1 alone makes both quotients finite / Inf = 0, clamped to 0.1", () => {
  // equal rates r, tau = r / 88.5: each e = e^88.5 ~ 2.7e38 < FLT_MAX but e + e ~ 5.4e38 overflows;
  // rho_k = e_j / Inf = 0 for both (the form 1 - e_k / Inf would give 1, clamped to 0.9).
  const r = (twoClassBound(2) + 0.5) / LN2;
  assertGreater(2 * Math.exp(88.5), F32_MAX);
  assertLess(Math.exp(88.5), F32_MAX);
  const out = referenceSignificance(twoClassBatch([2, 2]), { tau: r / 88.5 });
  assertEquals(Array.from(out.ratios), [Math.fround(0.1), Math.fround(0.1)]);
  assertEquals(out.ratioFlags, ["clamped-low", "clamped-low"]);
  assertEquals(out.branch, "clamped");
});

Deno.test("reference mode: H(X_k) = -0 (one-hot feature softmaxes in float32) gives rate -Infinity, e_k = 0", () => {
  // every non-maximal coordinate 200 below the max: exp(-200) underflows to 0 in float32, so
  // H = -(sum of zero products) / B = -0 (as in torch: the sum is +0, negated), and
  // rate = shifted / -0 = -Infinity, e_0 = 0: rho_0 = e_1 / (e_1 + 0) = 1 -> 0.9, rho_1 = 0 -> 0.1.
  const b = twoClassBatch([2, 1]);
  const oneHot = { data: [0, -200, -200, 0], dim: 2 };
  const r = referenceSignificance({ ...b, features: [oneHot, b.features![1]] }, { tau: 1 });
  assert(Object.is(r.featureEntropy[0], -0));
  assertEquals(r.rate[0], -Infinity);
  assertEquals(Array.from(r.ratios), [Math.fround(0.9), Math.fround(0.1)]);
  assertEquals(r.ratioFlags, ["clamped-high", "clamped-low"]);
  // both: 0 / (0 + 0) = NaN twice -> 0.5
  const both = referenceSignificance({ ...b, features: [oneHot, oneHot] }, { tau: 1 });
  assertEquals(Array.from(both.ratios), [0.5, 0.5]);
  assertEquals(both.ratioFlags, ["nan", "nan"]);
});

Deno.test("reference mode: log-softmax in torch's order (x - max) - log sum exp(x - max) is exactly shift-invariant", () => {
  // Rows on a 2^-10 grid in [-8, 8] shifted by c on the same grid in [-512, 512]: x + c and
  // (x + c) - (max + c) are exact in float32, so with the max subtracted first every
  // intermediate, and so H(X_k) and meanLogQ, are bitwise equal for x and x + c. The grouping
  // x - (max + log s) rounds max + log s at the scale of c and breaks this (by up to ulp(c) / 2,
  // 3e-5 at c = 300).
  const grid = (v: number) => Math.round(v * 1024) / 1024;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: -512 * 1024, max: 512 * 1024 }),
      (seed, c1024) => {
        const c = c1024 / 1024;
        const rng = new Rng(seed);
        const B = 1 + rng.int(4);
        const C = 2 + rng.int(4);
        const D = 2 + rng.int(6);
        const logits = [0, 1].map(() =>
          Array.from({ length: B * C }, () => grid(Math.max(-8, Math.min(8, 3 * rng.normal()))))
        );
        const feats = [0, 1].map(() =>
          Array.from({ length: B * D }, () => grid(Math.max(-8, Math.min(8, 3 * rng.normal()))))
        );
        const labels = Array.from({ length: B }, () => rng.int(C));
        const batch = (shift: number): ModalBatch => ({
          labels,
          numClasses: C,
          predictionKind: "logits",
          predictions: logits.map((l) => l.map((v) => v + shift)),
          features: feats.map((f) => ({ data: f.map((v) => v + shift), dim: D })),
        });
        const a = referenceSignificance(batch(0), { tau: 1 });
        const s = referenceSignificance(batch(c), { tau: 1 });
        assertEquals(Array.from(s.featureEntropy), Array.from(a.featureEntropy));
        assertEquals(Array.from(s.meanLogQ), Array.from(a.meanLogQ));
        assertEquals(Array.from(s.ratios), Array.from(a.ratios));
      },
    ),
    { seed: 4242, numRuns: 150 },
  );
  // a row [m, m] has softmax (1/2, 1/2): H = log 2 to the float32 rounding of log, whatever m
  for (const m of [0, 0.3, 300.3, -4096.7, 65536.5]) {
    const b = twoClassBatch([1, 1]);
    const f = { data: [m, m], dim: 2 };
    const r = referenceSignificance({
      ...b,
      labels: [0],
      predictions: [[m, m], [m, m]],
      features: [f, f],
    }, {
      tau: 1,
    });
    assertStrictEquals(r.featureEntropy[0], Math.fround(LN2), `m = ${m}`);
    assertStrictEquals(r.meanLogQ[0], -Math.fround(LN2), `m = ${m}`);
  }
});

Deno.test("reference mode: K = 3 and 4 use rho_k = S_k / (S_k + e_k), S_k = sum_{j != k} e_j (= 1 - softmax(t)_k)", () => {
  // labels [0, 1], all-zero features (H(X_k) = ln D): rate_k = (ln 2 - softplus(-a_k) + 0.5) / ln D
  for (const [a, tau] of [[[2, 0, 1], 2], [[1, 0.5, 2, 0], 4], [[0.2, 0.4, 0.3], 1]] as const) {
    const K = a.length;
    const r = referenceSignificance(twoClassBatch([...a]), { tau });
    const rate = a.map((ak) => (twoClassBound(ak) + 0.5) / LN2);
    const want = oneMinusSoftmax(rate, tau);
    for (let k = 0; k < K; k++) {
      assertAlmostEquals(r.rate[k], rate[k], f32Tol(tau));
      assertAlmostEquals(r.ratios[k], want[k], f32Tol(tau));
    }
    assertAlmostEquals(r.ratios.reduce((x, y) => x + y, 0), K - 1, K * f32Tol(tau));
    assertEquals(r.branch, "normal");
    assertEquals(r.ratioFlags.length, K);
  }
  // one overflow among three: its own quotient is finite / Inf = 0 -> 0.1, the two others hold
  // Inf in the numerator: Inf / Inf = NaN -> 0.5 (the 0.5 is kept for every K)
  const rate = [2, 0, 1].map((a) => (twoClassBound(a) + 0.5) / LN2); // 1.538, 0.721, 1.272
  assertGreater(rate[0] / 0.017, LN_F32_MAX);
  assertLess(rate[2] / 0.017, LN_F32_MAX);
  const one = referenceSignificance(twoClassBatch([2, 0, 1]), { tau: 0.017 });
  assertEquals(Array.from(one.ratios), [Math.fround(0.1), 0.5, 0.5]);
  assertEquals(one.ratioFlags, ["clamped-low", "nan", "nan"]);
  assertEquals(one.branch, "nan");
  // equal rates r: t = 87.9 gives e ~ 1.5e38, pairs S_k ~ 3e38 finite, S_k + e_k overflow: 0 -> 0.1;
  // t = 88.3 gives e ~ 2.1e38, already S_k = Inf: Inf / Inf -> 0.5
  const r = (twoClassBound(2) + 0.5) / LN2;
  const sum = referenceSignificance(twoClassBatch([2, 2, 2]), { tau: r / 87.9 });
  assertEquals(Array.from(sum.ratios), [0.1, 0.1, 0.1].map(Math.fround));
  assertEquals(sum.ratioFlags, ["clamped-low", "clamped-low", "clamped-low"]);
  const pairs = referenceSignificance(twoClassBatch([2, 2, 2]), { tau: r / 88.3 });
  assertEquals(Array.from(pairs.ratios), [0.5, 0.5, 0.5]);
  assertEquals(pairs.branch, "nan");
  // a non-positive shifted bound in any modality: every ratio 0.5
  const fb = referenceSignificance(twoClassBatch([2, 1, -3, 2]), { tau: 0.5 });
  assertEquals(Array.from(fb.ratios), [0.5, 0.5, 0.5, 0.5]);
  assertEquals(fb.branch, "fallback-nonpositive");
  assertEquals(fb.ratioFlags, ["none", "none", "none", "none"]);
});

Deno.test("reference mode: logits and features with dim >= 2 only", () => {
  const b = twoClassBatch([1, 1]);
  assertThrows(
    () =>
      referenceSignificance({
        ...b,
        predictionKind: "probs",
        predictions: [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]],
      }, { tau: 1 }),
    AmssArgumentError,
    'predictionKind must be "logits" in reference mode',
  );
  const { features: _f, ...noFeatures } = b;
  assertThrows(
    () => referenceSignificance(noFeatures, { tau: 1 }),
    AmssArgumentError,
    "features must be given",
  );
  assertThrows(
    () => referenceSignificance(twoClassBatch([1, 1], [2, 1]), { tau: 1 }),
    AmssArgumentError,
    "features[1].dim must be >= 2 in reference mode",
  );
  // a double logit beyond the float32 range is not a float32 logit
  assertThrows(
    () => referenceSignificance({ ...b, predictions: [[1e39, 0, 0, 1], [0, 0, 0, 0]] }, { tau: 1 }),
    AmssArgumentError,
    "predictions[0][0] (sample 0, class 0) must be a finite float32 logit",
  );
});

// =============================================================================================
// Bad input, both modes

/** A valid batch: K = 2, B = 4, C = 3, D = 3. */
function validBatch(): ModalBatch {
  return randomBatch(new Rng(5), 4, 3, 2, 3);
}

const paperRun = (b: ModalBatch, cfg: Record<string, unknown> = {}) =>
  paperSignificance(b, initialPaperSignificanceState(), { tau: 0.5, ...cfg });
const refRun = (b: ModalBatch, cfg: Record<string, unknown> = {}) =>
  referenceSignificance(b, { tau: 0.5, ...cfg } as { tau: number });

Deno.test("bad input (both modes): each case throws an AmssArgumentError naming the argument", () => {
  const cases: [string, (b: ModalBatch) => ModalBatch, string][] = [
    [
      "label out of range",
      (b) => ({ ...b, labels: [0, 1, 2, 3] }),
      "labels[3] must be an integer in [0, 2], got 3",
    ],
    ["negative label", (b) => ({ ...b, labels: [-1, 1, 2, 0] }), "labels[0]"],
    ["non-integer label", (b) => ({ ...b, labels: [0, 1, 1.5, 0] }), "labels[2]"],
    ["NaN label", (b) => ({ ...b, labels: [0, NaN, 1, 0] }), "labels[1]"],
    [
      "empty batch",
      (b) => ({ ...b, labels: [], predictions: [[], []], features: undefined }),
      "labels must not be empty",
    ],
    [
      "predictions length",
      (b) => ({ ...b, predictions: [b.predictions[0], new Float32Array(11)] }),
      "predictions[1] must have B * C = 4 * 3 = 12 entries",
    ],
    [
      "one modality",
      (b) => ({ ...b, predictions: [b.predictions[0]], features: [b.features![0]] }),
      "predictions must have at least 2 entries",
    ],
    [
      "features length",
      (b) => ({ ...b, features: [{ data: new Float32Array(11), dim: 3 }, b.features![1]] }),
      "features[0].data must have B * dim = 4 * 3 = 12 entries",
    ],
    [
      "K mismatch",
      (b) => ({ ...b, features: [...b.features!, b.features![0]] }),
      "features must have one entry per modality (K = 2 from predictions), got 3",
    ],
    [
      "bad dim",
      (b) => ({ ...b, features: [b.features![0], { data: new Float32Array(0), dim: 0 }] }),
      "features[1].dim",
    ],
    [
      "numClasses < 2",
      (b) => ({ ...b, numClasses: 1, labels: [0, 0, 0, 0] }),
      "numClasses must be an integer in [2,",
    ],
    [
      "NaN logit",
      (b) => ({
        ...b,
        predictions: [
          b.predictions[0],
          Float32Array.from(b.predictions[1], (v, i) => (i === 5 ? NaN : v)),
        ],
      }),
      "predictions[1][5] (sample 1, class 2)",
    ],
    [
      "infinite logit",
      (b) => ({
        ...b,
        predictions: [
          Float64Array.from(b.predictions[0], (v, i) => (i === 0 ? -Infinity : v)),
          b.predictions[1],
        ],
      }),
      "predictions[0][0]",
    ],
    [
      "NaN feature",
      (b) => ({
        ...b,
        features: [{
          data: Float32Array.from(b.features![0].data, (v, i) => (i === 4 ? NaN : v)),
          dim: 3,
        }, b.features![1]],
      }),
      "features[0].data[4]",
    ],
    [
      "bad predictionKind",
      (b) => ({ ...b, predictionKind: "scores" as "logits" }),
      "predictionKind must be one of",
    ],
  ];
  for (const [what, mutate, fragment] of cases) {
    for (const [mode, run] of [["paper", paperRun], ["reference", refRun]] as const) {
      assertThrows(
        () => run(mutate(validBatch())),
        AmssArgumentError,
        fragment,
        `${mode}: ${what}`,
      );
    }
  }
  for (const tau of [0, -0.1, NaN, Infinity]) {
    assertThrows(() => paperRun(validBatch(), { tau }), AmssArgumentError, "tau must be");
    assertThrows(() => refRun(validBatch(), { tau }), AmssArgumentError, "tau must be");
  }
  for (const lambda of [1, -0.1, 1.5, NaN]) {
    assertThrows(() => paperRun(validBatch(), { lambda }), AmssArgumentError, "lambda must be");
  }
  assertThrows(
    () => paperRun(validBatch(), { init: "ones" }),
    AmssArgumentError,
    "init must be one of",
  );
  assertThrows(
    () => paperRun(validBatch(), { entropy: "bits" }),
    AmssArgumentError,
    "entropy must be one of",
  );
  assertThrows(
    () => paperSignificance(validBatch(), { u: [0.1, 0.2, 0.3], steps: 1 }, { tau: 1 }),
    AmssArgumentError,
    "state.u must be null or an array of K = 2 numbers",
  );
  assertThrows(
    () => paperSignificance(validBatch(), { u: [0.1, NaN], steps: 1 }, { tau: 1 }),
    AmssArgumentError,
    "state.u[1]",
  );
  assertThrows(
    () => paperSignificance(validBatch(), { u: null, steps: -1 }, { tau: 1 }),
    AmssArgumentError,
    "state.steps",
  );
});

Deno.test("paper mode: entropyFloor turns a collapsed feature softmax (H(X_k) = 0) into a finite rate bound / floor", () => {
  // features so large that each sample's softmax is one-hot in float64: H(X_k) = 0
  const batch = {
    labels: [0, 1],
    numClasses: 2,
    predictionKind: "logits" as const,
    predictions: [[2, 0, 0, 2], [0, 0, 0, 0]],
    features: [{ data: [1000, 0, 0, 1000], dim: 2 }, { data: [1, 0, 0, 1], dim: 2 }],
  };
  assertThrows(
    () => paperSignificance(batch, { u: null, steps: 0 }, { tau: 1 }),
    AmssArgumentError,
    "H(X_0) = 0",
  );
  const { result } = paperSignificance(batch, { u: null, steps: 0 }, {
    tau: 1,
    entropyFloor: 1e-3,
  });
  assertEquals(result.featureEntropy[0], 1e-3);
  assertAlmostEquals(result.rate[0], result.bound[0] / 1e-3, 1e-9);
  assert(result.ratios.every((r) => Number.isFinite(r)));
  assertThrows(
    () => paperSignificance(batch, { u: null, steps: 0 }, { tau: 1, entropyFloor: -1 }),
    AmssArgumentError,
    "entropyFloor",
  );
});
