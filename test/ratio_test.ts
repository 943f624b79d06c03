import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { updateRatios } from "../src/amss/ratio.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";

const EPS = Number.EPSILON;

/** Finite significances, moderate and extreme magnitudes mixed. */
const significance = fc.oneof(
  fc.double({ min: -10, max: 10, noNaN: true }),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const uVec = fc.array(significance, { minLength: 2, maxLength: 8 });
const tauArb = fc.oneof(
  fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
  fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }),
);

/** 1 - softmax written out directly (fine for moderate inputs only). */
function naive(u: number[], tau: number): number[] {
  const e = u.map((x) => Math.exp(x / tau));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => 1 - x / s);
}

Deno.test("updateRatios: Eq. 4 matches 1 - softmax(u / tau) on hand-computed cases", () => {
  // u = [ln 3, 0], tau = 1: softmax = [3/4, 1/4], so rho = [1/4, 3/4].
  const r = updateRatios([Math.log(3), 0], 1);
  assertAlmostEquals(r[0], 0.25, 4 * EPS);
  assertAlmostEquals(r[1], 0.75, 4 * EPS);
  // u = [2, 2, 2 + 0.5 ln 2], tau = 0.5: exp((u - max)/tau) = [1/2, 1/2, 1], sum 2,
  // softmax = [1/4, 1/4, 1/2], rho = [3/4, 3/4, 1/2].
  const r3 = updateRatios([2, 2, 2 + 0.5 * Math.log(2)], 0.5);
  assertAlmostEquals(r3[0], 0.75, 4 * EPS);
  assertAlmostEquals(r3[1], 0.75, 4 * EPS);
  assertAlmostEquals(r3[2], 0.5, 4 * EPS);
  // agrees with the direct formula where that one is accurate
  const u = [0.3, -0.2, 0.7, 0.1];
  const d = naive(u, 0.25);
  const s = updateRatios(u, 0.25);
  for (let k = 0; k < u.length; k++) assertAlmostEquals(s[k], d[k], 1e-15);
});

Deno.test("updateRatios: sum_k rho_k = K - 1 for every finite u and tau > 0", () => {
  fc.assert(
    fc.property(uVec, tauArb, (u, tau) => {
      const r = updateRatios(u, tau);
      const sum = r.reduce((a, b) => a + b, 0);
      // each rho_k is a ratio of two sums of <= K terms in [0, 1]: relative error <= ~2K eps,
      // and the K terms add at most K more roundings of size <= eps (sum <= K).
      assert(Math.abs(sum - (u.length - 1)) <= 4 * u.length * u.length * EPS, `sum ${sum}`);
      for (const x of r) assert(x >= 0 && x <= 1, `rho ${x} out of [0, 1]`);
    }),
    { seed: 101, numRuns: 500 },
  );
});

Deno.test("updateRatios: the modality with the largest u gets the smallest rho", () => {
  fc.assert(
    fc.property(uVec, tauArb, (u, tau) => {
      const r = updateRatios(u, tau);
      const kMax = u.indexOf(Math.max(...u));
      for (let k = 0; k < u.length; k++) {
        // equality allowed: exp may round two different u to the same value; the rounding slack
        // is that of the prefix/suffix sums (K eps relative)
        assert(
          r[kMax] <= r[k] * (1 + 2 * u.length * EPS),
          `rho[${kMax}]=${r[kMax]} > rho[${k}]=${r[k]}`,
        );
      }
      // ordering: u_j > u_k (strictly, by a clear margin) => rho_j <= rho_k
      for (let j = 0; j < u.length; j++) {
        for (let k = 0; k < u.length; k++) {
          if (u[j] > u[k]) assert(r[j] <= r[k] * (1 + 2 * u.length * EPS));
        }
      }
    }),
    { seed: 102, numRuns: 500 },
  );
});

