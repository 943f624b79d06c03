/**
 * Properties of the AMSS/AMSS+ masks (paper Eq. 1, Eq. 5, App. A.2): which scales are unbiased and
 * by how much the others are off.
 *
 * Statistical checks: every Monte-Carlo comparison states its tolerance as a function of the number
 * of draws N: half-width z * sqrt(var / N), with z the two-sided normal quantile for a per-check
 * error delta = (family-wise rate) / (number of checks) (Bonferroni over units, sample sizes and
 * fast-check runs). All seeds are fixed, so the outcome is deterministic; the rates say how often a
 * CORRECT implementation would fail for a random seed.
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
  sampleSuccessive,
  sampleTopK,
  sampleUnits,
  systematicInclusionProbabilities,
  type UnitSample,
} from "../src/amss/sampling.ts";
import { successiveInclusionProbabilities } from "../src/theory/inclusion.ts";
import { defensiveMixture, type MaskScale, unitMask } from "../src/amss/mask.ts";
import { importanceArb, unit01, zTwoSided } from "./_stats.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

const nonzero = (p: ArrayLike<number>) => Array.from(p).filter((x) => x > 0).length;
const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);
const normalised = (p: number[]) => p.map((x) => x / sum(p));

/** Running mean and variance (Welford) of a scalar. */
class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  add(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }
  get variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }
}

// ---------------------------------------------------------------------------------------------
// The unbiased mask

Deno.test("Horvitz-Thompson AMSS+ is unbiased", () => {
  // For each importance vector, each k in 1..nnz and each design (adaptive with rank-conditioning
  // weights, systematic with 1/pi): the mean of every unit's HT mask over N draws is 1, and the
  // mean of sum_j g_j m_j is sum_j g_j for a random gradient g (zero where p = 0).
  //
  // Tolerance: z * sqrt(var_hat / N) (self-normalised CLT), family-wise error 1e-3 with
  // Bonferroni over numRuns * 2 designs * maxN values of k * (maxN units + 1 scalar) checks. The
  // normal approximation needs many selections, so N is chosen so that every unit is expected to
  // be selected at least 200 times: N = max(2000, ceil(200 / min_j pi_j)), pi exact. (For k = 1
  // the rank-conditioning weight has infinite, log-divergent variance; its law is still in the
  // domain of attraction of the normal, for which the self-normalised t statistic is
  // asymptotically standard normal: Gine, Goetze and Mason, Ann. Probab. 1997.)
  const numRuns = 40;
  const maxN = 7;
  const z = zTwoSided(1e-3 / (numRuns * 2 * maxN * (maxN + 1)));
  fc.assert(
    fc.property(
      importanceArb(2, maxN, 50),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.array(unit01().map((u) => 2 * u - 1), { minLength: maxN, maxLength: maxN }),
      (p, seed, gRaw) => {
        const rng = new Rng(seed);
        const n = p.length;
        const g = p.map((x, j) => (x > 0 ? gRaw[j] : 0));
        for (const kind of ["adaptive", "systematic"] as const) {
          for (let k = 1; k <= nonzero(p); k++) {
            const pi = kind === "adaptive"
              ? successiveInclusionProbabilities(p, k)
              : systematicInclusionProbabilities(p, k);
            let piMin = 1;
            for (let j = 0; j < n; j++) if (p[j] > 0) piMin = Math.min(piMin, pi[j]);
            const N = Math.max(2000, Math.ceil(200 / piMin));
            const unit = p.map(() => new Moments());
            const total = new Moments();
            for (let r = 0; r < N; r++) {
              const m = unitMask("horvitz-thompson", p, sampleUnits(kind, p, k, rng));
              let gm = 0;
              for (let j = 0; j < n; j++) {
                unit[j].add(m[j]);
                gm += g[j] * m[j];
                if (p[j] === 0) assertEquals(m[j], 0, "a zero-importance unit is never selected");
              }
              total.add(gm);
            }
            const where = `${kind} p=${p} k=${k} N=${N}`;
            for (let j = 0; j < n; j++) {
              if (p[j] === 0) continue;
              const tol = z * Math.sqrt(unit[j].variance / N) + 1e-12;
              assertAlmostEquals(unit[j].mean, 1, tol, `E[m_${j}] = 1, ${where}`);
            }
            const tol = z * Math.sqrt(total.variance / N) + 1e-12;
            assertAlmostEquals(total.mean, sum(g), tol, `E[g.m] = sum g, ${where}`);
          }
        }
      },
    ),
    { seed: 424242, numRuns },
  );
});

