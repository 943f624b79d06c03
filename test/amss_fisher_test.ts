/**
 * The AMSS engine's options for the paper's importance measure (Sec. 3.2.2):
 * - `importance: "fisher"` scores each unit by the sum of `extras.fisher` (the per-element
 *   diagonal empirical Fisher) over its elements, through every unit layout the engine scores
 *   differently (element block, channel-last pooled path, grouped heads and neurons), the classifier
 *   rows included; missing or misshapen Fisher maps are errors;
 * - `normalise: "modality"` normalises over all units of a modality and keeps
 *   `ceil(rho_k * C_k)` across it: top-k keeps the modality's global top units, AMSS+ masks use
 *   the modality-wide p (reference scale: 1/(p + 1/C_k)), and the Horvitz-Thompson mask stays
 *   unbiased over the pool;
 * - the defaults (`gn`, `layer`) are the path they were: explicit defaults give the same masks.
 * And the trainer end to end: an AMSS+ run with importance "fisher" and modality normalisation.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLess, assertThrows } from "@std/assert";
import { amss } from "../src/amss/amss.ts";
import type { AmssConfig, AmssInfo } from "../src/amss/amss_config.ts";
import { modalityByPrefix, planMasks, type PlanRules } from "../src/amss/groups.ts";
import { generateSynthetic } from "../src/data/synthetic.ts";
import { buildModel } from "../src/models/build.ts";
import { createMethod } from "../src/train/methods.ts";
import { train } from "../src/train/trainer.ts";
import { neuronRules } from "../src/amss/groups.ts";
import { Rng } from "../src/rng.ts";
import type { Params, TensorMap } from "../src/transform.ts";
import { amssUpdate } from "./_helpers.ts";

await tf.setBackend("cpu");

const MODS = ["a", "v"];
/** One variable of each layout the engine scores by a different path. */
const LAYOUT: Record<
  string,
  { shape: number[]; rule: (m: string) => ReturnType<PlanRules["unitOf"]> }
> = {
  "conv/kernel": { shape: [3, 3, 2, 5], rule: () => ({ kind: "channel" }) }, // pooled fast path
  "rows/kernel": { shape: [6, 3], rule: () => ({ kind: "channel", axis: 0 }) }, // slow group
  "attn/query/kernel": {
    shape: [4, 6],
    rule: (m) => ({ kind: "heads", heads: 2, axis: 1, group: `${m}/attn` }),
  },
  "attn/out/kernel": {
    shape: [6, 4],
    rule: (m) => ({ kind: "heads", heads: 2, axis: 0, group: `${m}/attn` }),
  },
  "ffn/kernel": { shape: [4, 5], rule: () => ({ kind: "element" }) }, // neurons via neuronRules
  "ffn/bias": { shape: [5], rule: () => ({ kind: "element" }) },
  "beta": { shape: [7], rule: () => ({ kind: "element" }) }, // element block
};
const rules: PlanRules = neuronRules({
  modalities: MODS,
  modalityOf: modalityByPrefix(MODS),
  unitOf: (name) => {
    const [m, ...rest] = name.split("/");
    return LAYOUT[rest.join("/")]?.rule(m) ?? null;
  },
});

interface Fixture {
  params: Params;
  grads: TensorMap;
  /** Per-element "Fisher": positive values unrelated to the gradients. */
  fisher: TensorMap;
  dispose(): void;
}

function fixture(seed: number, skew = 0): Fixture {
  const rng = new Rng(seed);
  const params: Params = {}, grads: TensorMap = {}, fisher: TensorMap = {};
  for (const m of MODS) {
    // modality "a" gets layer-dependent scales (skew) so that layers differ in total importance
    Object.entries(LAYOUT).forEach(([k, { shape }], li) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const vals = () => Float32Array.from({ length: n }, () => rng.normal());
      const scale = m === "a" ? Math.exp(skew * (li - 3)) : 1;
      params[`${m}/${k}`] = tf.variable(tf.tensor(vals(), shape));
      grads[`${m}/${k}`] = tf.tensor(vals().map((v) => v * scale), shape);
      fisher[`${m}/${k}`] = tf.tensor(vals().map((v) => scale * scale * v * v), shape);
    });
  }
  return {
    params,
    grads,
    fisher,
    dispose: () =>
      tf.dispose([...Object.values(params), ...Object.values(grads), ...Object.values(fisher)]),
  };
}

