/**
 * AMSS+ mask values through the engine, `amss()` itself (its allocation-free adaptive path,
 * src/amss/successive_mask.ts, and the scale upload and multiply), not the samplers alone:
 *
 * - over many steps with fixed gradients and a fixed significance batch, each unit's mean applied
 *   Horvitz-Thompson scale is 1 (App. A.2's unbiasedness), and each unit's mean applied reference
 *   scale is pi_j / (p_j + 1/C_l) (the authors' code's form of Eq. 5's scale, 1/(p_j + 1/C_l),
 *   times the exact inclusion probability), with the scale itself checked value by value;
 * - the dominant modality (larger significance, Eq. 4) keeps fewer units;
 * - importances spread over up to 12 decades: the weights stay finite and equal a float64
 *   reference that evaluates 1 - exp(-x) without cancellation.
 *
 * Statistical checks: fixed seeds, so the outcome is deterministic; each tolerance is a
 * half-width z * sqrt(var / N) for N steps, z the two-sided normal quantile for a per-check error
 * (family-wise 1e-3) / (number of checks) (Bonferroni); the comment at each check says which
 * variance. The rates say how often a CORRECT engine would fail for a random seed.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { amss } from "../src/amss/amss.ts";
import type { SignificanceConfig } from "../src/amss/amss_config.ts";
import { modalityByPrefix, planMasks, type PlanRules } from "../src/amss/groups.ts";
import type { MaskScale } from "../src/amss/mask.ts";
import { sampleSuccessive } from "../src/amss/sampling.ts";
import { successiveInclusionProbabilities } from "../src/theory/inclusion.ts";
import { successiveMask, SuccessiveScratch } from "../src/amss/successive_mask.ts";
import { Rng } from "../src/rng.ts";
import type { Params } from "../src/transform.ts";
import { zTwoSided } from "./_stats.ts";
import { amssUpdate, labelHitBatch, signedGradients, unitOf } from "./_helpers.ts";

await tf.setBackend("cpu");

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * 1 - exp(-x) for x >= 0 without cancellation, independently of Math.expm1: for x < 1/2 the
 * alternating Taylor series x - x^2/2! + x^3/3! - ... (25 terms: the first omitted one is below
 * 2^-25 / 26! relative; the sum is at least 0.78 x, so rounding costs a few ulp); for x >= 1/2 the
 * direct formula, where exp(-x) <= 0.61 and the subtraction loses under 2 bits.
 */
function oneMinusExpNeg(x: number): number {
  if (x < 0.5) {
    let term = x, s = 0;
    for (let n = 1; n <= 25; n++) {
      s += term;
      term *= -x / (n + 1);
    }
    return s;
  }
  return 1 - Math.exp(-x);
}

/** Downloaded values of a tensor map. */
function download(t: Record<string, tf.Tensor>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.dataSync() as Float32Array]));
}

// ---------------------------------------------------------------------------------------------
// Unbiasedness and the reference scale, through amss()

const MODS = ["a", "v"];
/** Per modality: an element vector, a channel-last conv (pooled path), a channel on axis 0. */
const SHAPES: Record<string, number[]> = {
  vec: [5],
  "conv/kernel": [3, 3, 1, 5],
  "rows/kernel": [4, 3],
};
const rules: PlanRules = {
  modalities: MODS,
  modalityOf: modalityByPrefix(MODS),
  unitOf: (name) =>
    name.endsWith("rows/kernel")
      ? { kind: "channel", axis: 0 }
      : name.endsWith("conv/kernel")
      ? { kind: "channel" }
      : { kind: "element" },
};

