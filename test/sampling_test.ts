/**
 * Properties of the unit samplers (paper Sec. 3.2.2) and of their inclusion probabilities.
 *
 * Statistical checks: every Monte-Carlo comparison states its tolerance as a function of the number
 * of draws N and of a per-check error probability delta = (family-wise rate) / (number of checks)
 * (Bonferroni over units, sample sizes and fast-check runs). All seeds are fixed, so the outcome is
 * deterministic; the error rates say how often a CORRECT sampler would fail for a random seed.
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import fc from "fast-check";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";
import {
  type SamplerKind,
  sampleSuccessive,
  sampleSystematic,
  sampleTopK,
  sampleUniform,
  sampleUnits,
  systematicInclusionProbabilities,
  unitsToKeep,
} from "../src/amss/sampling.ts";
import {
  successiveInclusionBruteForce,
  successiveInclusionProbabilities,
} from "../src/theory/inclusion.ts";
import { importanceArb, unit01 } from "./_stats.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

const nonzero = (p: ArrayLike<number>) => Array.from(p).filter((x) => x > 0).length;
const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

/**
 * Bernstein half-width for the mean of N i.i.d. variables with variance v and |X - mean| <= b:
 * P(|mean_N - mu| >= eps) <= 2 exp(-N eps^2 / (2 v + 2 b eps / 3)) = delta. Valid for every N (no
 * normal approximation), which matters for inclusion probabilities near 0 or 1.
 */
function bernsteinHalfWidth(N: number, v: number, b: number, delta: number): number {
  const L = Math.log(2 / delta);
  const a = (b * L) / (3 * N);
  return a + Math.sqrt(a * a + (2 * v * L) / N);
}