// ---------------------------------------------------------------------------------------------
// The paper's and the reference code's scales (findings)

Deno.test("The paper's 1/p scale is NOT unbiased for k > 1", () => {
  // Exact: with pi the exact inclusion probabilities of successive sampling, the paper mask
  // m_j = 1/p_j when selected has E[m_j] = pi_j / p_j, so the p-weighted mean gain is
  // sum_j p_j E[m_j] = sum_j pi_j = k, not 1. Every unit is inflated (pi_j >= p_j), the largest
  // E[m_j] is at least k, and only k = 1 (pi = p) is unbiased.
  fc.assert(
    fc.property(importanceArb(2, 8, 1e4), (p) => {
      const q = normalised(p);
      for (let k = 1; k <= nonzero(p); k++) {
        const pi = successiveInclusionProbabilities(p, k);
        assertAlmostEquals(sum(pi), k, 1e-9, `sum pi = k, p=${p} k=${k}`);
        let gain = 0;
        let maxBias = 0;
        for (let j = 0; j < p.length; j++) {
          if (q[j] === 0) continue;
          const em = pi[j] / q[j];
          gain += q[j] * em;
          assertGreater(em, 1 - 1e-9, "no unit is deflated");
          if (k === 1) assertAlmostEquals(em, 1, 1e-9, "k = 1: E[m_j] = 1");
          maxBias = Math.max(maxBias, em);
        }
        assertAlmostEquals(gain, k, 1e-9, `mean gain is k, p=${p} k=${k}`);
        if (k > 1) assertGreater(maxBias, k - 1e-9, `some unit has E[m_j] >= k, p=${p} k=${k}`);
      }
    }),
    { seed: 99, numRuns: 40 },
  );
  // For skewed p the bias is not a common factor: it also turns the gradient's direction.
  const q = normalised([8, 4, 2, 1]);
  const pi = successiveInclusionProbabilities(q, 2);
  const em = q.map((x, j) => pi[j] / x);
  assertGreater(Math.max(...em) / Math.min(...em), 1.5, `E[m] = ${em}`);

  // Monte Carlo on one case: p = [8, 4, 2, 1, 1], k = 3, N = 20000 adaptive samples. m_j takes
  // the values 0 and 1/p_j, so Var(m_j) = pi_j (1 - pi_j) / p_j^2 exactly; z for family-wise
  // error 1e-3 over 5 units + 1 gain check. Every unit has N pi_j > 4000.
  const p = [8, 4, 2, 1, 1];
  const qp = normalised(p);
  const k = 3;
  const N = 20000;
  const piP = successiveInclusionProbabilities(p, k);
  const z = zTwoSided(1e-3 / 6);
  const rng = new Rng(2024);
  const means = new Float64Array(p.length);
  const gain = new Moments();
  for (let r = 0; r < N; r++) {
    const m = unitMask("paper", p, sampleSuccessive(p, k, rng));
    let gm = 0;
    for (let j = 0; j < p.length; j++) {
      means[j] += m[j] / N;
      gm += qp[j] * m[j];
    }
    gain.add(gm);
  }
  for (let j = 0; j < p.length; j++) {
    const sd = Math.sqrt(piP[j] * (1 - piP[j])) / qp[j];
    assertAlmostEquals(means[j], piP[j] / qp[j], (z * sd) / Math.sqrt(N), `unit ${j}`);
  }
  // sum_j p_j m_j = (number selected) = k on every draw, so its mean is exactly k
  assertAlmostEquals(gain.mean, k, 1e-9);
});

