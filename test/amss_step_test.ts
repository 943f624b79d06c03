import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { amss } from "../src/amss/amss.ts";
import type { AmssInfo } from "../src/amss/amss_config.ts";
import { modalityByPrefix, paperUnits, planMasks, type PlanRules } from "../src/amss/groups.ts";
import { unitLayout } from "../src/amss/units.ts";
import { unitsToKeep } from "../src/amss/sampling.ts";
import { chain, disposeState, type Params, sgd, step } from "../src/transform.ts";
import { pendingUnitScale } from "../src/unit_scale.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { Rng } from "../src/rng.ts";
import { gradients, modalBatch, MODALITIES, tinyBatch, tinyParams } from "./_tiny_model.ts";
import { amssUpdate, unitOf } from "./_helpers.ts";

await tf.setBackend("cpu");

const rules = {
  modalities: MODALITIES,
  modalityOf: modalityByPrefix(MODALITIES),
  unitOf: paperUnits,
};

function snapshot(p: Params): Record<string, Float32Array> {
  return Object.fromEntries(
    Object.entries(p).map(([k, v]) => [k, v.dataSync().slice() as Float32Array]),
  );
}

function download(t: Record<string, tf.Tensor>): Record<string, Float32Array> {
  return Object.fromEntries(
    Object.entries(t).map(([k, v]) => [k, v.dataSync().slice() as Float32Array]),
  );
}

Deno.test("a masked step in 'mask updates' order (Eq. 1) moves exactly the sampled units, ceil(rho*C_l) per layer", async () => {
  const params = tinyParams(3);
  const plan = planMasks(params, rules);
  const ratios = { audio: 0.5, visual: 0.75 };
  const lr = 0.05;
  const opt = chain(sgd({ lr }), amss({ plan, seed: 7, recordSelection: true }));
  const state = opt.init(params);
  const batch = tinyBatch(5);
  const grads = gradients(params, batch);
  const g = download(grads);
  const before = snapshot(params);
  const info = (await step(params, grads, opt, state, 1, { ratios })).amss as AmssInfo;
  const after = snapshot(params);
  for (const group of plan.groups) {
    const mask = info.masks![group.id];
    const kept = mask.filter((v) => v !== 0).length;
    assertEquals(
      kept,
      unitsToKeep(ratios[group.modality as "audio"], group.units, "ceil"),
      group.id,
    );
    assertEquals(kept, Math.ceil(ratios[group.modality as "audio"] * group.units - 1e-9), group.id);
    for (const mb of group.members) {
      const shape = params[mb.name].shape;
      for (let i = 0; i < before[mb.name].length; i++) {
        const m = mask[unitOf(i, shape, mb.spec)];
        const expected = before[mb.name][i] - lr * g[mb.name][i] * m;
        assertAlmostEquals(after[mb.name][i], expected, 1e-6, `${mb.name}[${i}]`);
        if (m === 0) {
          assertEquals(after[mb.name][i], before[mb.name][i], `${mb.name}[${i}] must not move`);
        }
      }
    }
  }
  for (const name of plan.unmasked) {
    before[name].forEach((w, i) => assertAlmostEquals(after[name][i], w - lr * g[name][i], 1e-6));
  }
  tf.dispose(grads);
  disposeState(state);
});

Deno.test("in 'mask gradients' order (authors' code) unsampled units still move through momentum and weight decay, exactly as the chain implies", async () => {
  const params = tinyParams(4);
  const plan = planMasks(params, rules);
  const lr = 0.05, mu = 0.9, wd = 1e-2;
  const opt = chain(
    amss({
      plan,
      scale: "reference",
      seed: 9,
      recordSelection: true,
      significance: { mode: "paper", tau: 0.5, lambda: 0.5 },
    }),
    sgd({ lr, momentum: mu, weightDecay: wd }),
  );
  const state = opt.init(params);
  const w: Record<string, Float32Array> = snapshot(params);
  const buf: Record<string, Float64Array> = {};
  let movedWhileMasked = 0;
  for (let t = 1; t <= 3; t++) {
    const batch = tinyBatch(10 + t);
    const grads = gradients(params, batch);
    const g = download(grads);
    const info = (await step(params, grads, opt, state, t, { batch: modalBatch(params, batch) }))
      .amss as AmssInfo;
    tf.dispose(grads);
    tf.dispose(Object.values(batch.inputs));
    // sum of rho over K modalities is K - 1 (Eq. 4)
    assertAlmostEquals(info.ratios.audio + info.ratios.visual, 1, 1e-12);
    // expected: d = m*g + wd*w; b = mu*b + d (b = d at t = 1); w -= lr*b
    const maskOf = new Map<string, (i: number) => number>();
    for (const group of plan.groups) {
      for (const mb of group.members) {
        maskOf.set(
          mb.name,
          (i) => info.masks![group.id][unitOf(i, params[mb.name].shape, mb.spec)],
        );
      }
    }
    const after = snapshot(params);
    for (const name of Object.keys(params)) {
      const m = maskOf.get(name) ?? (() => 1);
      buf[name] ??= new Float64Array(w[name].length);
      for (let i = 0; i < w[name].length; i++) {
        const d = m(i) * g[name][i] + wd * w[name][i];
        buf[name][i] = t === 1 ? d : mu * buf[name][i] + d;
        const expected = w[name][i] - lr * buf[name][i];
        assertAlmostEquals(after[name][i], expected, 1e-5, `${name}[${i}] at step ${t}`);
        if (m(i) === 0 && after[name][i] !== w[name][i]) movedWhileMasked++;
      }
    }
    Object.assign(w, after);
  }
  assert(
    movedWhileMasked > 0,
    "weight decay and momentum must move masked parameters in this order",
  );
  disposeState(state);
});

