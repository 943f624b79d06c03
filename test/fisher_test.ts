/**
 * The paper's importance measure (Sec. 3.2.2), src/amss/fisher.ts and src/train/fisher.ts: the
 * diagonal empirical Fisher F_j = (1/B) sum_i g_ij^2 from per-sample gradients computed from each
 * layer's inputs and output gradients (one backward pass), against the reference by B separate
 * backward passes (`referenceFisher`), on dense layers (one row per sample, token rows, a variable
 * used twice), conv layers (strides, paddings, "same" with asymmetric padding, frames, bias, chunks)
 * and batch norm; what batch norm does to per-sample gradients; the errors for unsupported layers;
 * and the trainer-side pass on built models (MLP and concat head, ResNet18 with batch norm).
 *
 * Tolerance: both sides compute in float32; F is a mean of B squares of sums of a few hundred
 * products, so the relative rounding of either side is about (terms) * 2^-24 ≈ 1e-5 at most; we
 * allow 2e-5 of the largest entry of F (plus 1e-12 absolute for all-zero rows).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertGreater, assertLess, assertThrows } from "@std/assert";
import {
  type ConvPad,
  explicitPad,
  FisherTape,
  referenceFisher,
  withFisherTape,
} from "../src/amss/fisher.ts";
import { batchNorm, conv2d, dense } from "../src/models/layers.ts";
import { buildModel } from "../src/models/build.ts";
import { uniModalFisher } from "../src/train/fisher.ts";
import { registerWasmTrainingKernels } from "../src/backend/wasm_kernels.ts";
import { Rng } from "../src/rng.ts";
import type { Params, TensorMap } from "../src/transform.ts";

await tf.setBackend("cpu");

const REL_TOL = 2e-5;

function randn(shape: number[], rng: Rng, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => scale * rng.normal()), shape);
}
function variables(shapes: Record<string, number[]>, rng: Rng, scale = 0.5): Params {
  return Object.fromEntries(
    Object.entries(shapes).map((
      [n, s],
    ) => [n, tf.variable(randn(s, rng, scale), true, `fisher_test/${n}/${rng.uint32()}`)]),
  );
}

/** Per-sample cross-entropy of logits [B, C] against labels. */
function perSampleCE(logits: tf.Tensor, labels: Int32Array): tf.Tensor1D {
  const C = logits.shape[1]!;
  const oh = tf.oneHot(tf.tensor1d(labels, "int32"), C).asType("float32");
  return tf.neg(tf.sum(tf.mul(oh, tf.logSoftmax(logits as tf.Tensor2D)), 1)) as tf.Tensor1D;
}

/** F by the tape (one backward pass of the summed per-sample losses). */
function tapeFisher(
  vars: Params,
  B: number,
  perSample: () => tf.Tensor1D,
  chunkFloats?: number,
): TensorMap {
  const tape = new FisherTape(vars, B, chunkFloats === undefined ? {} : { chunkFloats });
  try {
    withFisherTape(tape, () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(perSample()) as tf.Scalar,
        Object.values(vars) as tf.Variable[],
      );
      value.dispose();
      tf.dispose(Object.values(grads));
    });
    return tape.fisher();
  } finally {
    tape.dispose();
  }
}

/** Largest |a - b| over the entries, relative to the largest |b|. */
async function relErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  assertEquals(a.shape, b.shape);
  const x = await a.data(), y = await b.data();
  let d = 0, m = 0;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return m === 0 ? d : d / m;
}

async function assertSame(fast: TensorMap, ref: TensorMap, what: string) {
  assertEquals(Object.keys(fast).sort(), Object.keys(ref).sort(), what);
  for (const n of Object.keys(ref)) {
    const e = await relErr(fast[n], ref[n]);
    assertLess(e, REL_TOL, `${what}: ${n} relative error ${e}`);
    assertGreater(Math.max(...await ref[n].data()), 0, `${what}: ${n} has a nonzero Fisher`);
  }
}