Deno.test(
  "updateRatios: rho of the most significant modality increases in tau, rho of the least significant decreases",
  () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 6 }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        (u, t1, t2) => {
          const [lo, hi] = t1 <= t2 ? [t1, t2] : [t2, t1];
          const a = updateRatios(u, lo);
          const b = updateRatios(u, hi);
          const kMax = u.indexOf(Math.max(...u));
          const kMin = u.indexOf(Math.min(...u));
          const slack = 8 * u.length * EPS; // rounding of the two evaluations
          assert(b[kMax] >= a[kMax] - slack, `most significant: ${a[kMax]} -> ${b[kMax]}`);
          assert(b[kMin] <= a[kMin] + slack, `least significant: ${a[kMin]} -> ${b[kMin]}`);
        },
      ),
      { seed: 103, numRuns: 500 },
    );
    // Table 8's direction on its tau grid for a fixed positive gap u_audio - u_video:
    // rho_audio rises toward 1/2 and rho_video falls toward 1/2, strictly.
    const taus = [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 4];
    const gap = 0.25;
    let prev = updateRatios([gap, 0], taus[0]);
    for (const tau of taus.slice(1)) {
      const cur = updateRatios([gap, 0], tau);
      assert(cur[0] > prev[0] && cur[1] < prev[1], `tau ${tau}`);
      assert(cur[0] < 0.5 && cur[1] > 0.5);
      prev = cur;
    }
  },
);

Deno.test("updateRatios: tau -> infinity gives 1 - 1/K", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 2, maxLength: 8 }),
      (u) => {
        const K = u.length;
        // |u_k - max| / tau <= 2e3 / 1e300: exp of it is 1 to double precision
        const r = updateRatios(u, 1e300);
        for (const x of r) assertAlmostEquals(x, 1 - 1 / K, 2 * K * EPS);
        // and the approach is monotone-ish: the max deviation from 1 - 1/K shrinks with tau
        const dev = (t: number) =>
          Math.max(...updateRatios(u, t).map((x) => Math.abs(x - (1 - 1 / K))));
        assert(dev(1e6) <= dev(1e3) + 4 * K * EPS);
      },
    ),
    { seed: 104, numRuns: 300 },
  );
});

Deno.test("updateRatios: permuting modalities permutes rho", () => {
  fc.assert(
    fc.property(uVec, tauArb, fc.integer({ min: 0, max: 0xffffffff }), (u, tau, seed) => {
      const perm = Array.from(u, (_, i) => i);
      new Rng(seed).shuffle(perm);
      const r = updateRatios(u, tau);
      const rp = updateRatios(perm.map((i) => u[i]), tau);
      for (let k = 0; k < u.length; k++) {
        // only the summation order of the prefix/suffix sums changes: K eps relative
        assertAlmostEquals(rp[k], r[perm[k]], 4 * u.length * EPS * Math.max(1, r[perm[k]]));
      }
    }),
    { seed: 105, numRuns: 500 },
  );
});

Deno.test("updateRatios: stable for huge |u|/tau (no NaN, correct limits)", () => {
  // u / tau overflows double; the max-subtraction keeps every exponent <= 0.
  const r = updateRatios([1e308, -1e308, 5e307], 1e-300);
  assertEquals(Array.from(r), [0, 1, 1]);
  const r2 = updateRatios([-1.7e308, -1.7e308], Number.MIN_VALUE);
  assertEquals(Array.from(r2), [0.5, 0.5]);
  fc.assert(
    fc.property(
      fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 8 }),
      fc.double({ min: Number.MIN_VALUE, max: 1e-200, noNaN: true }),
      (u, tau) => {
        const r = updateRatios(u, tau);
        for (const x of r) assert(Number.isFinite(x) && x >= 0 && x <= 1);
      },
    ),
    { seed: 106, numRuns: 300 },
  );
});

Deno.test("updateRatios: a ratio near 0 keeps full relative precision (no 1 - s cancellation)", () => {
  // u = [0, -50], tau = 1: rho_0 = e^-50 / (1 + e^-50) ~ 1.93e-22; 1 - s_0 would round to 0.
  const r = updateRatios([0, -50], 1);
  const expected = Math.exp(-50) / (1 + Math.exp(-50));
  assert(Math.abs(r[0] - expected) <= 4 * EPS * expected, `${r[0]} vs ${expected}`);
});

Deno.test("updateRatios: bad tau or u throws an AmssArgumentError naming it", () => {
  for (const tau of [0, -1, NaN, Infinity, -Infinity]) {
    assertThrows(() => updateRatios([1, 2], tau), AmssArgumentError, "tau");
  }
  assertThrows(() => updateRatios([1], 1), AmssArgumentError, "u must have at least 2 entries");
  assertThrows(() => updateRatios([], 1), AmssArgumentError, "u must have at least 2 entries");
  assertThrows(() => updateRatios([1, NaN], 1), AmssArgumentError, "u[1]");
  assertThrows(() => updateRatios([Infinity, 0, 1], 1), AmssArgumentError, "u[0]");
});
