/**
 * AMSS/AMSS+ with K = 3 modalities through the engine (`amss()`) and through the trainer: Eq. 4's
 * ratios sum to K - 1 = 2 and order the modalities by significance, every modality's layers keep
 * ceil(rho_k C_l) units with that modality's own ratio, the mask reaches every modality's
 * variables, HT weights stay unbiased per modality, and a three-encoder model trains.
 *
 * Statistical check: fixed seeds; tolerance z * sqrt(s^2 / N) for N steps with s^2 the sample
 * variance of the unit's weight (self-normalised CLT), z the two-sided normal quantile for a
 * family-wise error 1e-3 split over the units (Bonferroni).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertGreater } from "@std/assert";
import { amss } from "../src/amss/amss.ts";
import { modalityByPrefix, paperUnits, planMasks, type PlanRules } from "../src/amss/groups.ts";
import { unitsToKeep } from "../src/amss/sampling.ts";
import { generateSynthetic } from "../src/data/synthetic.ts";
import { train } from "../src/train/trainer.ts";
import { Rng } from "../src/rng.ts";
import { tinyTrainable } from "./_tiny_trainable.ts";
import { zTwoSided } from "./_stats.ts";
import { amssUpdate, labelHitBatch, signedGradients, unitOf } from "./_helpers.ts";

await tf.setBackend("cpu");

const MODS = ["a", "v", "t"];
const rules: PlanRules = {
  modalities: MODS,
  modalityOf: modalityByPrefix(MODS),
  unitOf: paperUnits,
};

/** Per modality: a conv kernel (channel units), its bias and a dense kernel (element units). */
function threeParams(seed: number) {
  const rng = new Rng(seed);
  const shapes: Record<string, number[]> = {};
  for (const m of MODS) {
    shapes[`${m}/conv/kernel`] = [3, 3, 1, 6];
    shapes[`${m}/conv/bias`] = [6];
    shapes[`${m}/proj/kernel`] = [6, 4];
  }
  shapes["fusion/kernel"] = [12, 3]; // shared head: not masked
  const { g, params, grads } = signedGradients(shapes, rng);
  return { shapes, g, params, grads };
}

Deno.test("K = 3 through amss(): ratios sum to 2 and follow significance, each modality keeps ceil(rho_k C_l) units and its own mask reaches its variables", async () => {
  const { shapes, g, params, grads } = threeParams(5);
  const plan = planMasks(params, rules);
  assertEquals(plan.modalities, MODS);
  const before = tf.memory().numTensors;
  // `a` predicts best, `v` less, `t` barely (Eq. 2's bounds decrease)
  const batch = labelHitBatch([3, 1.2, 0.2]);
  for (const scale of ["none", "horvitz-thompson"] as const) {
    const opt = amss({
      plan,
      scale,
      seed: 3,
      recordSelection: true,
      significance: { mode: "paper", tau: 0.5, lambda: 0.9, entropy: "none" },
    });
    const state = opt.init(params);
    for (let t = 1; t <= 3; t++) {
      const { out, info: a } = await amssUpdate(opt, state, params, grads, t, { batch });
      const rho = MODS.map((m) => a.ratios[m]);
      // Eq. 4: sum_k rho_k = K - 1, the most significant modality updated least
      assertAlmostEquals(rho[0] + rho[1] + rho[2], 2, 1e-12);
      assert(rho[0] < rho[1] && rho[1] < rho[2], `ratios ${rho}`);
      rho.forEach((r) => assert(r > 0 && r < 1));
      assertEquals(a.significance!.ratios.length, 3);
      const download = Object.fromEntries(
        Object.entries(out).map(([k, v]) => [k, v.dataSync() as Float32Array]),
      );
      for (const grp of plan.groups) {
        const r = a.ratios[grp.modality];
        const k = unitsToKeep(r, grp.units, "ceil");
        const m = a.masks![grp.id];
        assertEquals(a.kept[grp.id], [k, grp.units], grp.id);
        assertEquals(m.filter((v) => v !== 0).length, k, `${scale} ${grp.id}`);
        if (scale === "none") assert(m.every((v) => v === 0 || v === 1));
        else assert(m.every((v) => v === 0 || v >= 1 - 1e-12), grp.id);
        for (const mb of grp.members) {
          g[mb.name].forEach((gv, i) => {
            const want = gv * m[unitOf(i, shapes[mb.name], mb.spec)];
            assertAlmostEquals(download[mb.name][i], want, 1e-6 * Math.abs(want) + 1e-30);
          });
        }
      }
      // the three modalities keep different shares of the same layer
      const keptConv = MODS.map((m) => a.kept[`${m}/conv/kernel`][0]);
      assert(keptConv[0] < keptConv[2], `conv units kept per modality: ${keptConv}`);
      assertEquals(out["fusion/kernel"], grads["fusion/kernel"]);
      tf.dispose(Object.values(out).filter((x) => !Object.values(grads).includes(x)));
    }
  }
  assertEquals(tf.memory().numTensors, before, "no tensor left behind");
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
});