Deno.test("dense: one row per sample, tape = B backward passes", async () => {
  const rng = new Rng(1);
  const B = 7;
  const vars = variables({ w1: [5, 4], b1: [4], w2: [4, 3], b2: [3] }, rng);
  const x = randn([B, 5], rng);
  const labels = Int32Array.from({ length: B }, () => rng.int(3));
  const f = () => {
    const h = tf.tanh(dense(x, vars.w1, vars.b1));
    return perSampleCE(dense(h, vars.w2, vars.b2), labels);
  };
  const before = tf.memory().numTensors;
  const fast = tapeFisher(vars, B, f);
  const ref = referenceFisher(f, vars as Record<string, tf.Variable>, B);
  await assertSame(fast, ref, "dense");
  tf.dispose([...Object.values(fast), ...Object.values(ref)]);
  assertEquals(tf.memory().numTensors, before, "no tensor left behind");
  tf.dispose([x, ...Object.values(vars)]);
});

Deno.test("dense: token rows (r rows per sample) and a kernel used by two calls", async () => {
  const rng = new Rng(2);
  const B = 5, L = 3;
  const vars = variables({ w: [4, 6], b: [6], head: [6, 3] }, rng);
  const x = randn([B * L, 4], rng);
  const x2 = randn([B, 4], rng);
  const labels = Int32Array.from({ length: B }, () => rng.int(3));
  const f = () => {
    // rows of sample i are i*L .. i*L+L-1 (a [B, L, D] batch flattened), pooled per sample
    const h = tf.mean(tf.relu(dense(x, vars.w, vars.b)).reshape([B, L, 6]), 1);
    // the same kernel again on a second input: g_i = sum of both calls' per-sample gradients
    const h2 = tf.tanh(dense(x2, vars.w));
    return perSampleCE(dense(tf.add(h, h2), vars.head), labels);
  };
  const fast = tapeFisher(vars, B, f);
  const ref = referenceFisher(f, vars as Record<string, tf.Variable>, B);
  await assertSame(fast, ref, "dense rows");
  tf.dispose([...Object.values(fast), ...Object.values(ref), x, x2, ...Object.values(vars)]);
});

const CONV_CASES: { kernel: number[]; stride: number; pad: ConvPad; hw: number; frames: number }[] =
  [
    { kernel: [3, 3, 2, 4], stride: 1, pad: 1, hw: 6, frames: 1 },
    { kernel: [3, 3, 2, 4], stride: 2, pad: 1, hw: 7, frames: 2 },
    { kernel: [1, 1, 2, 3], stride: 2, pad: 0, hw: 6, frames: 1 },
    { kernel: [3, 2, 2, 3], stride: 2, pad: "same", hw: 7, frames: 1 },
    { kernel: [2, 3, 2, 3], stride: 1, pad: "valid", hw: 5, frames: 1 },
  ];

for (const c of CONV_CASES) {
  Deno.test(`conv2d ${c.kernel.join("x")} stride ${c.stride} pad ${c.pad}, ${c.frames} frame(s): tape = B backward passes`, async () => {
    const rng = new Rng(3);
    const B = 4;
    const cout = c.kernel[3];
    const vars = variables({ k: c.kernel, bias: [cout], head: [cout, 3] }, rng);
    const x = randn([B * c.frames, c.hw, c.hw, c.kernel[2]], rng);
    const labels = Int32Array.from({ length: B }, () => rng.int(3));
    const f = () => {
      const y = tf.relu(conv2d(x, vars.k, c.stride, c.pad, vars.bias));
      const pooled = tf.mean(tf.mean(y, [1, 2]).reshape([B, c.frames, cout]), 1);
      return perSampleCE(tf.matMul(pooled as tf.Tensor2D, vars.head as tf.Tensor2D), labels);
    };
    const scored = { k: vars.k, bias: vars.bias };
    const fast = tapeFisher(scored, B, f);
    // chunks of one sample at a time give the same numbers
    const chunked = tapeFisher(scored, B, f, 1);
    const ref = referenceFisher(f, scored as Record<string, tf.Variable>, B);
    await assertSame(fast, ref, "conv");
    await assertSame(chunked, ref, "conv, chunked");
    tf.dispose([...Object.values(fast), ...Object.values(chunked), ...Object.values(ref)]);
    tf.dispose([x, ...Object.values(vars)]);
  });
}