Deno.test("through amss(): per unit, the mean applied HT scale is 1, the mean reference scale is pi_j/(p_j + 1/C_l), and the dominant modality keeps fewer units", async () => {
  const rng = new Rng(31);
  const shapes: Record<string, number[]> = {};
  for (const m of MODS) for (const [k, sh] of Object.entries(SHAPES)) shapes[`${m}/${k}`] = sh;
  shapes["head/kernel"] = [2, 2]; // no modality: passes unmasked
  // gradients of magnitude in [0.6, 1.4], so every unit is selected often enough for the
  // normal approximation below
  const { g: gVals, params, grads } = signedGradients(shapes, rng);
  const plan = planMasks(params, rules);
  assertEquals(plan.groups.length, 6);
  // float64 reference importance p (gn, normalised per group) and C_l
  const pOf: Record<string, Float64Array> = {};
  for (const grp of plan.groups) {
    const gn = new Float64Array(grp.units);
    for (const mb of grp.members) {
      gVals[mb.name].forEach((v, i) => (gn[unitOf(i, shapes[mb.name], mb.spec)] += v * v));
    }
    const s = gn.reduce((a, b) => a + b, 0);
    pOf[grp.id] = gn.map((v) => v / s);
  }
  const significance: SignificanceConfig = { mode: "paper", tau: 1, lambda: 0.9, entropy: "none" };
  // `a` predicts the label confidently, `v` barely: Eq. 4 gives `a` the smaller ratio
  const batch = labelHitBatch([3, 0.3]);
  const scales: MaskScale[] = ["horvitz-thompson", "reference"];
  const units = plan.groups.reduce((a, g) => a + g.units, 0);
  // two-sided checks: per scale, every unit's mean (Bonferroni over scales x units)
  const z = zTwoSided(1e-3 / (scales.length * units));
  const before = tf.memory().numTensors;
  for (const [si, scale] of scales.entries()) {
    // steps: the HT weights' variance is larger (and only estimated), so more of them
    const N = scale === "horvitz-thompson" ? 10000 : 5000;
    const opt = amss({ plan, significance, scale, seed: 100 + si, recordSelection: true });
    const state = opt.init(params);
    const sum = Object.fromEntries(plan.groups.map((g) => [g.id, new Float64Array(g.units)]));
    const sumSq = Object.fromEntries(plan.groups.map((g) => [g.id, new Float64Array(g.units)]));
    let kept: Record<string, [number, number]> | null = null;
    let ratios: Record<string, number> | null = null;
    for (let t = 1; t <= N; t++) {
      const { out, info: a } = await amssUpdate(opt, state, params, grads, t, { batch });
      kept ??= a.kept;
      ratios ??= a.ratios;
      // a constant batch gives constant ratios (Eq. 3's momentum of a constant), so constant k
      assertEquals(a.kept, kept, `kept changed at step ${t}`);
      const o = t <= 20 ? download(out) : null;
      for (const grp of plan.groups) {
        const m = a.masks![grp.id];
        for (let u = 0; u < grp.units; u++) {
          sum[grp.id][u] += m[u];
          sumSq[grp.id][u] += m[u] * m[u];
          if (m[u] !== 0 && scale === "reference") {
            // the authors' scale 1/(p_j + 1/C_l), valued (float64 p from the gradients here)
            const want = 1 / (pOf[grp.id][u] + 1 / grp.units);
            assertAlmostEquals(m[u], want, 1e-6 * want, `${grp.id} unit ${u}`);
          }
        }
        // the applied update is the gradient times the unit's mask value, element by element
        if (o) {
          for (const mb of grp.members) {
            gVals[mb.name].forEach((gv, i) => {
              const want = gv * m[unitOf(i, shapes[mb.name], mb.spec)];
              assertAlmostEquals(o[mb.name][i], want, 1e-6 * Math.abs(want) + 1e-30, mb.name);
            });
          }
        }
      }
      assertEquals(out["head/kernel"], grads["head/kernel"]);
      tf.dispose(Object.values(out).filter((x) => !Object.values(grads).includes(x)));
    }
    // ratio direction (Eq. 4): a is dominant, so a smaller ratio and fewer units per layer
    assertAlmostEquals(ratios!.a + ratios!.v, 1, 1e-12, "sum of ratios = K - 1");
    assert(ratios!.a < ratios!.v, `ratios ${JSON.stringify(ratios)}`);
    let keptA = 0, keptV = 0;
    for (const [name] of Object.entries(SHAPES)) {
      const [ka] = kept![`a/${name}`], [kv] = kept![`v/${name}`];
      assert(ka <= kv, `${name}: a keeps ${ka}, v keeps ${kv}`);
      keptA += ka;
      keptV += kv;
    }
    assert(keptA < keptV, `a keeps ${keptA} units, v ${keptV}`);
    for (const grp of plan.groups) {
      const k = kept![grp.id][0];
      // a random design in every group: 2 <= k < C_l (k = 1 would give HT weights of infinite
      // variance, k = C_l a deterministic mask)
      assert(k >= 2 && k < grp.units, `${grp.id}: k = ${k}`);
      // exact inclusion probabilities of the successive design for this p (the engine's own
      // float32 importance differs from this float64 p by ~1e-7, far below the tolerances)
      const pi = successiveInclusionProbabilities(pOf[grp.id], k);
      for (let u = 0; u < grp.units; u++) {
        // the normal approximation needs many selections: N pi_j >= 200 for every unit here
        assert(N * pi[u] >= 200, `${grp.id} unit ${u}: N pi = ${N * pi[u]}`);
        const mean = sum[grp.id][u] / N;
        if (scale === "horvitz-thompson") {
          // E[m_j] = 1 (rank-conditioning weights, App. A.2). Their variance has no closed form:
          // tolerance from the sample variance (self-normalised CLT), z sqrt(s^2 / N).
          const s2 = (sumSq[grp.id][u] - N * mean * mean) / (N - 1);
          const tol = z * Math.sqrt(s2 / N);
          assertAlmostEquals(mean, 1, tol, `HT ${grp.id} unit ${u} (k=${k}, pi=${pi[u]})`);
        } else {
          // m_j = s_j with probability pi_j, else 0: E = pi_j s_j, Var = pi_j (1 - pi_j) s_j^2
          // exactly; tolerance z sqrt(Var / N) plus the quadrature error of pi (1e-9)
          const s = 1 / (pOf[grp.id][u] + 1 / grp.units);
          const tol = z * s * Math.sqrt((pi[u] * (1 - pi[u])) / N) + 1e-9 * s;
          assertAlmostEquals(mean, pi[u] * s, tol, `reference ${grp.id} unit ${u} (k=${k})`);
        }
      }
    }
  }
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
  assertEquals(tf.memory().numTensors, before - Object.keys(shapes).length * 2);
});