async function runStep(
  cfg: Omit<AmssConfig, "plan" | "seed"> & { seed?: number },
  f: Fixture,
  extras: Record<string, unknown>,
): Promise<AmssInfo> {
  const plan = planMasks(f.params, rules);
  const opt = amss({
    plan,
    seed: cfg.seed ?? 3,
    recordSelection: true,
    recordImportance: true,
    ...cfg,
  });
  const { out, info: a } = await amssUpdate(opt, opt.init(f.params), f.params, f.grads, 1, extras);
  for (const [name, t] of Object.entries(out)) if (t !== f.grads[name]) t.dispose();
  return a;
}

Deno.test('importance "fisher" with extras.fisher = g^2 is importance "gn", unit for unit and mask for mask', async () => {
  const f = fixture(1);
  const sq = Object.fromEntries(Object.entries(f.grads).map(([n, g]) => [n, tf.square(g)]));
  const before = tf.memory().numTensors;
  for (const sampler of ["topk", "adaptive"] as const) {
    const scale = sampler === "topk" ? "none" : "horvitz-thompson";
    const gn = await runStep({ sampler, scale }, f, { ratios: [0.4, 0.7] });
    const fi = await runStep({ sampler, scale, importance: "fisher" }, f, {
      ratios: [0.4, 0.7],
      fisher: sq,
    });
    for (const id of Object.keys(gn.importance!)) {
      const a = gn.importance![id], b = fi.importance![id];
      for (let j = 0; j < a.length; j++) {
        assertLess(Math.abs(a[j] - b[j]), 1e-6 * Math.abs(a[j]) + 1e-30, `${sampler} ${id}[${j}]`);
      }
    }
    assertEquals(fi.masks, gn.masks, `${sampler}: same draws on the same scores`);
  }
  assertEquals(tf.memory().numTensors, before, "no tensor left behind");
  tf.dispose(Object.values(sq));
  f.dispose();
});

Deno.test('importance "fisher" sums the Fisher map over each unit (not its square)', async () => {
  const f = fixture(2);
  const info = await runStep({ sampler: "topk", importance: "fisher" }, f, {
    ratios: [0.5, 0.5],
    fisher: f.fisher,
  });
  const F = Object.fromEntries(
    await Promise.all(Object.entries(f.fisher).map(async ([n, t]) => [n, await t.data()] as const)),
  );
  // channel-last conv: unit c sums F[..., c]; the head group sums both members' head slices
  const conv = F["a/conv/kernel"], want = new Float64Array(5);
  conv.forEach((v, i) => (want[i % 5] += v));
  info.importance!["a/conv/kernel"].forEach((v, c) =>
    assertLess(Math.abs(v - want[c]), 1e-5 * want[c], `conv unit ${c}`)
  );
  const q = F["a/attn/query/kernel"], o = F["a/attn/out/kernel"], heads = new Float64Array(2);
  q.forEach((v, i) => (heads[Math.floor((i % 6) / 3)] += v));
  o.forEach((v, i) => (heads[Math.floor(Math.floor(i / 4) / 3)] += v));
  info.importance!["a/attn"].forEach((v, h) =>
    assertLess(Math.abs(v - heads[h]), 1e-5 * heads[h], `head ${h}`)
  );
  assertEquals(Array.from(info.importance!["a/beta"]), Array.from(F["a/beta"]), "element units");
  f.dispose();
});

Deno.test('importance "fisher": a missing map, a missing variable or a wrong shape is an error', async () => {
  const f = fixture(3);
  const plan = planMasks(f.params, rules);
  const call = (extras: Record<string, unknown>) => {
    const opt = amss({ plan, seed: 1, importance: "fisher" });
    return opt.update(f.grads, opt.init(f.params), {
      params: f.params,
      grads: f.grads,
      step: 1,
      extras,
      info: {},
    });
  };
  const before = tf.memory().numTensors;
  await assertRejects(() => call({ ratios: [0.5, 0.5] }), "needs extras.fisher");
  const partial = { ...f.fisher };
  delete partial["v/beta"];
  await assertRejects(
    () => call({ ratios: [0.5, 0.5], fisher: partial }),
    "extras.fisher.v/beta is missing",
  );
  const wrong = { ...f.fisher, "a/beta": tf.zeros([8]) };
  await assertRejects(() => call({ ratios: [0.5, 0.5], fisher: wrong }), "of shape [8]");
  wrong["a/beta"].dispose();
  assertEquals(tf.memory().numTensors, before, "nothing leaked on the error paths");
  assertThrows(() => amss({ plan, seed: 1, normalise: "global" as "layer" }), Error, "normalise");
  f.dispose();
});

