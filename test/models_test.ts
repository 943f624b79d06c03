import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { modalityByPrefix, planMasks } from "../src/amss/groups.ts";
import { paperSignificance } from "../src/amss/significance.ts";
import type { Params } from "../src/transform.ts";
import {
  buildModel,
  type FusionSpec,
  modalBatchFromOutputs,
  type ModalityEncoderSpec,
  type Model,
  ModelSpecError,
  type State,
  variableGradsByName,
} from "../src/models/mod.ts";
import { batchNorm, variableSeed } from "../src/models/layers.ts";
import {
  arr,
  assertClose,
  disposeAll,
  disposeOut,
  inputsFor as sharedInputs,
  matmul,
  randomize,
} from "./_helpers.ts";
import { tinyAudio, tinyVisual, VEC_A, VEC_B, VEC_C } from "./_tiny_specs.ts";

await tf.setBackend("cpu");

const C = 3;
const B = 4;

/** Tiny encoders of every kind (CPU-sized). */
const AUDIO = tinyAudio([2, 4, 4, 4]);
const VISUAL = tinyVisual([2, 4, 4, 4]);
const TEXT: ModalityEncoderSpec = {
  name: "text",
  kind: "transformer",
  input: [5, 6],
  options: { dModel: 8, heads: 2, layers: 1, ffDim: 8 },
};

const FUSIONS: FusionSpec[] = [
  { kind: "concat" },
  { kind: "sum" },
  { kind: "weight" },
  { kind: "weight", attention: "features" },
  { kind: "film" },
  { kind: "late" },
  { kind: "late", combine: "prob-mean" },
];

const inputsFor = (model: Model, seed: number, batch = B) => sharedInputs(model, seed, batch);

Deno.test("every fusion with K = 2 and K = 3 (ResNet18 audio + frames, Transformer) gives [B, C] logits, K uni-modal [B, C] and K features [B, d_k]", () => {
  for (const mods of [[AUDIO, VISUAL], [AUDIO, VISUAL, TEXT], [VEC_A, TEXT, VEC_B]]) {
    for (const fusion of FUSIONS) {
      const model = buildModel({ modalities: mods, fusion, numClasses: C });
      const { params, state } = model.init(3);
      const inputs = inputsFor(model, 5);
      for (const training of [true, false]) {
        tf.tidy(() => {
          const out = model.forward(params, state, inputs, { training });
          const what = `${fusion.kind}, ${mods.map((m) => m.name)}, training=${training}`;
          assertEquals(out.logits.shape, [B, C], what);
          assertEquals(out.unimodal.length, mods.length, what);
          for (const u of out.unimodal) assertEquals(u.shape, [B, C], what);
          assertEquals(out.features.map((f) => f.shape), model.encoders.map((e) => [B, e.dim]));
        });
      }
      disposeAll(params, state, inputs);
    }
  }
});

Deno.test("ResNet18 visual encoder: frames are encoded one by one and the pooled features averaged over T", () => {
  const model = buildModel({ modalities: [AUDIO, VISUAL], fusion: "concat", numClasses: C });
  const { params, state } = model.init(11);
  const inputs = inputsFor(model, 2);
  tf.tidy(() => {
    const visual = model.encoders[1];
    const both = visual.forward(params, state, inputs.visual, { training: false });
    // Each frame alone, as a 1-frame clip: same encoder weights, same eval-mode BN.
    const frame = (t: number) =>
      tf.slice(inputs.visual, [0, t, 0, 0, 0], [B, 1, 16, 16, 3]).reshape([B, 16, 16, 3]);
    const single = buildModel({
      modalities: [AUDIO, { ...VISUAL, input: [16, 16, 3] }],
      fusion: "concat",
      numClasses: C,
    }).encoders[1];
    const mean = tf.div(
      tf.add(
        single.forward(params, state, frame(0), { training: false }),
        single.forward(params, state, frame(1), { training: false }),
      ),
      2,
    );
    assertClose(both.dataSync(), mean.dataSync(), 1e-5, "mean over frames");
  });
  disposeAll(params, state, inputs);
});