Deno.test("conv2d on wasm (the bench's backend; depthwise with a dilation): tape = B backward passes", async () => {
  registerWasmTrainingKernels();
  await tf.setBackend("wasm");
  try {
    const rng = new Rng(9);
    const B = 3, frames = 2;
    const vars = variables({ k: [3, 3, 2, 4], head: [4, 3] }, rng);
    const x = randn([B * frames, 7, 7, 2], rng);
    const labels = Int32Array.from([0, 2, 1]);
    const f = () => {
      const y = tf.relu(conv2d(x, vars.k, 2, 1));
      const pooled = tf.mean(tf.mean(y, [1, 2]).reshape([B, frames, 4]), 1);
      return perSampleCE(tf.matMul(pooled as tf.Tensor2D, vars.head as tf.Tensor2D), labels);
    };
    const fast = tapeFisher({ k: vars.k }, B, f);
    const ref = referenceFisher(f, { k: vars.k as tf.Variable }, B);
    await assertSame(fast, ref, "conv on wasm");
    tf.dispose([...Object.values(fast), ...Object.values(ref), x, ...Object.values(vars)]);
  } finally {
    await tf.setBackend("cpu");
  }
});

Deno.test("explicitPad: tfjs's 'same' padding (asymmetric for even totals) and numbers", () => {
  assertEquals(explicitPad([1, 7, 7, 2], [3, 2, 2, 3], [2, 2], "same"), [1, 1, 0, 1]);
  assertEquals(explicitPad([1, 6, 6, 2], [3, 3, 2, 3], [2, 2], "same"), [0, 1, 0, 1]);
  assertEquals(explicitPad([1, 6, 6, 2], [3, 3, 2, 3], [1, 1], 2), [2, 2, 2, 2]);
  assertEquals(explicitPad([1, 6, 6, 2], [3, 3, 2, 3], [1, 1], "valid"), [0, 0, 0, 0]);
});

Deno.test("batch norm: gamma/beta per-sample gradients are exact; a conv before it gets the batch decomposition", async () => {
  const rng = new Rng(4);
  const B = 6;
  const vars = variables({ k: [3, 3, 1, 3], gamma: [3], beta: [3], head: [3, 3] }, rng);
  const x = randn([B, 5, 5, 1], rng);
  const labels = Int32Array.from({ length: B }, () => rng.int(3));
  const state = {
    "bn/running_mean": tf.variable(tf.zeros([3]), false),
    "bn/running_var": tf.variable(tf.ones([3]), false),
  };
  const params = { "bn/gamma": vars.gamma, "bn/beta": vars.beta } as Params;
  const f = () => {
    const h = conv2d(x, vars.k, 1, 1);
    const y = tf.relu(
      batchNorm(h, params, state, "bn", { training: true, updateStats: false }, {
        eps: 1e-5,
        momentum: 0.1,
      }),
    );
    return perSampleCE(
      tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, vars.head as tf.Tensor2D),
      labels,
    );
  };
  const scored = { k: vars.k, gamma: vars.gamma, beta: vars.beta };
  const fast = tapeFisher(scored, B, f);
  const ref = referenceFisher(f, scored as Record<string, tf.Variable>, B);
  // nothing after the batch norm mixes samples: gamma and beta only scale and shift sample i's
  // normalised values, so their per-sample gradients are exact
  await assertSame(
    { gamma: fast.gamma, beta: fast.beta },
    { gamma: ref.gamma, beta: ref.beta },
    "bn",
  );
  // the conv kernel's sample-i term x_i * dy_i carries the other samples' losses through the batch
  // statistics: it is not d l_i / d W (module comment of src/amss/fisher.ts)
  assertGreater(await relErr(fast.k, ref.k), 1e-2);
  tf.dispose([
    ...Object.values(fast),
    ...Object.values(ref),
    x,
    ...Object.values(vars),
    ...Object.values(state),
  ]);
});

Deno.test("unsupported layers: the error names the variables and the option", () => {
  const rng = new Rng(5);
  const vars = variables({ w: [4, 3], table: [3, 3] }, rng);
  const x = randn([2, 4], rng);
  const before = tf.memory().numTensors;
  const e = assertThrows(
    () =>
      tapeFisher(vars, 2, () =>
        // `table` is read by a plain matMul, not by a layer that reports to the tape
        perSampleCE(
          tf.matMul(dense(x, vars.w), vars.table as tf.Tensor2D),
          Int32Array.from([0, 1]),
        )),
    Error,
    'importance "fisher": no per-sample gradients for "table"',
  );
  assert(e.message.includes("dense, conv2d and training-mode batch-norm"), e.message);
  assertEquals(tf.memory().numTensors, before, "the tape freed what it kept");
  // rows that do not split into the batch's samples
  assertThrows(
    () => tapeFisher(vars, 3, () => perSampleCE(dense(x, vars.w), Int32Array.from([0, 1]))),
    Error,
    "not a multiple of the batch's 3 samples",
  );
  tf.dispose([x, ...Object.values(vars)]);
});

