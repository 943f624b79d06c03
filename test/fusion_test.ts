/**
 * The hybrid and recurrent fusions: MMTM ("Channel", Joze et al. 2020) between ResNet18 streams
 * through the encoders' staged API, and the multi-layer LSTM fusion ("ML-LSTM"), checked against
 * hand computations; their spec validation, AMSS scope, describe() and tensor hygiene.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { planMasks } from "../src/amss/groups.ts";
import { initBackend } from "../src/backend/select.ts";
import type { Params } from "../src/transform.ts";
import {
  buildModel,
  isResNet18,
  mlpEncoder,
  mmtmFusion,
  type Model,
  ModelSpecError,
  type ResNet18Encoder,
  variableGradsByName,
} from "../src/models/mod.ts";
import { lstmCell } from "../src/models/layers.ts";
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

await initBackend("cpu");

const C = 3;
const B = 4;

/** Two tiny ResNet18 streams (widths [2, 2, 2, 2], 16x16): a spectrogram and 2-frame clips. */
const AUDIO = tinyAudio([2, 2, 2, 2]);
const VISUAL = tinyVisual([2, 2, 2, 2]);

const inputsFor = (model: Model, seed: number, batch = B) => sharedInputs(model, seed, batch);

/** `x W + b` row by row. */
function affine(x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number>, n: number) {
  const m = x.length / n;
  const p = b.length;
  return matmul(x, W, n, m, p).map((v, i) => v + b[i % p]);
}