Deno.test("concat: q(y|x_k) is the fused head with the other features zeroed, which for a linear head equals the weight slice plus the FULL bias (Sec. 3.2.1)", async () => {
  for (const mods of [[VEC_A, VEC_B], [VEC_A, VEC_B, VEC_C]]) {
    const K = mods.length;
    for (const bias of ["full", "half", "1/K"] as const) {
      const model = buildModel({
        modalities: mods,
        fusion: { kind: "concat", unimodalBias: bias },
        numClasses: C,
      });
      const { params, state } = model.init(21);
      randomize(params, /bias$/, 100);
      const inputs = inputsFor(model, 9);
      const out = model.forward(params, state, inputs, { training: false });
      const dims = model.encoders.map((e) => e.dim);
      const total = dims.reduce((a, b) => a + b, 0);
      const W = await arr(params["fusion/head/kernel"]);
      const b = await arr(params["fusion/head/bias"]);
      const feats = await Promise.all(out.features.map(arr));
      const scale = bias === "full" ? 1 : bias === "half" ? 0.5 : 1 / K;
      let offset = 0;
      for (let k = 0; k < K; k++) {
        // Literally zero the others: a [B, total] matrix with only modality k's columns filled.
        const padded = new Float64Array(B * total);
        for (let i = 0; i < B; i++) {
          for (let j = 0; j < dims[k]; j++) {
            padded[i * total + offset + j] = feats[k][i * dims[k] + j];
          }
        }
        const zeroed = matmul(padded, W, B, total, C).map((v, idx) => v + b[idx % C]);
        // The weight slice W[offset : offset + d_k] plus the full bias.
        const slice = W.slice(offset * C, (offset + dims[k]) * C);
        const sliced = matmul(feats[k], slice, B, dims[k], C).map((v, idx) => v + b[idx % C]);
        assertClose(zeroed, sliced, 1e-6, "zero-the-others = slice + full bias");
        const expected = sliced.map((v, idx) => v - (1 - scale) * b[idx % C]);
        assertClose(await arr(out.unimodal[k]), expected, 1e-5, `${bias} K=${K} k=${k}`);
        offset += dims[k];
      }
      // The fused logits are the full head.
      const all = new Float64Array(B * total);
      for (let i = 0; i < B; i++) {
        let o = 0;
        for (let k = 0; k < K; k++) {
          for (let j = 0; j < dims[k]; j++) all[i * total + o + j] = feats[k][i * dims[k] + j];
          o += dims[k];
        }
      }
      assertClose(
        await arr(out.logits),
        matmul(all, W, B, total, C).map((v, idx) => v + b[idx % C]),
        1e-5,
        "fused",
      );
      disposeOut(out);
      disposeAll(params, state, inputs);
    }
  }
});

Deno.test("film: fused and uni-modal logits follow the chained FiLM with the other features zeroed; the bias flag scales only the head bias", async () => {
  for (const mods of [[VEC_A, VEC_B], [VEC_A, VEC_B, VEC_C]]) {
    for (const [bias, scale] of [["full", 1], ["half", 0.5]] as const) {
      const target = mods[1].name;
      const model = buildModel({
        modalities: mods,
        fusion: { kind: "affine", target, unimodalBias: bias, gammaOffset: 1 },
        numClasses: C,
      });
      const { params, state } = model.init(5);
      randomize(params, /bias$/, 200);
      const inputs = inputsFor(model, 4);
      const out = model.forward(params, state, inputs, { training: false });
      const K = mods.length;
      const dims = model.encoders.map((e) => e.dim);
      const feats = await Promise.all(out.features.map(arr));
      const t = 1;
      const dt = dims[t];
      const head = {
        W: await arr(params["fusion/head/kernel"]),
        b: await arr(params["fusion/head/bias"]),
      };
      const cond: Record<number, { G: Float32Array; g: Float32Array }> = {};
      for (let k = 0; k < K; k++) {
        if (k === t) continue;
        cond[k] = {
          G: await arr(params[`fusion/film/${mods[k].name}/kernel`]),
          g: await arr(params[`fusion/film/${mods[k].name}/bias`]),
        };
      }
      const manual = (fs: ArrayLike<number>[], s: number) => {
        let h = Float64Array.from(fs[t]);
        for (let k = 0; k < K; k++) {
          if (k === t) continue;
          const gb = matmul(fs[k], cond[k].G, B, dims[k], 2 * dt)
            .map((v, idx) => v + cond[k].g[idx % (2 * dt)]);
          h = h.map((v, idx) => {
            const i = Math.floor(idx / dt);
            const j = idx % dt;
            return (1 + gb[i * 2 * dt + j]) * v + gb[i * 2 * dt + dt + j];
          });
        }
        return matmul(h, head.W, B, dt, C).map((v, idx) => v + s * head.b[idx % C]);
      };
      assertClose(await arr(out.logits), manual(feats, 1), 1e-5, "fused");
      for (let k = 0; k < K; k++) {
        const zeroed = feats.map((f, j) => (j === k ? f : new Float32Array(f.length)));
        assertClose(await arr(out.unimodal[k]), manual(zeroed, scale), 1e-5, `${bias} k=${k}`);
      }
      disposeOut(out);
      disposeAll(params, state, inputs);
    }
  }
});

