import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { amss } from "../src/amss/amss.ts";
import type { AmssInfo } from "../src/amss/amss_config.ts";
import { modalityByPrefix, paperUnits, planMasks } from "../src/amss/groups.ts";
import { unitsToKeep } from "../src/amss/sampling.ts";
import { disposeState, sgd, step } from "../src/transform.ts";
import { chain } from "../src/transform.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { gradients, MODALITIES, tinyBatch, tinyParams } from "./_tiny_model.ts";
import { zTwoSided } from "./_stats.ts";
import { amssUpdate } from "./_helpers.ts";

await tf.setBackend("cpu");

const rules = {
  modalities: MODALITIES,
  modalityOf: modalityByPrefix(MODALITIES),
  unitOf: paperUnits,
};

Deno.test("minRatio floors every update ratio: a modality below it keeps ceil(minRatio * C_l) units, others are unchanged", async () => {
  const params = tinyParams(3);
  const plan = planMasks(params, rules);
  const ratios = { audio: 0.02, visual: 0.9 };
  for (const minRatio of [0, 0.25]) {
    const opt = chain(
      sgd({ lr: 0.01 }),
      amss({ plan, seed: 3, scale: "horvitz-thompson", minRatio, recordSelection: true }),
    );
    const state = opt.init(params);
    const grads = gradients(params, tinyBatch(5));
    const info = (await step(params, grads, opt, state, 1, { ratios })).amss as AmssInfo;
    const rho = { audio: Math.max(0.02, minRatio), visual: 0.9 };
    assertEquals(info.ratios, rho);
    for (const g of plan.groups) {
      const kept = info.masks![g.id].filter((v) => v !== 0).length;
      assertEquals(
        kept,
        unitsToKeep(rho[g.modality as "audio"], g.units, "ceil"),
        `${g.id} at minRatio ${minRatio}`,
      );
    }
    tf.dispose(Object.values(grads));
    disposeState(state);
  }
  // the floor changes what is kept in some audio group (else the check above proves nothing)
  assert(
    plan.groups.some((g) =>
      g.modality === "audio" &&
      unitsToKeep(0.25, g.units, "ceil") > unitsToKeep(0.02, g.units, "ceil")
    ),
  );
  assertThrows(
    () => amss({ plan, seed: 1, minRatio: 1.5 }),
    AmssArgumentError,
    "minRatio",
  );
});

Deno.test("HT with a defensive mixture and a kept-fraction floor: every unit's mean weight is 1 and no weight explodes, even for importances spread over 12 decades", async () => {
  const C = 40, N = 4000, eps = 0.2, minRatio = 0.25;
  const mods = ["a", "v"];
  const params = Object.fromEntries(
    mods.map((m) => [`${m}/w`, tf.tidy(() => tf.variable(tf.zeros([C])))]),
  );
  // |g_u| = 10^(-6 u / (C - 1)): importance g^2 spread over 12 decades within each layer
  const g = Float32Array.from({ length: C }, (_, u) => Math.pow(10, (-6 * u) / (C - 1)));
  const grads: Record<string, tf.Tensor> = Object.fromEntries(
    mods.map((m) => [`${m}/w`, tf.tensor1d(g)]),
  );
  const plan = planMasks(params, {
    modalities: mods,
    modalityOf: modalityByPrefix(mods),
    unitOf: () => ({ kind: "element" }),
  });
  const opt = amss({
    plan,
    seed: 11,
    scale: "horvitz-thompson",
    defensive: eps,
    minRatio,
    recordSelection: true,
  });
  const state = opt.init(params);
  // a's ratio 0.02 would keep ceil(0.8) = 1 unit (weights of unbounded variance); the floor keeps 10
  const ratios = { a: 0.02, v: 0.6 };
  const sum = { a: new Float64Array(C), v: new Float64Array(C) };
  const sq = { a: new Float64Array(C), v: new Float64Array(C) };
  const counts = { a: new Int32Array(C), v: new Int32Array(C) };
  let maxWeight = 0;
  for (let t = 1; t <= N; t++) {
    const { out, info: a } = await amssUpdate(opt, state, params, grads, t, { ratios });
    if (t === 1) assertEquals(a.kept["a/w"], [10, C]);
    maxWeight = Math.max(maxWeight, a.maxWeight);
    for (const m of mods as ("a" | "v")[]) {
      const mask = a.masks![`${m}/w`];
      for (let u = 0; u < C; u++) {
        sum[m][u] += mask[u];
        sq[m][u] += mask[u] * mask[u];
        if (mask[u] !== 0) counts[m][u]++;
      }
    }
    tf.dispose(Object.values(out).filter((x) => !Object.values(grads).includes(x)));
  }
  // E[m_j] = 1 per unit (Horvitz-Thompson, App. A.2). z for a family-wise error of 1e-3 over the
  // 2 x 40 units (Bonferroni). A unit seen both kept and dropped at least 30 times each: tolerance
  // z sqrt(s^2 / N) from the sample variance (self-normalised CLT), plus 1e-6 for the float32
  // rounding of the weights. A unit never dropped in N steps has pi_j >= 1 - ln(1 / alpha) / N
  // (else P(never dropped) = pi_j^N < alpha) and weights near 1 / pi_j, so its mean lies in
  // [1 - 1e-6, 1 + ln(1 / alpha) / N]. Units dropped 1-29 times fit neither and are left out.
  const alpha = 1e-3 / (2 * C);
  const z = zTwoSided(alpha);
  let clt = 0;
  for (const m of mods as ("a" | "v")[]) {
    for (let u = 0; u < C; u++) {
      const mean = sum[m][u] / N;
      const kept = counts[m][u], dropped = N - counts[m][u];
      if (kept >= 30 && dropped >= 30) {
        const s2 = (sq[m][u] - N * mean * mean) / (N - 1);
        assertAlmostEquals(mean, 1, z * Math.sqrt(s2 / N) + 1e-6, `${m} unit ${u}`);
        clt++;
      } else if (dropped === 0) {
        assert(
          mean >= 1 - 1e-6 && mean <= 1 + Math.log(1 / alpha) / N,
          `${m} unit ${u}: never dropped, mean weight ${mean}`,
        );
      }
    }
  }
  assert(clt >= 20, `only ${clt} units were both kept and dropped often enough to check`);
  // every inclusion probability is at least about eps * k / C = 0.05, so weights stay near 20 or
  // below; without the mixture the least important units (p ~ 1e-12) would get weights ~1e11
  assert(maxWeight < 40, `largest weight ${maxWeight}`);
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
});