// ---------------------------------------------------------------------------------------------
// Tiny inclusion probabilities: importances spread over up to 12 decades

/**
 * Float64 reference of the adaptive design's draw and weights (Sec. 3.2.2, the law of
 * torch.multinomial without replacement, drawn as Efraimidis-Spirakis keys): one Exp(1) draw per
 * unit of positive importance, in index order, key_j = E_j / q_j with q = p / sum(p); the k
 * smallest keys are selected and, with t the (k+1)-th smallest key, unit j's rank-conditioning
 * HT weight is 1 / P(key_j < t | the others) = 1 / (1 - exp(-q_j t)), here evaluated by
 * {@link oneMinusExpNeg} (no cancellation for small q_j t). Also returns q.
 */
function adaptiveReference(
  p: ArrayLike<number>,
  k: number,
  rng: Rng,
): { weight: Map<number, number>; q: Float64Array } {
  let total = 0;
  for (let i = 0; i < p.length; i++) total += p[i];
  const q = Float64Array.from(p, (v) => v / total);
  // the k + 1 smallest keys, kept sorted (k is small here)
  const best: { key: number; j: number }[] = [];
  for (let j = 0; j < q.length; j++) {
    if (q[j] === 0) continue;
    const key = rng.exponential() / q[j];
    if (best.length === k + 1 && key >= best[k].key) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].key > key) at--;
    best.splice(at, 0, { key, j });
    if (best.length > k + 1) best.pop();
  }
  assert(best.length === k + 1, "the reference needs k < number of positive importances");
  const t = best[k].key;
  const weight = new Map<number, number>();
  for (let i = 0; i < k; i++) weight.set(best[i].j, 1 / oneMinusExpNeg(q[best[i].j] * t));
  return { weight, q };
}

/** Exact systematic-PPS inclusion probabilities min(1, c q_j), sum k, by certainty peeling. */
function systematicReference(p: ArrayLike<number>, k: number): Float64Array {
  const order = [...Array(p.length).keys()].filter((j) => p[j] > 0).sort((a, b) => p[b] - p[a]);
  const pi = new Float64Array(p.length);
  let cert = 0;
  for (;;) {
    let rest = 0;
    for (let r = order.length - 1; r >= cert; r--) rest += p[order[r]];
    const c = (k - cert) / rest;
    if (cert < k && p[order[cert]] * c >= 1) {
      pi[order[cert++]] = 1;
      continue;
    }
    for (let r = cert; r < order.length; r++) pi[order[r]] = Math.min(1, c * p[order[r]]);
    return pi;
  }
}