Deno.test("late / sum / weight: q(y|x_k) is the modality's own head; fused = mean, sum, log-mean-prob or attention-weighted sum", async () => {
  const mods = [VEC_A, VEC_B, VEC_C];
  const K = 3;
  for (
    const fusion of [
      { kind: "late" },
      { kind: "late", combine: "sum" },
      { kind: "late", combine: "prob-mean" },
      { kind: "sum" },
      { kind: "weight" },
      { kind: "weight", attention: "features" },
    ] as FusionSpec[]
  ) {
    const model = buildModel({ modalities: mods, fusion, numClasses: C });
    const { params, state } = model.init(8);
    randomize(params, /bias$|score$/, 300);
    const inputs = inputsFor(model, 6);
    const out = model.forward(params, state, inputs, { training: false });
    const feats = await Promise.all(out.features.map(arr));
    const z: Float64Array[] = [];
    for (let k = 0; k < K; k++) {
      const W = await arr(params[`${mods[k].name}/head/kernel`]);
      const b = await arr(params[`${mods[k].name}/head/bias`]);
      z.push(matmul(feats[k], W, B, model.encoders[k].dim, C).map((v, i) => v + b[i % C]));
      assertClose(await arr(out.unimodal[k]), z[k], 1e-5, `${fusion.kind} own head ${k}`);
    }
    let w: (i: number, k: number) => number = () => 1 / K;
    if (fusion.kind === "weight" && fusion.attention !== "features") {
      const s = await arr(params["fusion/attention/score"]);
      const e = Array.from(s, Math.exp);
      const sum = e.reduce((a, b) => a + b, 0);
      w = (_i, k) => e[k] / sum;
    } else if (fusion.kind === "weight") {
      const all = feats.flatMap((f, k) =>
        Array.from(
          { length: B },
          (_, i) => f.slice(i * model.encoders[k].dim, (i + 1) * model.encoders[k].dim),
        )
      );
      const concat = new Float64Array(B * 9);
      for (let i = 0; i < B; i++) {
        concat.set([...all[i], ...all[B + i], ...all[2 * B + i]], i * 9);
      }
      const A = await arr(params["fusion/attention/kernel"]);
      const a = await arr(params["fusion/attention/bias"]);
      const scores = matmul(concat, A, B, 9, K).map((v, i) => v + a[i % K]);
      w = (i, k) => {
        const e = [0, 1, 2].map((j) => Math.exp(scores[i * K + j]));
        return e[k] / (e[0] + e[1] + e[2]);
      };
    } else if (fusion.kind === "sum" || fusion.combine === "sum") {
      w = () => 1;
    }
    const expected = new Float64Array(B * C);
    for (let i = 0; i < B; i++) {
      if (fusion.kind === "late" && fusion.combine === "prob-mean") {
        for (let c = 0; c < C; c++) {
          let p = 0;
          for (let k = 0; k < K; k++) {
            const row = z[k].slice(i * C, (i + 1) * C);
            const lse = Math.log(row.reduce((acc, v) => acc + Math.exp(v), 0));
            p += Math.exp(row[c] - lse) / K;
          }
          expected[i * C + c] = Math.log(p);
        }
      } else {
        for (let c = 0; c < C; c++) {
          for (let k = 0; k < K; k++) expected[i * C + c] += w(i, k) * z[k][i * C + c];
        }
      }
    }
    assertClose(await arr(out.logits), expected, 1e-5, `${JSON.stringify(fusion)} fused`);
    disposeOut(out);
    disposeAll(params, state, inputs);
  }
});