async function assertRejects(fn: () => unknown, includes: string) {
  let err: Error | null = null;
  try {
    await fn();
  } catch (e) {
    err = e as Error;
  }
  assert(
    err !== null && err.message.includes(includes),
    `expected an error with "${includes}", got ${err?.message}`,
  );
}

Deno.test('normalise "modality", top-k: ceil(rho * C_k) units, the modality\'s global top, layers keep different fractions', async () => {
  const f = fixture(4, 1.5);
  const rho = [0.3, 0.55];
  const info = await runStep({ sampler: "topk", normalise: "modality" }, f, { ratios: rho });
  const plan = planMasks(f.params, rules);
  for (const [mi, m] of MODS.entries()) {
    const groups = plan.groups.filter((g) => g.modality === m);
    const C = groups.reduce((a, g) => a + g.units, 0);
    const k = Math.ceil(rho[mi] * C);
    assertEquals(info.keptModality![m], [k, C]);
    // pooled scores, and the k-th largest
    const all = groups.flatMap((g) => Array.from(info.importance![g.id]));
    const threshold = [...all].sort((a, b) => b - a)[k - 1];
    let kept = 0;
    for (const g of groups) {
      const mask = info.masks![g.id], imp = info.importance![g.id];
      let inGroup = 0;
      for (let j = 0; j < g.units; j++) {
        if (mask[j] > 0) {
          inGroup++;
          assert(imp[j] >= threshold, `${g.id}[${j}] kept below the modality's k-th score`);
        } else assert(imp[j] <= threshold, `${g.id}[${j}] dropped above the modality's k-th score`);
      }
      assertEquals(info.kept[g.id], [inGroup, g.units], g.id);
      kept += inGroup;
    }
    assertEquals(kept, k, `${m}: ceil(rho * C) across the modality`);
  }
  // the skewed modality's layers keep very different fractions (some none, some all)
  const fr = plan.groups.filter((g) => g.modality === "a").map((g) => info.kept[g.id][0] / g.units);
  assert(Math.max(...fr) - Math.min(...fr) > 0.5, `per-layer kept fractions ${fr}`);
  f.dispose();
});

Deno.test('normalise "modality", AMSS+ reference scale: 1/(p_j + 1/C_k) with p over the whole modality', async () => {
  const f = fixture(5, 0.5);
  const info = await runStep({ scale: "reference", normalise: "modality" }, f, {
    ratios: [0.5, 0.5],
  });
  const plan = planMasks(f.params, rules);
  for (const m of MODS) {
    const groups = plan.groups.filter((g) => g.modality === m);
    const C = groups.reduce((a, g) => a + g.units, 0);
    const total = groups.reduce((a, g) => a + info.importance![g.id].reduce((x, y) => x + y, 0), 0);
    for (const g of groups) {
      info.masks![g.id].forEach((v, j) => {
        if (v === 0) return;
        const want = 1 / (info.importance![g.id][j] / total + 1 / C);
        assertLess(Math.abs(v - want), 1e-9 * want, `${g.id}[${j}]`);
      });
    }
  }
  f.dispose();
});

Deno.test('normalise "modality", AMSS+ Horvitz-Thompson: E[m_j] = 1 for every unit of the pool (Monte Carlo)', async () => {
  // M draws with seeds 1..M; per unit |mean - 1| <= 5 standard errors (sd / sqrt(M)), the sd
  // estimated from the draws (per check P(|z| > 5) ≈ 6e-7 under the CLT). HT weights are heavy
  // tailed (about 1/pi_j with probability pi_j), so the estimated sd is only trustworthy for units
  // drawn often: M is sized for >= 40 draws of the rarest unit.
  const f = fixture(6, 0.3);
  // importances bounded away from 0, so that every unit is drawn often enough to be checked
  const fisher = Object.fromEntries(
    Object.entries(f.fisher).map(([n, t]) => [n, tf.add(t, 0.3)]),
  );
  const plan = planMasks(f.params, rules);
  const units = plan.groups.map((g) => [g.id, g.units] as const);
  const M = 1500;
  const sum = new Map(units.map(([id, n]) => [id, new Float64Array(n)]));
  const sum2 = new Map(units.map(([id, n]) => [id, new Float64Array(n)]));
  const hits = new Map(units.map(([id, n]) => [id, new Float64Array(n)]));
  for (let s = 1; s <= M; s++) {
    const info = await runStep(
      { scale: "horvitz-thompson", normalise: "modality", importance: "fisher", seed: s },
      f,
      { ratios: [0.35, 0.6], fisher },
    );
    for (const [id, n] of units) {
      for (let j = 0; j < n; j++) {
        const v = info.masks![id][j];
        sum.get(id)![j] += v;
        sum2.get(id)![j] += v * v;
        if (v > 0) hits.get(id)![j]++;
      }
    }
  }
  let checked = 0;
  for (const [id, n] of units) {
    for (let j = 0; j < n; j++) {
      const mean = sum.get(id)![j] / M;
      const sd = Math.sqrt(Math.max(0, sum2.get(id)![j] / M - mean * mean));
      // the standard error is estimable only from units drawn a few times
      assert(hits.get(id)![j] >= 40, `${id}[${j}] drawn ${hits.get(id)![j]} times in ${M}`);
      assert(
        Math.abs(mean - 1) <= 5 * sd / Math.sqrt(M) + 1e-9,
        `${id}[${j}]: mean ${mean}, sd ${sd}`,
      );
      checked++;
    }
  }
  assertEquals(checked, 50, "every unit of both modalities");
  tf.dispose(Object.values(fisher));
  f.dispose();
});