Deno.test("through amss(): with importances spread up to 1e12 over 100,001 units every AMSS+ weight is finite and equals its float64 reference", async () => {
  // Layer a: one unit of importance 1 and M = 100,000 units of importance (1..3.24) / S, so the
  // largest/smallest ratio is S. With k = 2 the selected small units have q_j t ~ k / M ~ 2e-5,
  // where 1 - exp(-q_j t) written directly loses up to ~5e-12 (relative) to cancellation and -expm1 nothing: the
  // HT weights must match the careful reference to 1e-13. Layer v: 8 ordinary units.
  const M = 100_000, K_A = 2;
  const rngG = new Rng(8);
  const gV = Float32Array.from({ length: 8 }, () => 0.6 + 0.8 * rngG.float());
  const params: Params = {
    "a/tail": tf.tidy(() => tf.variable(tf.zeros([M + 1]))),
    "v/w": tf.tidy(() => tf.variable(tf.zeros([8]))),
  };
  const plan = planMasks(params, {
    modalities: MODS,
    modalityOf: modalityByPrefix(MODS),
    unitOf: () => ({ kind: "element" }),
  });
  // both groups are element-wise: the engine samples a/tail, then v/w, from one generator
  assertEquals(plan.groups.map((g) => g.id), ["a/tail", "v/w"]);
  const ratios = [K_A / (M + 1), 0.5];
  let smallestX = Infinity, checkedTiny = 0;
  for (const S of [1e4, 1e8, 1e12]) {
    const gA = new Float32Array(M + 1);
    gA[0] = 1;
    for (let i = 1; i <= M; i++) gA[i] = (1 + (i % 5) / 5) / Math.sqrt(S);
    const grads = { "a/tail": tf.tensor(gA), "v/w": tf.tensor(gV) };
    const gOf: Record<string, Float32Array> = { "a/tail": gA, "v/w": gV };
    const run = async (scale: MaskScale, sampler: "adaptive" | "systematic", seed: number) => {
      const opt = amss({
        plan,
        scale,
        sampler,
        seed,
        recordSelection: true,
        recordImportance: true,
      });
      const { out, info: a } = await amssUpdate(opt, opt.init(params), params, grads, 1, {
        ratios,
      });
      const o = download(out);
      tf.dispose(Object.values(out).filter((x) => !Object.values(grads).includes(x)));
      return { a, o };
    };
    for (const scale of ["horvitz-thompson", "paper", "reference"] as const) {
      const seed = 7;
      const { a, o } = await run(scale, "adaptive", seed);
      const rng = new Rng(seed); // replays the engine's draws, group by group
      for (const grp of plan.groups) {
        const imp = a.importance![grp.id]; // the engine's scores (values checked elsewhere)
        const k = a.kept[grp.id][0];
        if (grp.id === "a/tail") {
          assertEquals(k, K_A);
          const ratio = imp.reduce((x, y) => Math.max(x, y)) / imp.reduce((x, y) => Math.min(x, y));
          assertAlmostEquals(ratio, S, 1e-5 * S, "importance spread");
        }
        const { weight, q } = adaptiveReference(imp, k, rng);
        if (grp.id === "a/tail" && scale === "horvitz-thompson") {
          // the general sampler (sampling.ts) draws the same keys from a fresh generator: its
          // rank-conditioning weights must match the reference to the same 1e-13
          const s = sampleSuccessive(imp, k, new Rng(seed));
          s.indices.forEach((j, i) => {
            const want = weight.get(j)!;
            assert(
              Math.abs(s.weights[i] - want) <= 1e-13 * want,
              `sampleSuccessive S=${S} unit ${j}: ${s.weights[i]} vs reference ${want}`,
            );
          });
        }
        const m = a.masks![grp.id];
        const where = `${scale} S=${S} ${grp.id}`;
        const selected = [...m.keys()].filter((j) => m[j] !== 0);
        assertEquals(selected, [...weight.keys()].sort((x, y) => x - y), `selection, ${where}`);
        for (const j of selected) {
          const want = scale === "horvitz-thompson" ? weight.get(j)! : scale === "paper"
            ? 1 / q[j] // Eq. 5
            : 1 / (q[j] + 1 / grp.units); // authors' code
          // HT: 1e-13 (both sides are float64 from the same scores; the summation order of the
          // normalisation cancels in q_j t); paper/reference: the engine sums 1e5 normalised
          // scores in a different way, relative error below n * 2^-53 ~ 1e-11
          const tol = scale === "horvitz-thompson" ? 1e-13 : 1e-9;
          assert(Number.isFinite(m[j]), `finite weight, ${where} unit ${j}`);
          assert(
            Math.abs(m[j] - want) <= tol * want,
            `${where} unit ${j}: engine ${m[j]}, reference ${want} (q_j = ${q[j]})`,
          );
          // the applied update: gradient times the float32 weight
          const applied = o[grp.id][j];
          assert(Number.isFinite(applied), `finite update, ${where} unit ${j}`);
          assertAlmostEquals(
            applied,
            gOf[grp.id][j] * want,
            1e-6 * Math.abs(gOf[grp.id][j] * want),
          );
          if (grp.id === "a/tail" && j > 0) {
            checkedTiny++;
            if (scale === "horvitz-thompson") {
              smallestX = Math.min(smallestX, -Math.log1p(-1 / m[j]));
            }
          }
        }
      }
    }
    // systematic PPS: weights 1/pi_j with pi_j = min(1, c q_j) (exact inclusion probabilities)
    const { a, o } = await run("horvitz-thompson", "systematic", 3);
    for (const grp of plan.groups) {
      const imp = a.importance![grp.id];
      const pi = systematicReference(imp, a.kept[grp.id][0]);
      const m = a.masks![grp.id];
      const selected = [...m.keys()].filter((j) => m[j] !== 0);
      assertEquals(selected.length, a.kept[grp.id][0]);
      for (const j of selected) {
        const want = 1 / pi[j];
        assert(Number.isFinite(m[j]) && Number.isFinite(o[grp.id][j]), `systematic S=${S} ${j}`);
        assert(
          Math.abs(m[j] - want) <= 1e-9 * want,
          `systematic S=${S} ${grp.id} unit ${j}: engine ${m[j]}, reference ${want}`,
        );
        if (grp.id === "a/tail" && j > 0) checkedTiny++;
      }
    }
    tf.dispose(Object.values(grads));
  }
  // the regime was reached: small units selected, with q_j t small enough to matter
  assert(checkedTiny >= 12, `${checkedTiny} small units checked`);
  assert(smallestX < 1e-4, `smallest q_j t among selected small units: ${smallestX}`);
  tf.dispose(Object.values(params));
});