Deno.test("the reference scale gives E[m] = k/2 for uniform p", () => {
  // Uniform p: pi_j = k/n (exactly, by symmetry; checked through the integral) and the reference
  // scale is 1/(1/n + 1/n) = n/2, so E[m_j] = (k/n)(n/2) = k/2 for every unit.
  for (const n of [1, 2, 3, 8, 13, 32]) {
    const p = new Array(n).fill(0.7);
    for (const k of new Set([1, 2, Math.ceil(n / 2), n - 1, n].filter((x) => x >= 1 && x <= n))) {
      const pi = successiveInclusionProbabilities(p, k);
      const m = unitMask("reference", p, sampleSuccessive(p, k, new Rng(n * 100 + k)));
      let selected = 0;
      for (let j = 0; j < n; j++) {
        assertAlmostEquals(pi[j], k / n, 1e-9);
        if (m[j] !== 0) {
          assertAlmostEquals(m[j], n / 2, 1e-12);
          selected++;
        }
        assertAlmostEquals(pi[j] * (n / 2), k / 2, 1e-8, `n=${n} k=${k}`);
      }
      assertEquals(selected, k);
    }
  }
  // Monte Carlo: n = 8, k = 4, N = 20000; m_j in {0, 4} with P = 1/2: Var = 4; z for family-wise
  // error 1e-3 over 8 units.
  const n = 8;
  const k = 4;
  const N = 20000;
  const z = zTwoSided(1e-3 / n);
  const rng = new Rng(77);
  const p = new Array(n).fill(1);
  const means = new Float64Array(n);
  for (let r = 0; r < N; r++) {
    const m = unitMask("reference", p, sampleSuccessive(p, k, rng));
    for (let j = 0; j < n; j++) means[j] += m[j] / N;
  }
  for (let j = 0; j < n; j++) assertAlmostEquals(means[j], k / 2, z * Math.sqrt(4 / N));
});

// ---------------------------------------------------------------------------------------------
// Mask values and bad input

Deno.test("unitMask puts the scale on selected units and 0 elsewhere", () => {
  const s: UnitSample = { indices: Int32Array.from([0, 2]), weights: Float64Array.from([1.5, 2]) };
  const p = [1, 1, 2];
  const expect: Record<MaskScale, number[]> = {
    "none": [1, 0, 1],
    "paper": [4, 0, 2],
    "reference": [1 / (0.25 + 1 / 3), 0, 1 / (0.5 + 1 / 3)],
    "horvitz-thompson": [1.5, 0, 2],
  };
  for (const scale of Object.keys(expect) as MaskScale[]) {
    const m = unitMask(scale, p, s);
    expect[scale].forEach((x, j) => assertAlmostEquals(m[j], x, 1e-12, scale));
  }
  // p need not be normalised, and huge importances do not overflow the normalisation
  const m = unitMask("paper", [1e308, 1e308], {
    indices: Int32Array.from([1]),
    weights: Float64Array.from([1]),
  });
  assertAlmostEquals(m[1], 2, 1e-12);
  // HT with a uniform sample: weight n/k
  const u = sampleUnits("uniform", [0, 1, 2, 3, 4], 2, new Rng(1));
  const mu = unitMask("horvitz-thompson", [0, 1, 2, 3, 4], u);
  assertEquals(Array.from(mu).filter((x) => x !== 0), [2.5, 2.5]);
});

Deno.test("unitMask refuses infinite paper scales, HT with topk and malformed samples with AmssArgumentError", () => {
  const one = (j: number): UnitSample => ({
    indices: Int32Array.from([j]),
    weights: Float64Array.from([1]),
  });
  // paper scale on a zero-importance unit: reachable through "fill" or uniform sampling
  const p = [0, 3, 0, 1];
  const filled = sampleSuccessive(p, 3, new Rng(1), { onShortfall: "fill" });
  assertThrows(
    () => unitMask("paper", p, filled),
    AmssArgumentError,
    'scale "paper" (1/p_j) would be infinite',
  );
  assertThrows(() => unitMask("paper", p, one(2)), AmssArgumentError, "p[2] is 0");
  // the other scales stay finite on the same sample
  for (const scale of ["none", "reference", "horvitz-thompson"] as const) {
    for (const x of unitMask(scale, p, filled)) assert(Number.isFinite(x), scale);
  }
  // HT is undefined for top-k, whether the sample says so or the caller does
  assertThrows(
    () => unitMask("horvitz-thompson", p, sampleTopK(p, 2)),
    AmssArgumentError,
    '"horvitz-thompson" is undefined for a "topk" sample',
  );
  assertThrows(
    () => unitMask("horvitz-thompson", p, one(1), { kind: "topk" }),
    AmssArgumentError,
    "topk",
  );
  assertEquals(Array.from(unitMask("paper", p, sampleTopK(p, 2))), [0, 4 / 3, 0, 4]);
  // normalisation undefined
  for (const scale of ["paper", "reference"] as const) {
    assertThrows(
      () => unitMask(scale, [0, 0], one(0)),
      AmssArgumentError,
      "p must not be all zero",
    );
  }
  assertEquals(Array.from(unitMask("none", [0, 0], one(0))), [1, 0]);
  // malformed input
  assertThrows(() => unitMask("none", [], one(0)), AmssArgumentError, "p must not be empty");
  assertThrows(() => unitMask("none", [1, NaN], one(0)), AmssArgumentError, "p[1] must be finite");
  assertThrows(
    () => unitMask("none", [1, 2], one(2)),
    AmssArgumentError,
    "sample.indices[0] must be an integer in [0, 1]",
  );
  assertThrows(() => unitMask("none", [1, 2], one(-1)), AmssArgumentError, "sample.indices[0]");
  assertThrows(
    () =>
      unitMask("none", [1, 2], {
        indices: Int32Array.from([1, 1]),
        weights: Float64Array.from([1, 1]),
      }),
    AmssArgumentError,
    "sample.indices must be distinct",
  );
  assertThrows(
    () => unitMask("none", [1, 2], { indices: Int32Array.from([1]), weights: new Float64Array(2) }),
    AmssArgumentError,
    "sample.weights must have the length",
  );
  for (const w of [NaN, Infinity, 0, -1]) {
    assertThrows(
      () =>
        unitMask("horvitz-thompson", [1, 2], {
          indices: Int32Array.from([1]),
          weights: Float64Array.from([w]),
        }),
      AmssArgumentError,
      "sample.weights[0] must be finite and > 0",
    );
  }
  assertThrows(
    () => unitMask("inverse" as MaskScale, [1], one(0)),
    AmssArgumentError,
    "scale must be one of",
  );
});