Deno.test("AMSS+ masks carry the configured scale: reference 1/(p+1/C), HT weights >= 1, AMSS 0/1", async () => {
  const params = tinyParams(6);
  const plan = planMasks(params, rules);
  const batch = tinyBatch(2);
  const grads = gradients(params, batch);
  for (const scale of ["none", "reference", "horvitz-thompson"] as const) {
    const opt = amss({ plan, scale, seed: 1, recordSelection: true });
    const state = opt.init(params);
    const { out, info: a } = await amssUpdate(opt, state, params, grads, 1, { ratios: [0.4, 0.6] });
    for (const group of plan.groups) {
      const vals = [...a.masks![group.id]].filter((v) => v !== 0);
      if (scale === "none") assert(vals.every((v) => v === 1));
      if (scale === "reference") {
        assert(vals.every((v) => v > 0 && v <= group.units + 1e-9), group.id);
      }
      if (scale === "horvitz-thompson") assert(vals.every((v) => v >= 1 - 1e-12), group.id);
    }
    for (const [k, t] of Object.entries(out)) if (t !== grads[k]) t.dispose();
  }
  tf.dispose(grads);
  tf.dispose(Object.values(batch.inputs));
});

Deno.test("an AMSS training loop does not grow tfjs memory", async () => {
  const params = tinyParams(8);
  const plan = planMasks(params, rules);
  const opt = chain(
    amss({
      plan,
      scale: "horvitz-thompson",
      seed: 3,
      significance: { mode: "reference", tau: 0.2 },
    }),
    sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }),
  );
  const state = opt.init(params);
  const batch = tinyBatch(1);
  const run = async (t: number) => {
    const grads = gradients(params, batch);
    await step(params, grads, opt, state, t, { batch: modalBatch(params, batch) });
    tf.dispose(grads);
  };
  await run(1);
  const before = tf.memory().numTensors;
  for (let t = 2; t <= 25; t++) await run(t);
  assertEquals(tf.memory().numTensors, before);
  disposeState(state);
});

Deno.test("AMSS configuration errors name the argument", async () => {
  const params = tinyParams(1);
  const plan = planMasks(params, rules);
  assertThrows(
    () => amss({ plan, seed: 1, sampler: "topk", scale: "horvitz-thompson" }),
    AmssArgumentError,
    "topk",
  );
  assertThrows(
    () => amss({ plan, seed: 1, sampler: "bogus" as "topk" }),
    AmssArgumentError,
    "sampler must be one of",
  );
  assertThrows(
    () => amss({ plan, seed: 1, defensive: 2 }),
    AmssArgumentError,
    "defensive must be in [0, 1]",
  );
  const three = planMasks({ ...params, "depth/w": tf.variable(tf.ones([2])) }, {
    modalities: ["audio", "visual", "depth"],
    modalityOf: modalityByPrefix(["audio", "visual", "depth"]),
    unitOf: paperUnits,
  });
  assertThrows(
    () => amss({ plan: three, seed: 1, significance: { mode: "reference", tau: 0.2 } }),
    AmssArgumentError,
    "two-modality",
  );
  assertThrows(
    () => planMasks(params, { ...rules, modalities: ["audio"] }),
    AmssArgumentError,
    "at least 2",
  );
  const grads = gradients(params, tinyBatch(1));
  const opt = amss({ plan, seed: 1 });
  const ctx = { params, grads, step: 1, info: {} };
  await assertRejects(
    async () => await opt.update(grads, opt.init(params), { ...ctx, extras: {} }),
    AmssArgumentError,
    "extras.ratios",
  );
  await assertRejects(
    async () =>
      await opt.update(grads, opt.init(params), { ...ctx, extras: { ratios: [0.5, 1.5] } }),
    AmssArgumentError,
    "extras.ratios[visual] must be in (0, 1]",
  );
  tf.dispose(grads);
});