/** Sample i's loss of the Fisher pass: sum over modalities of -log q(y_i | x_i^(k)). */
function uniModalLosses(
  model: ReturnType<typeof buildModel>,
  params: Params,
  state: Record<string, tf.Variable>,
  inputs: Record<string, tf.Tensor>,
  labels: Int32Array,
): () => tf.Tensor1D {
  return () => {
    const o = model.forward(params, state, inputs, { training: true, updateStats: false });
    return tf.addN(o.unimodal.map((u) => perSampleCE(u, labels))) as tf.Tensor1D;
  };
}

for (const fusion of ["concat", "late"] as const) {
  Deno.test(`uniModalFisher, MLP encoders, ${fusion} fusion: = B backward passes of sum_k -log q(y|x_k)`, async () => {
    const model = buildModel({
      modalities: [
        { name: "a", kind: "mlp", input: [6], options: { hidden: [5, 4] } },
        { name: "v", kind: "mlp", input: [3], options: { hidden: [4] } },
      ],
      fusion,
      numClasses: 3,
    });
    const { params, state } = model.init(7);
    const rng = new Rng(6);
    const B = 6;
    const inputs = { a: randn([B, 6], rng), v: randn([B, 3], rng) };
    const labels = Int32Array.from({ length: B }, () => rng.int(3));
    // every masked variable, and the concat head (Table 7's classifier rows)
    const names = Object.keys(params).filter((n) =>
      !n.startsWith("fusion/") || n === "fusion/head/kernel"
    );
    const before = tf.memory().numTensors;
    const fast = uniModalFisher(model, params, state, inputs, labels, names);
    const perMod = uniModalFisher(
      model,
      params,
      state,
      inputs,
      labels,
      names.filter((n) => !n.startsWith("fusion/")),
      { perModality: true },
    );
    const ref = referenceFisher(
      uniModalLosses(model, params, state, inputs, labels),
      Object.fromEntries(names.map((n) => [n, params[n]])),
      B,
    );
    await assertSame(fast, ref, `${fusion} joint pass`);
    for (const n of Object.keys(perMod)) {
      assertLess(await relErr(perMod[n], ref[n]), REL_TOL, `${fusion} per-modality pass: ${n}`);
    }
    tf.dispose([...Object.values(fast), ...Object.values(perMod), ...Object.values(ref)]);
    assertEquals(tf.memory().numTensors, before, "no tensor left behind");
    tf.dispose([...Object.values(params), ...Object.values(state), ...Object.values(inputs)]);
  });
}

Deno.test("uniModalFisher, ResNet18 with batch norm: paper units score every conv and BN parameter; running stats untouched", async () => {
  const model = buildModel({
    modalities: [
      { name: "a", kind: "resnet18", input: [12, 12, 1], options: { widths: [2, 2, 3, 3] } },
      { name: "v", kind: "mlp", input: [4], options: { hidden: [3] } },
    ],
    fusion: "concat",
    numClasses: 3,
  });
  const { params, state } = model.init(3);
  const rng = new Rng(8);
  const B = 4;
  const inputs = { a: randn([B, 12, 12, 1], rng), v: randn([B, 4], rng) };
  const labels = Int32Array.from([0, 1, 2, 0]);
  const names = Object.keys(params).filter((n) => !n.startsWith("fusion/"));
  const stats = await Promise.all(Object.values(state).map((v) => v.data()));
  const F = uniModalFisher(model, params, state, inputs, labels, names);
  assertEquals(Object.keys(F).sort(), [...names].sort());
  for (const n of names) {
    assertEquals(F[n].shape, params[n].shape, n);
    const v = await F[n].data();
    assert(v.every((x) => Number.isFinite(x) && x >= 0), `${n}: finite, >= 0`);
    assertGreater(Math.max(...v), 0, `${n}: some signal`);
  }
  const after = await Promise.all(Object.values(state).map((v) => v.data()));
  assertEquals(after, stats, "the Fisher pass leaves batch-norm running statistics alone");
  tf.dispose([
    ...Object.values(F),
    ...Object.values(params),
    ...Object.values(state),
    ...Object.values(inputs),
  ]);
});