// ---------------------------------------------------------------------------------------------
// Defensive mixture

Deno.test("defensiveMixture is a probability vector bounded below by eps/n", () => {
  fc.assert(
    fc.property(
      importanceArb(1, 30, 1e12),
      fc.oneof(unit01(), fc.double({ min: 0, max: 1, noNaN: true })),
      (p, eps) => {
        const n = p.length;
        const m = defensiveMixture(p, eps);
        assertAlmostEquals(sum(m), 1, 1e-12);
        const q = normalised(p);
        for (let j = 0; j < n; j++) {
          assertGreater(m[j], (eps / n) * (1 - 1e-12) - 1e-300);
          assertAlmostEquals(m[j], (1 - eps) * q[j] + eps / n, 1e-14);
        }
      },
    ),
    { seed: 8, numRuns: 200 },
  );
  assertEquals(Array.from(defensiveMixture([3, 1, 0, 0], 0)), [0.75, 0.25, 0, 0]);
  assertEquals(Array.from(defensiveMixture([3, 1, 0, 0], 1)), [0.25, 0.25, 0.25, 0.25]);
  Array.from(defensiveMixture([3, 1, 0, 0], 0.2)).forEach((x, j) =>
    assertAlmostEquals(x, [0.65, 0.25, 0.05, 0.05][j], 1e-15)
  );
  assertEquals(Array.from(defensiveMixture([0, 0], 1)), [0.5, 0.5]);
  for (const eps of [-0.1, 1.5, NaN, Infinity]) {
    assertThrows(() => defensiveMixture([1, 2], eps), AmssArgumentError, "eps must be in [0, 1]");
  }
  assertThrows(() => defensiveMixture([0, 0], 0.5), AmssArgumentError, "p must not be all zero");
  assertThrows(() => defensiveMixture([], 0.5), AmssArgumentError, "p must not be empty");
  assertThrows(
    () => defensiveMixture([1, -1], 0.5),
    AmssArgumentError,
    "p[1] must be finite and >= 0",
  );
});

Deno.test("the defensive mixture bounds systematic HT weights by n/(eps k)", () => {
  // Exact: systematic inclusion probabilities of p' = mixture are min(1, c p'_j) with c >= k, so
  // 1/pi_j <= max(1, n / (eps k)), however small p_j is (heavy tails with ratio up to 1e12 here).
  fc.assert(
    fc.property(
      importanceArb(2, 40, 1e12),
      unit01().map((u) => 1e-3 + (1 - 1e-3) * u),
      fc.nat(),
      (p, eps, kRaw) => {
        const n = p.length;
        const k = 1 + (kRaw % n);
        const pi = systematicInclusionProbabilities(defensiveMixture(p, eps), k);
        const bound = Math.max(1, n / (eps * k));
        for (let j = 0; j < n; j++) {
          assertLessOrEqual(
            1 / pi[j],
            bound * (1 + 1e-9),
            `p=${p} eps=${eps} k=${k}`,
          );
        }
        // without the mixture the weight of the smallest unit is unbounded by comparison
        assertAlmostEquals(sum(pi), k, 1e-9);
      },
    ),
    { seed: 10, numRuns: 200 },
  );
});