/** Sets every parameter matching `re` to a constant. */
function fill(params: Params, re: RegExp, value: number): void {
  for (const [name, v] of Object.entries(params)) {
    if (re.test(name)) tf.tidy(() => v.assign(tf.fill(v.shape, value)));
  }
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

// ---------------------------------------------------------------------------------------------
// ResNet18 staged API

Deno.test("ResNet18 staged API: pool(stage4(..stage1(stem(x)))) equals forward (image and frames, T != inputShape T); stage shapes halve H, W", async () => {
  const model = buildModel({ modalities: [AUDIO, VISUAL], fusion: "concat", numClasses: C });
  const { params, state } = model.init(3);
  const inputs = {
    audio: tf.randomNormal([B, 16, 16, 1], 0, 1, "float32", 1),
    visual: tf.randomNormal([B, 3, 16, 16, 3], 0, 1, "float32", 2), // 3 frames, spec says 2
  };
  for (const e of model.encoders) {
    assert(isResNet18(e));
    const enc = e as ResNet18Encoder;
    const T = enc.modality === "visual" ? 3 : 1;
    for (const training of [false, true]) {
      const opts = { training, updateStats: false };
      const [plain, staged, shapes] = tf.tidy(() => {
        const x = inputs[enc.modality as "audio" | "visual"];
        let a = enc.stem(params, state, x, opts);
        const seen = [a.h.shape];
        for (let layer = 1; layer <= 4; layer++) {
          a = enc.stage(layer, params, state, a, opts);
          seen.push(a.h.shape);
        }
        assertEquals([a.batch, a.frames], [B, T]);
        return [enc.forward(params, state, x, opts), enc.pool(a), seen] as const;
      });
      // 16 -> stem conv /2 -> 8 -> max pool /2 -> 4 -> layer2..4 /2 (floor at 1)
      assertEquals(shapes, [[B * T, 4, 4, 2], [B * T, 4, 4, 2], [B * T, 2, 2, 2], [
        B * T,
        1,
        1,
        2,
      ], [B * T, 1, 1, 2]]);
      assertEquals(Array.from(await arr(staged)), Array.from(await arr(plain)));
      tf.dispose([plain, staged]);
    }
    assertThrows(
      () =>
        enc.stage(5, params, state, { h: tf.zeros([1, 1, 1, 2]), batch: 1, frames: 1 }, {
          training: false,
        }),
      Error,
      "stage must be 1..4",
    );
  }
  assert(!isResNet18(mlpEncoder("v", [3])));
  disposeAll(params, state, inputs);
});

// ---------------------------------------------------------------------------------------------
// MMTM

Deno.test("mmtm: shapes, parameter names and bottleneck sizes (C_Z = floor(sum C_k / ratio)); describe()", () => {
  const model = buildModel({ modalities: [AUDIO, VISUAL], fusion: "mmtm", numClasses: C });
  const { params } = model.shapes();
  const fusion = Object.entries(params).filter(([n]) => n.startsWith("fusion/"))
    .map(([n, { shape }]) => [n, shape]);
  const expected: [string, number[]][] = [];
  for (const s of [2, 3, 4]) {
    // sum C_k = 2 + 2 = 4; 4 / 4 = 1 unit
    expected.push([`fusion/mmtm/stage${s}/squeeze/kernel`, [4, 1]]);
    expected.push([`fusion/mmtm/stage${s}/squeeze/bias`, [1]]);
    for (const m of ["audio", "visual"]) {
      expected.push([`fusion/mmtm/stage${s}/excite/${m}/kernel`, [1, 2]]);
      expected.push([`fusion/mmtm/stage${s}/excite/${m}/bias`, [2]]);
    }
  }
  expected.push(["fusion/head/kernel", [4, C]], ["fusion/head/bias", [C]]);
  assertEquals(fusion, expected);

  const wide = buildModel({
    modalities: [
      { ...AUDIO, options: { widths: [4, 8, 16, 32] } },
      { ...VISUAL, options: { widths: [4, 8, 16, 24] } },
    ],
    fusion: { kind: "mmtm", stages: [4, 1], ratio: 2 },
    numClasses: C,
  });
  const wp = wide.shapes().params;
  assertEquals(wp["fusion/mmtm/stage1/squeeze/kernel"].shape, [8, 4]);
  assertEquals(wp["fusion/mmtm/stage4/squeeze/kernel"].shape, [56, 28]);
  assertEquals(wp["fusion/mmtm/stage4/excite/visual/kernel"].shape, [28, 24]);
  assert(!("fusion/mmtm/stage2/squeeze/kernel" in wp));
  const d = wide.describe();
  assertEquals(d.fusion, {
    kind: "mmtm",
    stages: [1, 4],
    ratio: 2,
    bottleneck: [4, 28],
    gate: "2*sigmoid",
    unimodalBias: "full",
  });
  assertEquals(d.modalities.map((m) => [m.name, m.kind, m.dim]), [
    ["audio", "resnet18", 32],
    ["visual", "resnet18", 24],
  ]);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  assertEquals(d.parameters, Object.values(wp).reduce((a, { shape }) => a + size(shape), 0));

  const real = model.init(1);
  const inputs = inputsFor(model, 4);
  tf.tidy(() => {
    const out = model.forward(real.params, real.state, inputs, { training: true });
    assertEquals(out.logits.shape, [B, C]);
    assertEquals(out.unimodal.map((u) => u.shape), [[B, C], [B, C]]);
    assertEquals(out.features.map((f) => f.shape), [[B, 2], [B, 2]]);
  });
  disposeAll(real.params, real.state, inputs);
});

Deno.test("mmtm with every gate exactly 1 (excitation weights and biases 0: 2 sigmoid(0) = 1) gives the concat model's logits, uni-modal logits and features; random excitation changes them", async () => {
  const mmtm = buildModel({ modalities: [AUDIO, VISUAL], fusion: "mmtm", numClasses: C });
  const concat = buildModel({ modalities: [AUDIO, VISUAL], fusion: "concat", numClasses: C });
  const { params, state } = mmtm.init(9);
  randomize(params, /^fusion\/head\/bias$/, 50);
  fill(params, /^fusion\/mmtm\/.*\/excite\//, 0);
  randomize(params, /^fusion\/mmtm\/.*\/squeeze\//, 60); // irrelevant once the gates are 1
  const inputs = inputsFor(mmtm, 8);
  const run = async (model: Model, training: boolean) => {
    // the concat model reads the encoder and head parameters out of the same map
    const out = model.forward(params, state, inputs, { training, updateStats: false });
    const data = await Promise.all([out.logits, ...out.unimodal, ...out.features].map(arr));
    disposeOut(out);
    return data;
  };
  for (const training of [false, true]) {
    const a = await run(mmtm, training);
    const b = await run(concat, training);
    a.forEach((v, i) => assertEquals(Array.from(v), Array.from(b[i]), `training=${training} ${i}`));
  }
  randomize(params, /^fusion\/mmtm\/.*\/excite\//, 70);
  const a = await run(mmtm, false);
  const b = await run(concat, false);
  assert(a[0].some((v, i) => Math.abs(v - b[0][i]) > 1e-4), "the gates act");
  disposeAll(params, state, inputs);
});

Deno.test("mmtm after layer4 matches a hand computation: squeeze = mean over T, H, W; Z = ReLU(S W + w); features_k = 2 sigmoid(Z W_k + w_k) * plain features_k; uni-modal = concat head with the other features zeroed", async () => {
  const mmtm = buildModel({
    modalities: [AUDIO, { ...VISUAL, options: { widths: [2, 2, 2, 3] } }],
    fusion: { kind: "mmtm", stages: [4], ratio: 2 },
    numClasses: C,
  });
  const concat = buildModel({
    modalities: [AUDIO, { ...VISUAL, options: { widths: [2, 2, 2, 3] } }],
    fusion: "concat",
    numClasses: C,
  });
  const { params, state } = mmtm.init(12);
  randomize(params, /^fusion\//, 80, 0.8);
  // a joint-code bias that puts the two units' pre-activations on both sides of 0
  tf.tidy(() => params["fusion/mmtm/stage4/squeeze/bias"].assign(tf.tensor1d([0.5, -2])));
  const inputs = inputsFor(mmtm, 2);
  const opts = { training: false };
  const out = mmtm.forward(params, state, inputs, opts);
  const plain = concat.forward(params, state, inputs, opts);
  // layer4's map pools to the plain features, so those are the squeezed S_k (T frames included)
  const S = await Promise.all(plain.features.map(arr));
  const P = async (n: string) => await arr(params[`fusion/mmtm/stage4/${n}`]);
  const dims = [2, 3];
  const cz = Math.floor(5 / 2);
  const joint = new Float64Array(B * 5);
  for (let i = 0; i < B; i++) {
    joint.set([...S[0].slice(i * 2, i * 2 + 2), ...S[1].slice(i * 3, i * 3 + 3)], i * 5);
  }
  const pre = affine(joint, await P("squeeze/kernel"), await P("squeeze/bias"), B);
  assertEquals(pre.length, B * cz);
  // both signs occur, so the ReLU matters in this check
  assert(pre.some((v) => v < -1e-3) && pre.some((v) => v > 1e-3), `pre-activations ${pre}`);
  const Z = pre.map((v) => Math.max(0, v));
  const feats: Float64Array[] = [];
  for (const [k, m] of ["audio", "visual"].entries()) {
    const E = affine(Z, await P(`excite/${m}/kernel`), await P(`excite/${m}/bias`), B);
    feats.push(E.map((e, idx) => 2 * sigmoid(e) * S[k][idx]));
    assertClose(await arr(out.features[k]), feats[k], 1e-5, `features ${m}`);
  }
  const W = await arr(params["fusion/head/kernel"]);
  const b = await arr(params["fusion/head/bias"]);
  const cat = (fs: ArrayLike<number>[]) => {
    const x = new Float64Array(B * 5);
    for (let i = 0; i < B; i++) {
      x.set([
        ...Array.from(fs[0]).slice(i * 2, i * 2 + 2),
        ...Array.from(fs[1]).slice(i * 3, i * 3 + 3),
      ], i * 5);
    }
    return affine(x, W, b, B);
  };
  assertClose(await arr(out.logits), cat(feats), 1e-5, "fused");
  for (let k = 0; k < 2; k++) {
    const zeroed = feats.map((f, j) => (j === k ? f : new Float64Array(B * dims[j])));
    assertClose(await arr(out.unimodal[k]), cat(zeroed), 1e-5, `uni-modal ${k}`);
  }
  disposeOut(out);
  disposeOut(plain);
  disposeAll(params, state, inputs);
});

Deno.test("mmtm: gradients reach both streams and every fusion/ parameter; forward + grad inside tf.tidy leaves no tensors", async () => {
  const model = buildModel({ modalities: [AUDIO, VISUAL], fusion: "mmtm", numClasses: C });
  const { params, state } = model.init(5);
  const inputs = inputsFor(model, 3);
  const labels = tf.tensor1d([0, 1, 2, 1], "int32");
  const n0 = tf.memory().numTensors;
  const grads = tf.tidy(() => {
    const { value, grads } = variableGradsByName(params, () => {
      const out = model.forward(params, state, inputs, { training: true });
      return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, C), out.logits) as tf.Scalar;
    });
    assert(Number.isFinite(value.dataSync()[0]));
    return grads;
  });
  const names = Object.keys(params);
  assertEquals(tf.memory().numTensors, n0 + names.length, "only the returned gradients remain");
  for (const name of names) {
    const d = await arr(grads[name]);
    assert(d.every(Number.isFinite), `non-finite gradient for ${name}`);
    assert(d.some((v) => v !== 0), `all-zero gradient for ${name}`);
  }
  for (const prefix of ["audio/", "visual/", "fusion/mmtm/stage2/", "fusion/mmtm/stage4/"]) {
    assert(names.some((n) => n.startsWith(prefix)), prefix);
  }
  disposeAll(grads);
  assertEquals(tf.memory().numTensors, n0);
  labels.dispose();
  disposeAll(params, state, inputs);
});

// ---------------------------------------------------------------------------------------------
// ML-LSTM

Deno.test("lstmCell: one step on tiny numbers equals the hand-computed cell (gates i, f, g, o)", async () => {
  // d = 1: z = x W + h U + b = [-0.05, 0.78, 0.29, 0.04];
  // c' = sigmoid(0.78) 0.3 + sigmoid(-0.05) tanh(0.29) = 0.34324549;
  // h' = sigmoid(0.04) tanh(c') = 0.16848915
  const [h, c] = tf.tidy(() => {
    const next = lstmCell(
      tf.tensor2d([[0.5]]),
      { h: tf.tensor2d([[-0.2]]), c: tf.tensor2d([[0.3]]) },
      tf.tensor2d([[0.1, -0.2, 0.3, 0.4]]),
      tf.tensor2d([[0.5, 0.6, -0.7, 0.8]]),
      tf.tensor1d([0, 1, 0, 0]),
    );
    return [next.h, next.c];
  });
  assertAlmostEquals((await arr(c))[0], 0.3432454899003624, 1e-6);
  assertAlmostEquals((await arr(h))[0], 0.16848915071516748, 1e-6);
  tf.dispose([h, c]);
});

/** Float64 reference of the ML-LSTM fusion on host arrays. */
function lstmReference(
  xs: Float64Array[],
  layers: { W: Float32Array; U: Float32Array; b: Float32Array }[],
  d: number,
): Float64Array {
  let seq = xs;
  for (const { W, U, b } of layers) {
    let h = new Float64Array(B * d);
    let c = new Float64Array(B * d);
    const out: Float64Array[] = [];
    for (const x of seq) {
      const zx = matmul(x, W, B, x.length / B, 4 * d);
      const zh = matmul(h, U, B, d, 4 * d);
      const h2 = new Float64Array(B * d);
      const c2 = new Float64Array(B * d);
      for (let i = 0; i < B; i++) {
        for (let j = 0; j < d; j++) {
          const z = (g: number) =>
            zx[i * 4 * d + g * d + j] + zh[i * 4 * d + g * d + j] + b[g * d + j];
          c2[i * d + j] = sigmoid(z(1)) * c[i * d + j] + sigmoid(z(0)) * Math.tanh(z(2));
          h2[i * d + j] = sigmoid(z(3)) * Math.tanh(c2[i * d + j]);
        }
      }
      h = h2;
      c = c2;
      out.push(h);
    }
    seq = out;
  }
  return seq[seq.length - 1];
}

Deno.test("ml-lstm (K = 3, 2 layers): fused and uni-modal logits match a float64 LSTM over the projected features (others' projections zeroed); forget bias starts at 1; shapes", async () => {
  const mods = [VEC_A, VEC_B, VEC_C];
  const model = buildModel({
    modalities: mods,
    fusion: { kind: "ml-lstm", layers: 2, hidden: 5 },
    numClasses: C,
  });
  const { params, state } = model.init(4);
  assertEquals(
    Array.from(await arr(params["fusion/lstm/layer0/bias"])),
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  );
  assertEquals(params["fusion/lstm/layer1/recurrent"].shape, [5, 20]);
  assertEquals(params["fusion/lstm/proj/b/kernel"].shape, [3, 5]);
  randomize(params, /^fusion\/.*bias$/, 90);
  const inputs = inputsFor(model, 6);
  const out = model.forward(params, state, inputs, { training: false });
  assertEquals(out.logits.shape, [B, C]);
  assertEquals(out.unimodal.map((u) => u.shape), [[B, C], [B, C], [B, C]]);
  const d = 5;
  const feats = await Promise.all(out.features.map(arr));
  const xs: Float64Array[] = [];
  for (const [k, m] of mods.entries()) {
    xs.push(
      affine(
        feats[k],
        await arr(params[`fusion/lstm/proj/${m.name}/kernel`]),
        await arr(params[`fusion/lstm/proj/${m.name}/bias`]),
        B,
      ),
    );
  }
  const layers: { W: Float32Array; U: Float32Array; b: Float32Array }[] = [];
  for (const l of [0, 1]) {
    layers.push({
      W: await arr(params[`fusion/lstm/layer${l}/kernel`]),
      U: await arr(params[`fusion/lstm/layer${l}/recurrent`]),
      b: await arr(params[`fusion/lstm/layer${l}/bias`]),
    });
  }
  const W = await arr(params["fusion/head/kernel"]);
  const b = await arr(params["fusion/head/bias"]);
  const logits = (seq: Float64Array[]) => affine(lstmReference(seq, layers, d), W, b, B);
  const fused = logits(xs);
  assertClose(await arr(out.logits), fused, 1e-5, "fused");
  for (let k = 0; k < 3; k++) {
    const zeroed = xs.map((x, j) => (j === k ? x : new Float64Array(x.length)));
    const uni = await arr(out.unimodal[k]);
    assertClose(uni, logits(zeroed), 1e-5, `uni-modal ${k}`);
    assert(uni.some((v, i) => Math.abs(v - fused[i]) > 1e-3), `uni-modal ${k} differs from fused`);
  }
  assertEquals(model.describe().fusion, { kind: "ml-lstm", layers: 2, hidden: 5 });
  // default width: the largest feature dimension
  const dflt = buildModel({ modalities: mods, fusion: "ml-lstm", numClasses: C });
  assertEquals(dflt.describe().fusion, { kind: "ml-lstm", layers: 2, hidden: 4 });
  disposeOut(out);
  disposeAll(params, state, inputs);
});

Deno.test("wasm backend: ml-lstm and mmtm gradients are finite and non-zero for every parameter; forward + grad inside tf.tidy leaves no tensors", async () => {
  await initBackend("wasm");
  try {
    for (
      const model of [
        buildModel({
          modalities: [VEC_A, VEC_B],
          fusion: { kind: "ml-lstm", layers: 2, hidden: 3 },
          numClasses: C,
        }),
        buildModel({ modalities: [AUDIO, VISUAL], fusion: "mmtm", numClasses: C }),
      ]
    ) {
      const what = model.fusion.kind;
      const { params, state } = model.init(7);
      const inputs = inputsFor(model, 5);
      const labels = tf.tensor1d([0, 1, 2, 1], "int32");
      const n0 = tf.memory().numTensors;
      const grads = tf.tidy(() => {
        const { grads } = variableGradsByName(params, () => {
          const out = model.forward(params, state, inputs, { training: true });
          // the uni-modal logits join the loss too, so their graph is differentiated as well
          const loss = tf.addN(
            [out.logits, ...out.unimodal].map((z) =>
              tf.losses.softmaxCrossEntropy(tf.oneHot(labels, C), z)
            ),
          );
          return loss as tf.Scalar;
        });
        return grads;
      });
      assertEquals(tf.memory().numTensors, n0 + Object.keys(params).length, what);
      for (const [name, g] of Object.entries(grads)) {
        const d = await arr(g);
        assert(d.every(Number.isFinite), `${what}: non-finite gradient for ${name}`);
        assert(d.some((v) => v !== 0), `${what}: all-zero gradient for ${name}`);
      }
      disposeAll(grads);
      assertEquals(tf.memory().numTensors, n0, what);
      labels.dispose();
      disposeAll(params, state, inputs);
    }
  } finally {
    await initBackend("cpu");
  }
});

// ---------------------------------------------------------------------------------------------
// AMSS scope, spec validation

Deno.test("AMSS scope: every mmtm and ml-lstm parameter under fusion/ belongs to no modality (never masked); encoders keep their units", () => {
  for (
    const [mods, fusion] of [
      [[AUDIO, VISUAL], "mmtm"],
      [[AUDIO, VEC_A], "ml-lstm"],
    ] as const
  ) {
    const model = buildModel({ modalities: [...mods], fusion, numClasses: C });
    const { params } = model.shapes();
    for (const kind of ["paper", "reference"] as const) {
      const rules = model.unitRules(kind);
      const plan = planMasks(params, rules);
      const shared = Object.keys(params).filter((n) => n.startsWith("fusion/"));
      assert(shared.length > 2);
      for (const n of shared) {
        assertEquals(rules.modalityOf(n, params[n].shape), null, n);
        assert(plan.unmasked.includes(n), n);
      }
      assert(plan.groups.every((g) => !g.id.startsWith("fusion/")));
      assertEquals(
        plan.groups.find((g) => g.id === "audio/layer1/0/conv1/kernel")?.members[0].spec,
        { kind: "channel" },
      );
    }
  }
});

Deno.test("buildModel rejects bad mmtm / ml-lstm specs with errors naming the field", () => {
  const ok = { modalities: [AUDIO, VISUAL], fusion: "mmtm" as const, numClasses: C };
  const cases: [unknown, string][] = [
    [{ ...ok, modalities: [AUDIO, VEC_A] }, "spec.modalities[1].kind: mmtm fusion needs resnet18"],
    [{ ...ok, modalities: [AUDIO] }, "mmtm fusion needs at least 2"],
    [{ ...ok, fusion: { kind: "mmtm", stages: [5] } }, "spec.fusion.stages"],
    [{ ...ok, fusion: { kind: "mmtm", stages: [2, 2] } }, "spec.fusion.stages"],
    [{ ...ok, fusion: { kind: "mmtm", stages: [] } }, "spec.fusion.stages"],
    [{ ...ok, fusion: { kind: "mmtm", stages: "2,3" } }, "spec.fusion.stages"],
    [{ ...ok, fusion: { kind: "mmtm", ratio: 0 } }, "spec.fusion.ratio"],
    [{ ...ok, fusion: { kind: "mmtm", ratio: "4" } }, "spec.fusion.ratio"],
    [{ ...ok, fusion: { kind: "mmtm", layers: 2 } }, "spec.fusion.layers does not apply to mmtm"],
    [{ ...ok, fusion: { kind: "ml-lstm", layers: 0 } }, "spec.fusion.layers"],
    [{ ...ok, fusion: { kind: "ml-lstm", layers: 1.5 } }, "spec.fusion.layers"],
    [{ ...ok, fusion: { kind: "ml-lstm", hidden: -1 } }, "spec.fusion.hidden"],
    [{ ...ok, fusion: { kind: "ml-lstm", stages: [2] } }, "spec.fusion.stages does not apply"],
    [{ ...ok, fusion: "lstm" }, `"mmtm", "ml-lstm"`],
  ];
  for (const [spec, field] of cases) {
    assertThrows(
      () => buildModel(spec as Parameters<typeof buildModel>[0]),
      ModelSpecError,
      field,
    );
  }
  // the function itself (outside buildModel) also refuses non-CNN streams
  assertThrows(
    () => mmtmFusion([mlpEncoder("a", [5]), mlpEncoder("b", [3])], C),
    Error,
    `modality "a" has a mlp encoder`,
  );
  // K = 1 ml-lstm (a length-1 sequence) builds, like the other non-film fusions
  buildModel({ modalities: [VEC_A], fusion: "ml-lstm", numClasses: C });
});