Deno.test("gradients reach every trainable parameter (finite, not all zero) for every fusion, K = 3 (ResNet18 + Transformer + MLP)", async () => {
  for (const fusion of FUSIONS) {
    const model = buildModel({ modalities: [AUDIO, TEXT, VEC_A], fusion, numClasses: C });
    const { params, state } = model.init(13);
    const inputs = inputsFor(model, 7);
    const labels = tf.tensor1d([0, 1, 2, 1], "int32");
    const { value, grads } = variableGradsByName(params, () => {
      const out = model.forward(params, state, inputs, { training: true });
      return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, C), out.logits) as tf.Scalar;
    });
    assert(Number.isFinite((await value.data())[0]));
    assertEquals(Object.keys(grads).sort(), Object.keys(params).sort());
    for (const [name, g] of Object.entries(grads)) {
      assert(g, `${fusion.kind}: no gradient for ${name}`);
      const d = await arr(g);
      assert(d.every(Number.isFinite), `${fusion.kind}: non-finite gradient for ${name}`);
      assert(d.some((v) => v !== 0), `${fusion.kind}: all-zero gradient for ${name}`);
    }
    value.dispose();
    disposeAll(grads, params, state, inputs);
    labels.dispose();
  }
});

Deno.test("full-width ResNet18 (1-channel input): 11,160,640 conv-kernel parameters (11.17 M with BN); referenceResNetUnits selects 16 3x3 convs and 3,840 channels per encoder", () => {
  const model = buildModel({
    modalities: [
      { name: "audio", kind: "resnet18", input: [257, 299, 1] },
      { name: "visual", kind: "resnet18", input: [3, 224, 224, 1] },
    ],
    fusion: "concat",
    numClasses: 31,
  });
  const { params, state } = model.shapes();
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const count = (filter: (n: string, s: number[]) => boolean) =>
    Object.entries(params).filter(([n, { shape }]) => n.startsWith("audio/") && filter(n, shape))
      .reduce((acc, [, { shape }]) => acc + size(shape), 0);
  // Independent count: stem 7*7*1*64; 3x3 convs of layer1..4; 1x1 downsample convs of layer2..4.
  const w = [64, 128, 256, 512];
  let expected = 7 * 7 * 64;
  for (let l = 0; l < 4; l++) {
    const cin = l === 0 ? 64 : w[l - 1];
    expected += 9 * cin * w[l] + 3 * 9 * w[l] * w[l];
    if (l > 0) expected += cin * w[l];
  }
  assertEquals(expected, 11_160_640);
  assertEquals(count((_n, s) => s.length === 4), expected);
  const all = count(() => true);
  assertEquals(all, 11_170_240); // + 9,600 batch-norm gammas and betas
  assertEquals((all / 1e6).toFixed(2), "11.17");
  assertEquals(Object.keys(state).filter((n) => n.startsWith("audio/")).length, 2 * 20);

  const plan = planMasks(params, model.unitRules("reference"));
  for (const m of ["audio", "visual"]) {
    const groups = plan.groups.filter((g) => g.modality === m);
    assertEquals(groups.length, 16);
    assertEquals(groups.reduce((a, g) => a + g.units, 0), 3840);
    for (const g of groups) {
      assert(/\/layer[1-4]\/[01]\/conv[12]\/kernel$/.test(g.id), g.id);
      assertEquals(g.members[0].spec, { kind: "channel" });
    }
  }
  assert(plan.unmasked.includes("audio/stem/conv/kernel"));
  assert(plan.unmasked.includes("audio/layer2/0/downsample/conv/kernel"));
  assert(plan.unmasked.includes("fusion/head/kernel"));

  // The narrow model's real variables have exactly the declared shapes.
  const narrow = buildModel({ modalities: [AUDIO, VISUAL], fusion: "late", numClasses: C });
  const real = narrow.init(1);
  const declared = narrow.shapes();
  assertEquals(
    Object.fromEntries(Object.entries(real.params).map(([n, v]) => [n, { shape: v.shape }])),
    declared.params,
  );
  assertEquals(Object.keys(real.state).sort(), Object.keys(declared.state).sort());
  for (const v of Object.values(real.params)) assert(v.trainable);
  for (const v of Object.values(real.state)) assert(!v.trainable);
  disposeAll(real.params, real.state);
});