Deno.test("unit layouts used by the plan match the variables (conv channel-wise, rest element-wise)", () => {
  const params = tinyParams(1);
  const plan = planMasks(params, rules);
  const conv = plan.groups.find((g) => g.id === "audio/layer1/conv/kernel")!;
  assertEquals(conv.units, 4);
  assertEquals(unitLayout(params["audio/proj/kernel"].shape, { kind: "element" }).units, 12);
  assertEquals(plan.unmasked.sort(), ["fusion/bias", "fusion/kernel"]);
});

Deno.test("fixedRatios replace Eqs. 2-4; a missing modality or a ratio outside (0, 1] is an error", async () => {
  const params = tinyParams(4);
  const plan = planMasks(params, rules);
  const opt = amss({ plan, seed: 3, fixedRatios: { audio: 0.25, visual: 1 } });
  const grads = gradients(params, tinyBatch(6));
  // no batch and no extras.ratios: the fixed ratios are all it needs
  const { out, info: a } = await amssUpdate(opt, opt.init(params), params, grads, 1, {});
  assertEquals(a.ratios, { audio: 0.25, visual: 1 });
  for (const g of plan.groups) {
    const rho = g.modality === "audio" ? 0.25 : 1;
    assertEquals(a.kept[g.id][0], unitsToKeep(rho, g.units, "ceil"), g.id);
  }
  assertThrows(
    () => amss({ plan, seed: 3, fixedRatios: { audio: 0.5 } }),
    AmssArgumentError,
    "visual is missing",
  );
  assertThrows(
    () => amss({ plan, seed: 3, fixedRatios: { audio: 0, visual: 1 } }),
    AmssArgumentError,
    "fixedRatios.audio",
  );
  tf.dispose([
    ...Object.values(grads),
    ...Object.values(out).filter((t) => !Object.values(grads).includes(t)),
  ]);
});

Deno.test("gain-matched control: every masked variable scaled by the parameter-weighted mean mask of its modality, nothing zeroed", async () => {
  const params = tinyParams(5);
  const plan = planMasks(params, rules);
  const ratios = { audio: 0.5, visual: 0.75 };
  // the same seed samples the same masks: record them with apply "mask", then compare
  const probe = amss({ plan, seed: 9, scale: "reference", recordSelection: true });
  const control = amss({ plan, seed: 9, scale: "reference", apply: "gain-matched" });
  const grads = gradients(params, tinyBatch(7));
  const g = download(grads);
  const ctx = (info: Record<string, unknown>) => ({
    params,
    grads,
    step: 1,
    extras: { ratios },
    info,
  });
  const infoA: Record<string, unknown> = {};
  const masked = await probe.update({ ...grads }, probe.init(params), ctx(infoA));
  const infoB: Record<string, unknown> = {};
  const scaled = await control.update({ ...grads }, control.init(params), ctx(infoB));
  const masks = (infoA.amss as AmssInfo).masks!;
  const gain = (infoB.amss as AmssInfo).gain!;
  for (const mod of MODALITIES) {
    let num = 0, den = 0;
    for (const grp of plan.groups.filter((x) => x.modality === mod)) {
      const perUnit = grp.members.reduce((a, mb) => a + params[mb.name].size, 0) / grp.units;
      for (const v of masks[grp.id]) num += v * perUnit;
      den += grp.units * perUnit;
    }
    assertAlmostEquals(gain[mod], num / den, 1e-9, mod);
    assert(gain[mod] > 1, `${mod}: the reference scale 1/(p + 1/C) is a gain above 1 here`);
  }
  for (const grp of plan.groups) {
    for (const mb of grp.members) {
      const out = scaled[mb.name].dataSync();
      g[mb.name].forEach((v, i) =>
        assertAlmostEquals(out[i], v * gain[grp.modality], 1e-5 * (1 + Math.abs(v)))
      );
    }
  }
  for (const name of plan.unmasked) assertEquals(scaled[name], grads[name]);
  tf.dispose([
    ...Object.values(grads),
    ...Object.values(masked).filter((t) => !Object.values(grads).includes(t)),
    ...Object.values(scaled).filter((t) => !Object.values(grads).includes(t)),
  ]);
});