Deno.test("K = 3 through amss(): with a different k per modality every unit's mean HT weight is 1", async () => {
  // fixed ratios 0.3 / 0.5 / 0.7 of 6 conv channels: k = 2, 3, 5 per modality
  const { params, grads } = threeParams(9);
  const plan = planMasks(params, rules);
  const groups = plan.groups.filter((x) => x.id.endsWith("conv/kernel"));
  const opt = amss({
    plan,
    scale: "horvitz-thompson",
    seed: 17,
    recordSelection: true,
    fixedRatios: { a: 0.3, v: 0.5, t: 0.7 },
  });
  const state = opt.init(params);
  const N = 4000;
  const units = groups.reduce((s, x) => s + x.units, 0);
  const z = zTwoSided(1e-3 / units);
  const sum = groups.map((x) => new Float64Array(x.units));
  const sumSq = groups.map((x) => new Float64Array(x.units));
  const hits = groups.map((x) => new Float64Array(x.units));
  for (let t = 1; t <= N; t++) {
    const { out, info: a } = await amssUpdate(opt, state, params, grads, t, {});
    tf.dispose(Object.values(out).filter((x) => !Object.values(grads).includes(x)));
    groups.forEach((grp, gi) => {
      a.masks![grp.id].forEach((v, u) => {
        sum[gi][u] += v;
        sumSq[gi][u] += v * v;
        if (v !== 0) hits[gi][u]++;
      });
    });
  }
  assertEquals(groups.map((x) => Math.ceil([0.3, 0.5, 0.7][MODS.indexOf(x.modality)] * 6)), [
    2,
    3,
    5,
  ]);
  groups.forEach((grp, gi) => {
    for (let u = 0; u < grp.units; u++) {
      // the normal approximation needs many selections of the unit
      assertGreater(hits[gi][u], 200, `${grp.id} unit ${u} selected ${hits[gi][u]} times`);
      const mean = sum[gi][u] / N;
      const s2 = (sumSq[gi][u] - N * mean * mean) / (N - 1);
      assertAlmostEquals(mean, 1, z * Math.sqrt(s2 / N), `${grp.id} unit ${u}`);
    }
  });
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
});

Deno.test("a three-encoder model trains with AMSS and AMSS+: ratios of three modalities sum to 2 every epoch, the strongest modality is updated least", async () => {
  const ds = generateSynthetic({
    name: "tiny-3",
    numClasses: 4,
    modalities: [
      { name: "audio", kind: "vector", shape: [12], signal: 1.0, noise: 1 },
      { name: "visual", kind: "vector", shape: [6], signal: 0.5, noise: 1 },
      { name: "text", kind: "vector", shape: [4], signal: 0.25, noise: 1 },
    ],
    nTrain: 96,
    nVal: 32,
    nTest: 48,
    seed: 4,
  });
  const names = ["audio", "visual", "text"];
  const before = tf.memory().numTensors;
  for (
    const [method, scale] of [["amss", undefined], ["amss+", "horvitz-thompson"]] as const
  ) {
    const s = await train({
      model: tinyTrainable([
        { name: "audio", dim: 12 },
        { name: "visual", dim: 6 },
        { name: "text", dim: 4 },
      ], 4),
      dataset: ds,
      method,
      methodOptions: scale ? { scale } : {},
      optimizer: { kind: "sgd", lr: 0.05 },
      batchSize: 16,
      epochs: 3,
      seed: 2,
      progress: "none",
    });
    assertEquals(s.history.length, 3);
    for (const rec of s.history) {
      assertEquals(Object.keys(rec.meanRho), names, method);
      assertEquals(rec.rhoSource, "method");
      const total = names.reduce((a, m) => a + rec.meanRho[m], 0);
      // every step's ratios sum to K - 1 (Eq. 4), so their epoch means do too
      assertAlmostEquals(total, 2, 1e-9, `${method} epoch ${rec.epoch}`);
      names.forEach((m) => assert(rec.meanRho[m] > 0 && rec.meanRho[m] < 1, m));
      assert(Number.isFinite(rec.trainLoss), `${method} epoch ${rec.epoch}`);
      if (method === "amss") assertEquals(rec.maxMaskWeight, 1);
      else assertGreater(rec.maxMaskWeight, 1, "HT weights above 1");
    }
    assertEquals(Object.keys(s.test.branchAcc), names);
    // the modality with the strongest signal is the most significant: the smallest ratio
    const last = s.history[2].meanRho;
    assert(last.audio < last.visual && last.audio < last.text, JSON.stringify(last));
    assertGreater(s.test.acc, 0.25, `${method}: above chance (4 classes)`);
  }
  assertEquals(tf.memory().numTensors, before, "the trainer disposes everything");
});