Deno.test("transformer heads are AMSS units: Q, K, V and output projection of a layer form one group of 4 members with C_l = heads (App. C.2)", () => {
  const model = buildModel({
    modalities: [
      { ...TEXT, options: { dModel: 12, heads: 3, layers: 2 } },
      { ...TEXT, name: "text2", options: { dModel: 8, heads: 2, headDim: 3, layers: 1 } },
    ],
    fusion: "concat",
    numClasses: C,
  });
  const { params } = model.shapes();
  for (const kind of ["paper", "reference"] as const) {
    const plan = planMasks(params, model.unitRules(kind));
    const heads = plan.groups.filter((g) => g.id.endsWith("/attn"));
    assertEquals(heads.map((g) => g.id).sort(), [
      "text/block0/attn",
      "text/block1/attn",
      "text2/block0/attn",
    ]);
    for (const g of heads) {
      assertEquals(g.members.length, 4);
      assertEquals(g.units, g.modality === "text" ? 3 : 2);
      const byMatrix = Object.fromEntries(g.members.map((m) => [m.name.split("/").at(-2), m.spec]));
      assertEquals(Object.keys(byMatrix).sort(), ["key", "out", "query", "value"]);
      assertEquals(byMatrix.query, { kind: "heads", heads: g.units, axis: 1 });
      assertEquals(byMatrix.out, { kind: "heads", heads: g.units, axis: 0 });
    }
    // Everything else of the encoders is element-wise; the fusion head is never masked.
    assert(plan.groups.some((g) => g.id === "text/block0/ffn/0/kernel"));
    assert(plan.unmasked.every((n) => n.startsWith("fusion/")));
  }
});