Deno.test("Table 7 classifier masks: each modality's head rows are units; backbone left alone unless 'both'", async () => {
  const params = tinyParams(8);
  const plan = planMasks(params, rules);
  // fusion/kernel [6, C]: rows 0-2 read audio features, rows 3-5 visual ones
  const classifier = { name: "fusion/kernel", rows: { audio: [0, 3], visual: [3, 6] } } as {
    name: string;
    rows: Record<string, [number, number]>;
  };
  const grads = gradients(params, tinyBatch(9));
  const g = download(grads);
  const ratios = { audio: 0.34, visual: 1 };
  for (const target of ["classifier", "both"] as const) {
    const opt = amss({ plan, seed: 4, target, classifier, recordSelection: true });
    const { out, info: a } = await amssUpdate(opt, opt.init(params), params, grads, 1, { ratios });
    // ceil(0.34 * 3) = 2 audio rows kept, all 3 visual rows
    assertEquals(a.kept["classifier/audio"], [2, 3]);
    assertEquals(a.kept["classifier/visual"], [3, 3]);
    const head = out["fusion/kernel"].dataSync();
    const rowMask = [...a.masks!["classifier/audio"], ...a.masks!["classifier/visual"]];
    assertEquals(rowMask.filter((v) => v === 0).length, 1);
    for (let r = 0; r < 6; r++) {
      for (let c = 0; c < 3; c++) {
        assertAlmostEquals(head[r * 3 + c], g["fusion/kernel"][r * 3 + c] * rowMask[r], 1e-7);
      }
    }
    assertEquals(out["fusion/bias"], grads["fusion/bias"]); // shared bias: never masked
    const backboneMasked = plan.groups.some((grp) =>
      grp.members.some((mb) => out[mb.name] !== grads[mb.name])
    );
    assertEquals(backboneMasked, target === "both", target);
    tf.dispose(Object.values(out).filter((t) => !Object.values(grads).includes(t)));
  }
  assertThrows(
    () => amss({ plan, seed: 1, target: "classifier" }),
    AmssArgumentError,
    "needs classifier",
  );
  assertThrows(
    () =>
      amss({
        plan,
        seed: 1,
        target: "both",
        classifier: { name: "fusion/kernel", rows: { audio: [0, 3], visual: [3, 3] } },
      }),
    AmssArgumentError,
    "classifier.rows.visual",
  );
  tf.dispose(Object.values(grads));
});

/**
 * Unit rules with every layout amss treats differently: `rows/kernel` a channel on axis 0 (post >
 * 1), `pair/*` a two-member group, other rank >= 2 channel-last, vectors element-wise.
 */
const mixedLayouts: PlanRules = {
  modalities: MODALITIES,
  modalityOf: modalityByPrefix(MODALITIES),
  unitOf: (name, shape) =>
    name.endsWith("rows/kernel")
      ? { kind: "channel", axis: 0 }
      : name.includes("/pair/")
      ? { kind: "channel", axis: -1, group: name.slice(0, name.lastIndexOf("/")) }
      : shape.length >= 2
      ? { kind: "channel" }
      : { kind: "element" },
};

Deno.test("each group's importance is its per-unit sum of squares, whatever its layout (top-k selects exactly the largest)", async () => {
  // Channel-last conv and dense kernels (scored together), a channel unit on axis 0 and a
  // two-member group (scored one by one), element-wise vectors: top-k must keep the k units of
  // largest importance computed here in plain JS, for every importance mode.
  const rng = new Rng(21);
  const shapes: Record<string, number[]> = {};
  for (const m of MODALITIES) {
    shapes[`${m}/c1/kernel`] = [3, 3, 2, 6];
    shapes[`${m}/c2/kernel`] = [1, 1, 6, 5];
    shapes[`${m}/dense/kernel`] = [4, 6];
    shapes[`${m}/rows/kernel`] = [7, 3];
    shapes[`${m}/pair/a`] = [2, 5];
    shapes[`${m}/pair/b`] = [5];
    shapes[`${m}/bn/gamma`] = [6];
  }
  const values = (shape: number[]) =>
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
  const w = Object.fromEntries(Object.entries(shapes).map(([k, sh]) => [k, values(sh)]));
  const g = Object.fromEntries(Object.entries(shapes).map(([k, sh]) => [k, values(sh)]));
  const params: Params = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [k, tf.variable(tf.tensor(w[k], sh))]),
  );
  const grads = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [k, tf.tensor(g[k], sh)]),
  );
  const plan = planMasks(params, mixedLayouts);
  assert(plan.groups.some((gr) => gr.members.length === 2), "a two-member group is planned");
  for (const importance of ["gn", "sqrt(gn)", "gn/wn"] as const) {
    const opt = amss({ plan, sampler: "topk", importance, seed: 3, recordSelection: true });
    const { out, info: a } = await amssUpdate(opt, opt.init(params), params, grads, 1, {
      ratios: [0.5, 0.4],
    });
    const masks = a.masks!;
    for (const group of plan.groups) {
      const gn = new Float64Array(group.units), wn = new Float64Array(group.units);
      for (const mb of group.members) {
        const shape = shapes[mb.name];
        g[mb.name].forEach((v, i) => (gn[unitOf(i, shape, mb.spec)] += v * v));
        w[mb.name].forEach((v, i) => (wn[unitOf(i, shape, mb.spec)] += v * v));
      }
      const imp = [...gn].map((v, u) =>
        importance === "gn" ? v : importance === "sqrt(gn)" ? Math.sqrt(v) : v / (wn[u] + 1e-12)
      );
      const k = unitsToKeep(group.modality === "audio" ? 0.5 : 0.4, group.units, "ceil");
      const expected = [...imp.keys()].sort((a, b) => imp[b] - imp[a]).slice(0, k).sort((a, b) =>
        a - b
      );
      const kept = [...masks[group.id].keys()].filter((u) => masks[group.id][u] !== 0);
      assertEquals(kept, expected, `${importance} ${group.id}`);
    }
    for (const [name, t] of Object.entries(out)) if (t !== grads[name]) t.dispose();
  }
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
});