Deno.test("explicit defaults (gn, layer) give the default path's masks bit for bit", async () => {
  const f = fixture(7, 0.8);
  for (const scale of ["none", "reference", "horvitz-thompson"] as const) {
    const a = await runStep({ scale }, f, { ratios: [0.4, 0.6] });
    const b = await runStep({ scale, importance: "gn", normalise: "layer" }, f, {
      ratios: [0.4, 0.6],
    });
    assertEquals(b.masks, a.masks, scale);
    assertEquals(b.kept, a.kept, scale);
    assertEquals(a.keptModality, undefined);
  }
  f.dispose();
});

Deno.test("createMethod: importance/normalise reach amss, the method asks the trainer for the masked variables' Fisher", () => {
  const model = buildModel({
    modalities: [
      { name: "audio", kind: "mlp", input: [4], options: { hidden: [3] } },
      { name: "visual", kind: "mlp", input: [2], options: { hidden: [3] } },
    ],
    fusion: "concat",
    numClasses: 3,
  });
  const { params, state } = model.init(1);
  const ctx = {
    modalities: model.modalities,
    params,
    rules: (u: "paper" | "reference") => model.unitRules(u),
    seed: 1,
  };
  const plain = createMethod("amss+", {}, ctx);
  assertEquals(plain.fisher, undefined, "the default asks for no Fisher pass");
  assertEquals(plain.label, "amss+ (reference)");
  const m = createMethod("amss+", { importance: "fisher", normalise: "modality" }, ctx);
  assertEquals(
    [...m.fisher!].sort(),
    Object.keys(params).filter((n) => !n.startsWith("fusion/")).sort(),
  );
  assertEquals(m.label, "amss+ (reference) [importance fisher, normalise modality]");
  tf.dispose([...Object.values(params), ...Object.values(state)]);
});

Deno.test("trainer: AMSS+ (HT) with importance fisher and modality normalisation trains; each step draws across the modality", async () => {
  const ds = generateSynthetic({
    name: "tiny",
    numClasses: 3,
    modalities: [
      { name: "audio", kind: "vector", shape: [6], signal: 1, noise: 1 },
      { name: "visual", kind: "vector", shape: [4], signal: 0.5, noise: 1 },
    ],
    nTrain: 48,
    nVal: 12,
    nTest: 12,
    seed: 2,
  });
  const model = buildModel({
    modalities: [
      { name: "audio", kind: "mlp", input: [6], options: { hidden: [5] } },
      { name: "visual", kind: "mlp", input: [4], options: { hidden: [5] } },
    ],
    fusion: "concat",
    numClasses: 3,
  });
  const before = tf.memory().numTensors;
  const summary = await train({
    model,
    dataset: ds,
    method: "amss+",
    methodOptions: {
      scale: "horvitz-thompson",
      importance: "fisher",
      normalise: "modality",
      units: "neuron",
    },
    optimizer: { kind: "sgd", lr: 0.05 },
    epochs: 2,
    batchSize: 16,
    seed: 1,
    progress: "none",
  });
  assertEquals(summary.history.length, 2);
  assert(summary.history.every((h) => Number.isFinite(h.trainLoss) && h.maxMaskWeight > 0));
  assert(summary.label.includes("importance fisher"), summary.label);
  assertEquals(tf.memory().numTensors, before, "the Fisher maps are disposed every step");
});