Deno.test("AMSS scope (App. C.2): late/sum/weight heads belong to their modality ('paper' masks them element-wise, 'reference' leaves them); concat/FiLM heads never", () => {
  for (const kind of ["late", "sum", "weight", "concat", "film"] as const) {
    const model = buildModel({ modalities: [AUDIO, VEC_A], fusion: kind, numClasses: C });
    const { params } = model.shapes();
    const rules = model.unitRules("paper");
    const names = Object.keys(params);
    const heads = names.filter((n) => /^(audio|a)\/head\//.test(n));
    assertEquals(heads.length, ["late", "sum", "weight"].includes(kind) ? 4 : 0, kind);
    for (const n of heads) {
      assertEquals(rules.modalityOf(n, params[n].shape), n.split("/")[0]);
      assertEquals(rules.unitOf(n, params[n].shape), { kind: "element" });
      assertEquals(model.unitRules("reference").unitOf(n, params[n].shape), null);
    }
    for (const n of names.filter((n) => n.startsWith("fusion/"))) {
      assertEquals(rules.modalityOf(n, params[n].shape), null, n);
    }
    const plan = planMasks(params, model.unitRules("paper"));
    assertEquals(plan.modalities, ["audio", "a"]);
    assertEquals(
      plan.groups.find((g) => g.id === "audio/stem/conv/kernel")?.members[0].spec,
      { kind: "channel" },
    );
  }
  assertEquals(modalityByPrefix(["audio"])("audio/head/kernel"), "audio");
});

Deno.test("batch norm: training mode normalises with batch statistics and moves the running mean and unbiased variance with momentum 0.1; eval mode uses the running statistics", async () => {
  const x = tf.tensor2d([[1, -2, 0.5], [3, 0, 1.5], [-1, 4, 2], [0, 1, -3], [2, 2, 0]]);
  const xs = await arr(x);
  const params: Params = {
    "bn/gamma": tf.variable(tf.tensor1d([1.5, 0.5, -1])),
    "bn/beta": tf.variable(tf.tensor1d([0.1, -0.2, 0.3])),
  };
  const state: State = {
    "bn/running_mean": tf.variable(tf.tensor1d([0.2, -0.1, 0]), false),
    "bn/running_var": tf.variable(tf.tensor1d([1, 2, 0.5]), false),
  };
  const g = await arr(params["bn/gamma"]);
  const b = await arr(params["bn/beta"]);
  const rm0 = Array.from(await arr(state["bn/running_mean"]));
  const rv0 = Array.from(await arr(state["bn/running_var"]));
  const n = 5;
  const eps = 1e-5;
  const col = (c: number) => Array.from({ length: n }, (_, i) => xs[i * 3 + c]);
  const mean = [0, 1, 2].map((c) => col(c).reduce((a, v) => a + v, 0) / n);
  const varB = [0, 1, 2].map((c) => col(c).reduce((a, v) => a + (v - mean[c]) ** 2, 0) / n);
  const cfg = { eps, momentum: 0.1 };

  const yTrain = tf.tidy(() => batchNorm(x, params, state, "bn", { training: true }, cfg));
  assertClose(
    await arr(yTrain),
    Array.from(
      xs,
      (v, i) => (v - mean[i % 3]) / Math.sqrt(varB[i % 3] + eps) * g[i % 3] + b[i % 3],
    ),
    1e-5,
    "train output",
  );
  const rm = [0, 1, 2].map((c) => 0.9 * rm0[c] + 0.1 * mean[c]);
  const rv = [0, 1, 2].map((c) => 0.9 * rv0[c] + 0.1 * varB[c] * n / (n - 1));
  assertClose(await arr(state["bn/running_mean"]), rm, 1e-6, "running mean");
  assertClose(await arr(state["bn/running_var"]), rv, 1e-6, "running var");

  const yEval = tf.tidy(() => batchNorm(x, params, state, "bn", { training: false }, cfg));
  assertClose(
    await arr(yEval),
    Array.from(xs, (v, i) => (v - rm[i % 3]) / Math.sqrt(rv[i % 3] + eps) * g[i % 3] + b[i % 3]),
    1e-5,
    "eval output",
  );
  assertClose(await arr(state["bn/running_mean"]), rm, 1e-6, "eval leaves the running mean");
  tf.tidy(() => batchNorm(x, params, state, "bn", { training: true, updateStats: false }, cfg))
    .dispose();
  assertClose(await arr(state["bn/running_var"]), rv, 1e-6, "updateStats: false leaves them");
  assertThrows(
    () => batchNorm(tf.zeros([1, 3]), params, state, "bn", { training: true }, cfg),
    Error,
    "more than 1 value per channel",
  );
  disposeAll(params, state, { x, yTrain, yEval });
});

Deno.test("ResNet18 batch norm in a model: a training pass updates every running statistic, eval output of a sample does not depend on the rest of the batch", async () => {
  const model = buildModel({ modalities: [AUDIO, VISUAL], fusion: "concat", numClasses: C });
  const { params, state } = model.init(4);
  const inputs = inputsFor(model, 3);
  const before = await Promise.all(Object.values(state).map(arr));
  tf.tidy(() => {
    model.forward(params, state, inputs, { training: true, updateStats: false });
  });
  const same = await Promise.all(Object.values(state).map(arr));
  same.forEach((s, i) => assertEquals(Array.from(s), Array.from(before[i])));
  tf.tidy(() => {
    model.forward(params, state, inputs, { training: true });
  });
  const after = await Promise.all(Object.values(state).map(arr));
  after.forEach((s, i) => {
    assertNotEquals(Array.from(s), Array.from(before[i]), Object.keys(state)[i]);
  });
  const first = (batchSize: number, training: boolean) =>
    tf.tidy(() => {
      const sub = Object.fromEntries(
        Object.entries(inputs).map((
          [m, t],
        ) => [m, tf.slice(t, 0, batchSize)]),
      );
      return model.forward(params, state, sub, { training, updateStats: false }).logits.slice(0, 1);
    });
  const [e1, e4, t2, t4] = [first(1, false), first(4, false), first(2, true), first(4, true)];
  assertClose(await arr(e1), await arr(e4), 1e-5, "eval: per-sample");
  const t2d = await arr(t2);
  const t4d = await arr(t4);
  assert(t2d.some((v, i) => Math.abs(v - t4d[i]) > 1e-4), "training mode uses batch statistics");
  tf.dispose([e1, e4, t2, t4]);
  disposeAll(params, state, inputs);
});

Deno.test("forward inside tf.tidy leaves no tensors behind (training and eval); gradients leave only what the caller disposes", () => {
  const model = buildModel({ modalities: [AUDIO, VISUAL, TEXT], fusion: "film", numClasses: C });
  const { params, state } = model.init(2);
  const inputs = inputsFor(model, 1);
  for (const training of [true, false]) {
    const n0 = tf.memory().numTensors;
    tf.tidy(() => {
      model.forward(params, state, inputs, { training });
    });
    assertEquals(tf.memory().numTensors, n0, `training=${training}`);
  }
  const n0 = tf.memory().numTensors;
  const labels = tf.tensor1d([0, 1, 2, 0], "int32");
  const { value, grads } = variableGradsByName(params, () => {
    const out = model.forward(params, state, inputs, { training: true });
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, C), out.logits) as tf.Scalar;
  });
  value.dispose();
  labels.dispose();
  disposeAll(grads);
  assertEquals(tf.memory().numTensors, n0, "variableGradsByName");
  disposeAll(params, state, inputs);
});