/** Counts how often each unit is selected in N draws. */
function frequencies(n: number, N: number, draw: () => Int32Array, k: number): Float64Array {
  const f = new Float64Array(n);
  for (let r = 0; r < N; r++) {
    const idx = draw();
    assertEquals(idx.length, k);
    for (let i = 0; i < idx.length; i++) f[idx[i]]++;
  }
  for (let i = 0; i < n; i++) f[i] /= N;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Exact inclusion probabilities

Deno.test("successiveInclusionProbabilities matches brute-force enumeration to 1e-8 for n <= 8 and every k", () => {
  fc.assert(
    fc.property(importanceArb(1, 8, 1e12), (p) => {
      for (let k = 0; k <= nonzero(p); k++) {
        const exact = successiveInclusionBruteForce(p, k);
        const integ = successiveInclusionProbabilities(p, k);
        for (let j = 0; j < p.length; j++) {
          assertAlmostEquals(integ[j], exact[j], 1e-8, `p=${p} k=${k} unit ${j}`);
          if (p[j] === 0) assertEquals(integ[j], 0);
        }
        assertAlmostEquals(sum(integ), k, 1e-9, `sum pi = k for p=${p} k=${k}`);
        assertAlmostEquals(sum(exact), k, 1e-12);
      }
    }),
    { seed: 20240611, numRuns: 60 },
  );
});

Deno.test("successive inclusion probabilities sum to k, grow with p and exceed 1-(1-p)^k for n = 40", () => {
  // Consistency checks where brute force is out of reach: sum pi = k; pi is monotone in p (a larger
  // p wins every key comparison more often); and pi_j >= 1 - (1 - p_j)^k, since each of the k draws
  // picks unit j with conditional probability p_j / (remaining mass) >= p_j while j is not drawn.
  const rng = new Rng(5);
  const p = Array.from({ length: 40 }, () => Math.pow(1 - rng.float(), -1 / 0.7));
  const q = p.map((x) => x / sum(p));
  for (const k of [1, 2, 7, 20, 33, 39]) {
    const pi = successiveInclusionProbabilities(p, k);
    assertAlmostEquals(sum(pi), k, 1e-9, `k=${k}`);
    for (let i = 0; i < p.length; i++) {
      assertGreater(pi[i] + 1e-12, 1 - Math.pow(1 - q[i], k), `k=${k} unit ${i}`);
      for (let j = 0; j < p.length; j++) {
        if (p[i] < p[j]) assertLessOrEqual(pi[i], pi[j] + 1e-12, `k=${k} units ${i},${j}`);
      }
    }
  }
});

Deno.test("successiveInclusionProbabilities is exact in closed-form cases (k = 1, uniform p, three units)", () => {
  const p = [0.5, 0.3, 0.2];
  assertEquals(
    Array.from(successiveInclusionProbabilities(p, 1)).map((x) => +x.toFixed(12)),
    p,
  );
  // two draws from three units: pi_0 = p0 + p1 p0/(1-p1) + p2 p0/(1-p2)
  const pi0 = 0.5 + (0.3 * 0.5) / 0.7 + (0.2 * 0.5) / 0.8;
  assertAlmostEquals(successiveInclusionProbabilities(p, 2)[0], pi0, 1e-12);
  for (const k of [1, 5, 9]) {
    for (const x of successiveInclusionProbabilities(new Array(10).fill(3), k)) {
      assertAlmostEquals(x, k / 10, 1e-12);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Empirical frequencies

Deno.test("Successive sampling's empirical inclusion frequencies match the exact inclusion probabilities", () => {
  // Per run: every k in 1..nnz, N = 10000 draws. Frequency of unit j is a mean of N Bernoulli(pi_j):
  // Bernstein half-width with v = pi(1-pi), b = max(pi, 1-pi). Family-wise error 1e-3, Bonferroni
  // over at most numRuns * sum_{k<=7} 7 = 25 * 49 checks.
  const numRuns = 25;
  const maxN = 7;
  const N = 10000;
  const delta = 1e-3 / (numRuns * maxN * maxN);
  fc.assert(
    fc.property(
      importanceArb(2, maxN, 1e3),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (p, seed) => {
        const rng = new Rng(seed);
        for (let k = 1; k <= nonzero(p); k++) {
          const pi = successiveInclusionProbabilities(p, k);
          const f = frequencies(p.length, N, () => {
            const s = sampleSuccessive(p, k, rng);
            assertEquals(new Set(s.indices).size, k, "distinct");
            return s.indices;
          }, k);
          for (let j = 0; j < p.length; j++) {
            const tol = bernsteinHalfWidth(
              N,
              pi[j] * (1 - pi[j]),
              Math.max(pi[j], 1 - pi[j]),
              delta,
            );
            assertAlmostEquals(f[j], pi[j], tol, `p=${p} k=${k} unit ${j}`);
          }
        }
      },
    ),
    { seed: 77, numRuns },
  );
});

Deno.test("successive sampling draws units in the order of torch.multinomial without replacement", () => {
  // The first index of an adaptive sample is the first draw: P(first = j) = p_j exactly. Three
  // units, N = 20000, Bernstein half-width at family-wise error 1e-3 (3 checks).
  const p = [0.6, 0.3, 0.1];
  const rng = new Rng(11);
  const N = 20000;
  const first = new Float64Array(3);
  for (let r = 0; r < N; r++) first[sampleSuccessive(p, 2, rng).indices[0]]++;
  for (let j = 0; j < 3; j++) {
    const tol = bernsteinHalfWidth(N, p[j] * (1 - p[j]), Math.max(p[j], 1 - p[j]), 1e-3 / 3);
    assertAlmostEquals(first[j] / N, p[j], tol);
  }
});

Deno.test("systematic sampling hits pi exactly", () => {
  // pi = min(1, c p) with sum pi = k (checked in closed form), exactly k distinct units per draw,
  // and frequencies within a Bernstein half-width (family-wise error 1e-3, Bonferroni over
  // numRuns * 7 * 7 checks), N = 10000 draws per k.
  const numRuns = 25;
  const maxN = 7;
  const N = 10000;
  const delta = 1e-3 / (numRuns * maxN * maxN);
  fc.assert(
    fc.property(
      importanceArb(2, maxN, 1e3),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (p, seed) => {
        const rng = new Rng(seed);
        const q = p.map((x) => x / sum(p));
        for (let k = 1; k <= nonzero(p); k++) {
          const pi = systematicInclusionProbabilities(p, k);
          assertAlmostEquals(sum(pi), k, 1e-12, `sum pi, p=${p} k=${k}`);
          // structure: one constant c on the units below 1, and c p >= 1 on the certainty units
          let c = NaN;
          for (let j = 0; j < p.length; j++) {
            if (p[j] === 0) assertEquals(pi[j], 0);
            else if (pi[j] < 1) {
              if (Number.isNaN(c)) c = pi[j] / q[j];
              assertAlmostEquals(pi[j] / q[j], c, 1e-9 * c);
            }
          }
          for (let j = 0; j < p.length; j++) {
            if (pi[j] === 1 && !Number.isNaN(c)) assertGreater(c * q[j], 1 - 1e-9);
          }
          const f = frequencies(p.length, N, () => {
            const s = sampleSystematic(p, k, rng);
            assertEquals(new Set(s.indices).size, k, "distinct");
            for (let i = 0; i < k; i++) {
              assertAlmostEquals(s.weights[i], 1 / pi[s.indices[i]], 1e-12);
            }
            return s.indices;
          }, k);
          for (let j = 0; j < p.length; j++) {
            const tol = bernsteinHalfWidth(
              N,
              pi[j] * (1 - pi[j]),
              Math.max(pi[j], 1 - pi[j]),
              delta,
            );
            assertAlmostEquals(f[j], pi[j], tol, `p=${p} k=${k} unit ${j}`);
          }
        }
      },
    ),
    { seed: 78, numRuns },
  );
  const pi = systematicInclusionProbabilities([6, 2, 1, 1], 2);
  [1, 0.5, 0.25, 0.25].forEach((x, j) => assertAlmostEquals(pi[j], x, 1e-15));
});

// ---------------------------------------------------------------------------------------------
// Uniform and top-k

Deno.test("uniform sampling draws k distinct units with weight n/k, uniformly and reproducibly", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.nat(), fc.nat(), (n, kRaw, seed) => {
      const k = kRaw % (n + 1);
      const a = sampleUniform(n, k, new Rng(seed));
      const b = sampleUniform(n, k, new Rng(seed));
      assertEquals(Array.from(a.indices), Array.from(b.indices), "same seed, same sample");
      assertEquals(a.indices.length, k);
      assertEquals(new Set(a.indices).size, k);
      for (const j of a.indices) assert(j >= 0 && j < n);
      for (const w of a.weights) assertEquals(w, n / k);
    }),
    { seed: 3, numRuns: 200 },
  );
  // uniformity: n = 7, k = 3, N = 20000; each frequency is a Bernoulli(3/7) mean; Bernstein,
  // family-wise error 1e-3 over 7 units.
  const rng = new Rng(9);
  const N = 20000;
  const f = frequencies(7, N, () => sampleUniform(7, 3, rng).indices, 3);
  const pi = 3 / 7;
  const tol = bernsteinHalfWidth(N, pi * (1 - pi), 1 - pi, 1e-3 / 7);
  for (const x of f) assertAlmostEquals(x, pi, tol);
});

Deno.test("topk selects the k largest importances, ties by lower index, deterministically", () => {
  fc.assert(
    fc.property(importanceArb(1, 12, 1e6), fc.nat(), (p, kRaw) => {
      const k = kRaw % (p.length + 1);
      const s = sampleTopK(p, k);
      assertEquals(Array.from(s.indices), Array.from(sampleTopK(p, k).indices));
      assertEquals(s.indices.length, k);
      assertEquals(s.kind, "topk");
      const chosen = new Set(s.indices);
      assertEquals(chosen.size, k);
      for (let j = 0; j < p.length; j++) {
        if (chosen.has(j)) continue;
        for (const i of chosen) assert(p[i] > p[j] || (p[i] === p[j] && i < j), `p=${p} k=${k}`);
      }
    }),
    { seed: 4, numRuns: 200 },
  );
  assertEquals(Array.from(sampleTopK([0.1, 0.5, 0.5, 0.2], 2).indices), [1, 2]);
});

Deno.test("every sampler is reproducible from the Rng seed and draws distinct in-range units", () => {
  const kinds: SamplerKind[] = ["adaptive", "uniform", "topk", "systematic"];
  fc.assert(
    fc.property(importanceArb(1, 20, 1e4), fc.nat(), fc.nat(), (p, kRaw, seed) => {
      const k = kRaw % (nonzero(p) + 1);
      for (const kind of kinds) {
        const a = sampleUnits(kind, p, k, new Rng(seed));
        const b = sampleUnits(kind, p, k, new Rng(seed));
        assertEquals(Array.from(a.indices), Array.from(b.indices), kind);
        assertEquals(Array.from(a.weights), Array.from(b.weights), kind);
        assertEquals(a.kind, kind);
        assertEquals(new Set(a.indices).size, k);
        for (const j of a.indices) assert(j >= 0 && j < p.length);
        for (const w of a.weights) assert(Number.isFinite(w) && w >= 1, `${kind} weight ${w}`);
        if (kind !== "uniform") { for (const j of a.indices) assertGreater(p[j], 0); }
      }
    }),
    { seed: 5, numRuns: 150 },
  );
});

// ---------------------------------------------------------------------------------------------
// Shortfall and bad input

Deno.test('k above the number of nonzero importances throws by default, and "fill" gives k distinct units with finite weights', () => {
  const p = [0, 2, 0, 1, 0, 0];
  for (const kind of ["adaptive", "systematic"] as const) {
    assertThrows(
      () => sampleUnits(kind, p, 3, new Rng(1)),
      AmssArgumentError,
      "got k = 3 with 2 nonzero",
    );
    for (let k = 3; k <= p.length; k++) {
      for (let seed = 0; seed < 20; seed++) {
        const s = sampleUnits(kind, p, k, new Rng(seed), { onShortfall: "fill" });
        assertEquals(s.indices.length, k);
        assertEquals(new Set(s.indices).size, k);
        assert(s.indices.includes(1) && s.indices.includes(3), "every nonzero unit is taken");
        for (const w of s.weights) assertEquals(w, 1);
      }
    }
  }
  assertThrows(() => successiveInclusionProbabilities(p, 3), AmssArgumentError, "2 nonzero");
  assertThrows(() => systematicInclusionProbabilities(p, 3), AmssArgumentError, "2 nonzero");
  const fill = successiveInclusionProbabilities(p, 4, { onShortfall: "fill" });
  assertEquals(Array.from(fill), [0.5, 1, 0.5, 1, 0.5, 0.5]);
  assertThrows(
    () => sampleSuccessive(p, 3, new Rng(1), { onShortfall: "pad" as "fill" }),
    AmssArgumentError,
    "opts.onShortfall",
  );
  // topk is deterministic and defined for any k <= n: zero units are taken by lower index
  assertEquals(Array.from(sampleTopK(p, 3).indices), [1, 3, 0]);
});

Deno.test("bad importance vectors and sample sizes throw AmssArgumentError naming the argument", () => {
  const rng = new Rng(0);
  const samplers: [string, (p: number[], k: number) => unknown][] = [
    ["adaptive", (p, k) => sampleSuccessive(p, k, rng)],
    ["systematic", (p, k) => sampleSystematic(p, k, rng)],
    ["topk", (p, k) => sampleTopK(p, k)],
    ["pi", (p, k) => successiveInclusionProbabilities(p, k)],
    ["pi-sys", (p, k) => systematicInclusionProbabilities(p, k)],
  ];
  for (const [name, f] of samplers) {
    assertThrows(() => f([], 0), AmssArgumentError, "p must not be empty", name);
    assertThrows(() => f([1, -1], 1), AmssArgumentError, "p[1] must be finite and >= 0", name);
    assertThrows(() => f([1, NaN], 1), AmssArgumentError, "p[1] must be finite and >= 0", name);
    assertThrows(
      () => f([Infinity, 1], 1),
      AmssArgumentError,
      "p[0] must be finite and >= 0",
      name,
    );
    assertThrows(() => f([0, 0, 0], 1), AmssArgumentError, "p must not be all zero", name);
    assertThrows(
      () => f([1, 2], 3),
      AmssArgumentError,
      "k must be an integer in [0, 2], got 3",
      name,
    );
    assertThrows(() => f([1, 2], 1.5), AmssArgumentError, "k must be an integer", name);
    assertThrows(() => f([1, 2], -1), AmssArgumentError, "k must be an integer", name);
    assertThrows(() => f([1, 2], NaN), AmssArgumentError, "k must be an integer", name);
  }
  assertThrows(() => sampleUniform(0, 0, rng), AmssArgumentError, "n must be an integer");
  assertThrows(() => sampleUniform(2.5, 1, rng), AmssArgumentError, "n must be an integer");
  assertThrows(() => sampleUniform(4, 5, rng), AmssArgumentError, "k must be an integer in [0, 4]");
  assertThrows(() => sampleUniform(4, 0.5, rng), AmssArgumentError, "k must be an integer");
  assertThrows(
    () => sampleUnits("random" as SamplerKind, [1], 1, rng),
    AmssArgumentError,
    "kind must be one of",
  );
  assertThrows(() => sampleUnits("uniform", [1, -2], 1, rng), AmssArgumentError, "p[1]");
  // uniform ignores the values of p, so an all-zero p is allowed there
  assertEquals(sampleUnits("uniform", [0, 0, 0], 2, rng).indices.length, 2);
  assertThrows(
    () => successiveInclusionBruteForce(new Array(11).fill(1), 2),
    AmssArgumentError,
    "at most 10 entries",
  );
  assertThrows(
    () => successiveInclusionProbabilities([1, 2], 1, { tolerance: 0 }),
    AmssArgumentError,
    "opts.tolerance",
  );
  // k = 0 is a valid, empty sample
  for (const kind of ["adaptive", "uniform", "topk", "systematic"] as const) {
    assertEquals(sampleUnits(kind, [1, 2], 0, rng).indices.length, 0);
  }
});

// ---------------------------------------------------------------------------------------------
// unitsToKeep

Deno.test("unitsToKeep is ceil(rho*C) (paper) or floor(rho*C) (reference) with a floating-point guard", () => {
  // the rounding errors the guard exists for
  const rho3 = 0.1 * 3; // 0.30000000000000004, e.g. from 1 - softmax arithmetic
  assertEquals(rho3 * 10, 3.0000000000000004);
  assertEquals(unitsToKeep(rho3, 10), 3, "ceil must not turn 3.0000000000000004 into 4");
  assertEquals(unitsToKeep(rho3, 10, "floor"), 3);
  assertEquals(unitsToKeep(0.3, 10), 3);
  assertEquals(0.1 * 3 * 100, 30.000000000000004);
  assertEquals(unitsToKeep(rho3, 100), 30);
  assertEquals(0.29 * 100, 28.999999999999996);
  assertEquals(
    unitsToKeep(0.29, 100, "floor"),
    29,
    "floor must not turn 28.999999999999996 into 28",
  );
  assertEquals(unitsToKeep(0.29, 100), 29);
  assertEquals(unitsToKeep(0.25, 10), 3);
  assertEquals(unitsToKeep(0.25, 10, "floor"), 2);
  assertEquals(unitsToKeep(1, 64), 64);
  assertEquals(unitsToKeep(1, 0), 0);
  assertEquals(unitsToKeep(1e-12, 10), 1, "ceil of a tiny positive count is 1");
  assertEquals(unitsToKeep(1e-12, 10, "floor"), 0, "floor may give 0");
  assertEquals(unitsToKeep(0.5 + 1e-9, 10), 6, "a genuine fraction is not snapped");
  fc.assert(
    fc.property(
      fc.oneof(
        unit01().map((u) => Math.max(1e-6, u)),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
      ),
      fc.integer({ min: 0, max: 100000 }),
      (rho, C) => {
        const up = unitsToKeep(rho, C);
        const down = unitsToKeep(rho, C, "floor");
        assert(down >= 0 && up <= C && down <= up && up - down <= 1, `rho=${rho} C=${C}`);
        // within the guard's relative 1e-12 of the exact product
        assert(up >= rho * C * (1 - 1e-12) && down <= rho * C * (1 + 1e-12), `rho=${rho} C=${C}`);
      },
    ),
    { seed: 6, numRuns: 500 },
  );
  for (const rho of [0, -0.1, 1.0000001, NaN, Infinity]) {
    assertThrows(() => unitsToKeep(rho, 10), AmssArgumentError, "rho must be in (0, 1]");
  }
  assertThrows(() => unitsToKeep(0.5, -1), AmssArgumentError, "C must be an integer");
  assertThrows(() => unitsToKeep(0.5, 2.5), AmssArgumentError, "C must be an integer");
  assertThrows(
    () => unitsToKeep(0.5, 10, "round" as "ceil"),
    AmssArgumentError,
    "rounding must be one of",
  );
});