Deno.test("on wasm the mask deferred into the fused SGD kernel gives the same parameters and buffers, bit for bit, as AMSS's own multiply", async () => {
  // chain(amss, sgd): with the fused kernel, amss leaves its mask to it (src/unit_scale.ts) and the kernel
  // multiplies as it steps; without it, amss multiplies and the op-by-op SGD steps. Layouts: conv
  // channel-last, channel on axis 0 (post > 1), a two-member group, element-wise vectors.
  const { registerWasmTrainingKernels } = await import("../src/backend/wasm_kernels.ts");
  await tf.setBackend("wasm");
  const shapes: Record<string, number[]> = {};
  for (const m of MODALITIES) {
    shapes[`${m}/c1/kernel`] = [3, 3, 2, 6];
    shapes[`${m}/rows/kernel`] = [7, 3];
    shapes[`${m}/pair/a`] = [2, 5];
    shapes[`${m}/pair/b`] = [5];
    shapes[`${m}/bn/gamma`] = [6];
  }
  shapes["head/kernel"] = [4, 3]; // shared: never masked, stepped without a scale
  const run = async (fused: boolean, scale: "none" | "horvitz-thompson") => {
    registerWasmTrainingKernels({ sgd: fused });
    const rng = new Rng(5);
    const values = (shape: number[]) =>
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
    const params: Params = Object.fromEntries(
      Object.entries(shapes).map(([k, sh]) => [k, tf.variable(tf.tensor(values(sh), sh))]),
    );
    const plan = planMasks(params, mixedLayouts);
    const inner = sgd({ lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    const deferred: boolean[] = [];
    const spy = {
      ...inner,
      update(u: Record<string, tf.Tensor>, s: unknown[], ctx: Parameters<typeof inner.update>[2]) {
        deferred.push(pendingUnitScale(ctx) != null);
        return inner.update(u, s, ctx);
      },
    };
    const opt = chain(amss({ plan, scale, seed: 9 }), spy);
    const st = opt.init(params);
    const before = tf.memory().numTensors;
    for (let t = 1; t <= 3; t++) {
      const grads = Object.fromEntries(
        Object.entries(shapes).map(([k, sh]) => [k, tf.tensor(values(sh), sh)]),
      );
      await step(params, grads, opt, st, t, { ratios: [0.6, 0.3] });
      tf.dispose(Object.values(grads));
    }
    assertEquals(tf.memory().numTensors, before, "no tensor left behind");
    const buffers = ((st[1] as unknown[])[1] as { buffers: Params }).buffers;
    const out = [...Object.values(params), ...Object.values(buffers)].map((x) =>
      Array.from(x.dataSync())
    );
    disposeState(st);
    tf.dispose(Object.values(params));
    return { out, deferred };
  };
  try {
    for (const scale of ["none", "horvitz-thompson"] as const) {
      const own = await run(false, scale), folded = await run(true, scale);
      assertEquals(own.deferred, [false, false, false]);
      assertEquals(folded.deferred, [true, true, true]);
      assertEquals(folded.out, own.out, scale);
    }
  } finally {
    registerWasmTrainingKernels();
    await tf.setBackend("cpu");
  }
});