Deno.test("init is reproducible from the seed, seeds differ per variable and are never 0, and a modality's initial weights do not depend on the other modalities", async () => {
  const model = buildModel({ modalities: [AUDIO, TEXT], fusion: "late", numClasses: C });
  const a = model.init(42);
  const b = model.init(42);
  const c = model.init(43);
  let differs = 0;
  for (const name of Object.keys(a.params)) {
    const [va, vb, vc] = await Promise.all([a.params, b.params, c.params].map((p) => arr(p[name])));
    assertEquals(Array.from(va), Array.from(vb), name);
    if (va.some((v, i) => v !== vc[i])) differs++;
  }
  // Every randomly initialised variable differs between seeds (constants do not).
  const random = Object.keys(a.params).filter((n) => /kernel|position/.test(n)).length;
  assertEquals(differs, random);
  const other = buildModel({ modalities: [AUDIO, VEC_A], fusion: "concat", numClasses: C }).init(
    42,
  );
  for (const name of Object.keys(other.params).filter((n) => n.startsWith("audio/"))) {
    assertEquals(Array.from(await arr(a.params[name])), Array.from(await arr(other.params[name])));
  }
  const seeds = new Set<number>();
  for (const seed of [0, 1, -5, 123456789]) {
    for (const name of Object.keys(a.params)) {
      const s = variableSeed(seed, name);
      assert(Number.isInteger(s) && s >= 1 && s < 2 ** 31, `${seed} ${name}: ${s}`);
      seeds.add(s);
    }
  }
  assertGreater(seeds.size, 4 * Object.keys(a.params).length - 3);
  for (const v of [a, b, c, other]) disposeAll(v.params, v.state);
});

Deno.test("modalBatchFromOutputs downloads uni-modal logits and features into a ModalBatch the significance estimators accept", async () => {
  const model = buildModel({ modalities: [VEC_A, VEC_B, VEC_C], fusion: "concat", numClasses: C });
  const { params, state } = model.init(6);
  const inputs = inputsFor(model, 8);
  const out = model.forward(params, state, inputs, { training: false });
  const labels = tf.tensor1d([2, 0, 1, 1], "int32");
  const batch = await modalBatchFromOutputs(out, labels, C);
  assertEquals(Array.from(batch.labels), [2, 0, 1, 1]);
  assertEquals(batch.numClasses, C);
  assertEquals(batch.predictionKind, "logits");
  assertEquals(batch.predictions.length, 3);
  for (let k = 0; k < 3; k++) {
    assertEquals(Array.from(batch.predictions[k]), Array.from(await arr(out.unimodal[k])));
    assertEquals(batch.features![k].dim, model.encoders[k].dim);
    assertEquals(batch.features![k].data.length, B * model.encoders[k].dim);
  }
  const fromArray = await modalBatchFromOutputs(out, [2, 0, 1, 1], C);
  assertEquals(Array.from(fromArray.labels), [2, 0, 1, 1]);
  const { result } = paperSignificance(batch, { u: null, steps: 0 }, { tau: 0.5 });
  assertEquals(result.ratios.length, 3);
  assertAlmostEquals(result.ratios.reduce((a, v) => a + v, 0), 2, 1e-9);
  await assertRejects(() => modalBatchFromOutputs(out, [0, 1], C), Error, "labels has 2 entries");
  await assertRejects(() => modalBatchFromOutputs(out, labels, 4), Error, "unimodal[0]");
  disposeOut(out);
  labels.dispose();
  disposeAll(params, state, inputs);
});