Deno.test("successiveMask and sampleSuccessive weights equal the float64 reference for geometric importances spread up to 1e12", () => {
  // n = 64 units with p_j = S^(-j/63): every selected unit's HT weight 1/(1 - exp(-q_j t)) against
  // the careful reference, for every k < n and spreads 1 to 1e12; the two engine paths draw the
  // same keys from the same seed.
  const n = 64;
  const scratch = new SuccessiveScratch();
  const mask = new Float64Array(n);
  let checked = 0;
  for (const S of [1, 1e3, 1e6, 1e9, 1e12]) {
    const p = Array.from({ length: n }, (_, j) => Math.pow(S, -j / (n - 1)));
    for (let k = 1; k < n; k += 3) {
      const seed = 1000 * k + Math.log10(S);
      const { weight } = adaptiveReference(p, k, new Rng(seed));
      successiveMask(p, k, new Rng(seed), "horvitz-thompson", mask, scratch);
      const s = sampleSuccessive(p, k, new Rng(seed));
      assertEquals([...s.indices].sort((a, b) => a - b), [...weight.keys()].sort((a, b) => a - b));
      s.indices.forEach((j, i) => {
        const want = weight.get(j)!;
        const where = `S=${S} k=${k} unit ${j}`;
        assert(
          Math.abs(s.weights[i] - want) <= 1e-13 * want,
          `sampler ${where}: ${s.weights[i]} vs ${want}`,
        );
        assert(
          Math.abs(mask[j] - want) <= 1e-13 * want,
          `successiveMask ${where}: ${mask[j]} vs ${want}`,
        );
        checked++;
      });
    }
  }
  assert(checked > 2000, `${checked} weights checked`);
});