Deno.test("buildModel and forward reject bad specs and inputs with errors that name the field", () => {
  const ok = { modalities: [VEC_A, VEC_B], fusion: "concat" as const, numClasses: C };
  const cases: [unknown, string][] = [
    [{ ...ok, numClasses: 1 }, "spec.numClasses"],
    [{ ...ok, modalities: [] }, "spec.modalities"],
    [{ ...ok, extra: 1 }, "spec.extra"],
    [{ ...ok, modalities: [VEC_A, { ...VEC_B, name: "a" }] }, "spec.modalities[1].name"],
    [{ ...ok, modalities: [VEC_A, { ...VEC_B, name: "fusion" }] }, "spec.modalities[1].name"],
    [{ ...ok, modalities: [VEC_A, { ...VEC_B, name: "x/y" }] }, "spec.modalities[1].name"],
    [{ ...ok, modalities: [VEC_A, { ...VEC_B, kind: "cnn" }] }, "spec.modalities[1].kind"],
    [{ ...ok, modalities: [{ ...AUDIO, input: [16, 16] }, VEC_B] }, "spec.modalities[0].input"],
    [{ ...ok, modalities: [{ ...VEC_A, input: [0] }, VEC_B] }, "spec.modalities[0].input"],
    [
      { ...ok, modalities: [{ ...AUDIO, options: { widths: [1, 2] } }, VEC_B] },
      "spec.modalities[0].options.widths",
    ],
    [
      { ...ok, modalities: [{ ...AUDIO, options: { width: 3 } }, VEC_B] },
      "spec.modalities[0].options.width",
    ],
    [
      { ...ok, modalities: [{ ...TEXT, options: { dModel: 10, heads: 3 } }, VEC_B] },
      "spec.modalities[0].options: dModel 10",
    ],
    [{ ...ok, fusion: "gated" }, "spec.fusion.kind"],
    [{ ...ok, fusion: { kind: "concat", unimodalBias: "quarter" } }, "spec.fusion.unimodalBias"],
    [{ ...ok, fusion: { kind: "late", unimodalBias: "half" } }, "spec.fusion.unimodalBias"],
    [{ ...ok, fusion: { kind: "film", target: "z" } }, "spec.fusion.target"],
    [{ ...ok, fusion: { kind: "late", combine: "max" } }, "spec.fusion.combine"],
    [{ ...ok, modalities: [VEC_A], fusion: "film" }, "film fusion needs at least 2"],
  ];
  for (const [spec, field] of cases) {
    assertThrows(
      () => buildModel(spec as Parameters<typeof buildModel>[0]),
      ModelSpecError,
      field,
    );
  }
  const model = buildModel(ok);
  const { params, state } = model.init(1);
  assertThrows(
    () => model.forward(params, state, { a: tf.zeros([2, 5]) }, { training: false }),
    Error,
    "inputs.b is missing",
  );
  assertThrows(
    () =>
      model.forward(params, state, { a: tf.zeros([2, 4]), b: tf.zeros([2, 3]) }, {
        training: false,
      }),
    Error,
    "inputs.a: expected shape [B, 5], got [2, 4]",
  );
  assertThrows(
    () =>
      model.forward(params, state, { a: tf.zeros([2, 5], "int32"), b: tf.zeros([2, 3]) }, {
        training: false,
      }),
    Error,
    "inputs.a: expected float32, got int32",
  );
  assertThrows(() => model.init(NaN), Error, "seed");
  // K = 1 (the paper's uni-modal baselines) builds and runs; AMSS plans need K >= 2.
  const single = buildModel({ modalities: [VEC_A], fusion: "late", numClasses: C });
  const one = single.init(1);
  tf.tidy(() => {
    const out = single.forward(one.params, one.state, { a: tf.zeros([2, 5]) }, { training: false });
    assertEquals(out.logits.shape, [2, C]);
    assertEquals(out.unimodal.length, 1);
  });
  assertThrows(() => planMasks(one.params, single.unitRules("paper")), Error, "at least 2");
  disposeAll(one.params, one.state);
  disposeAll(params, state);
});
