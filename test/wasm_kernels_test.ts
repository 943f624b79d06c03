/**
 * Backends: our wasm training kernels against the `cpu` backend, the closed-form batch norm
 * against op-by-op autodiff, a short training run on cpu and wasm, leaks, and backend selection.
 *
 * Relative error everywhere: max_i |a_i - b_i| / max_i |b_i| (the largest absolute deviation,
 * scaled by the largest reference magnitude), so a few tiny reference entries cannot inflate it.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { batchNormTrain } from "../src/backend/kernels/batch_norm.ts";
import {
  conv2dFilterGrad,
  conv2dInputGrad,
  UnsupportedConvError,
} from "../src/backend/kernels/conv_grad.ts";
import {
  registerTrainingKernels,
  registerWasmTrainingKernels,
  trainingKernelsRegistered,
  unregisterTrainingKernels,
  unregisterWasmTrainingKernels,
  wasmTrainingKernelsRegistered,
} from "../src/backend/wasm_kernels.ts";
import {
  BackendUnavailableError,
  describeBackend,
  initBackend,
  TENSORFLOW_INSTALL_HINT,
} from "../src/backend/select.ts";
import { randn, relErr } from "./_helpers.ts";
import { disposeState, type MomentumState, sgd, SGD_STEP_KERNEL, step } from "../src/transform.ts";

await initBackend("cpu");

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

type Pad = "same" | "valid" | number | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];
interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
}

/** Strides 1/2, 1x1..7x7, same/valid/explicit/numeric pads, batch 1 and > 1, odd sizes. */
const CASES: ConvCase[] = [
  { x: [1, 8, 8, 3], f: [3, 3, 3, 4], stride: 1, pad: "same" },
  { x: [2, 9, 9, 4], f: [3, 3, 4, 5], stride: 2, pad: "same" },
  { x: [3, 8, 8, 4], f: [3, 3, 4, 2], stride: 2, pad: "valid" },
  { x: [2, 11, 13, 3], f: [7, 7, 3, 5], stride: 2, pad: "same" },
  { x: [1, 10, 10, 2], f: [7, 7, 2, 3], stride: 1, pad: "valid" },
  { x: [2, 7, 7, 3], f: [5, 5, 3, 4], stride: 2, pad: "same" },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 6], stride: 1, pad: "valid" },
  { x: [2, 9, 9, 4], f: [1, 1, 4, 6], stride: 2, pad: "same" },
  { x: [1, 8, 7, 5], f: [1, 1, 5, 3], stride: 2, pad: "valid" },
  { x: [2, 8, 8, 3], f: [2, 2, 3, 4], stride: 2, pad: "same" },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], stride: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [2, 9, 8, 3], f: [3, 3, 3, 4], stride: 2, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 2], stride: 2, pad: 1 },
  { x: [2, 9, 10, 3], f: [3, 3, 3, 4], stride: [1, 2], pad: "same" },
  { x: [4, 6, 6, 16], f: [3, 3, 16, 8], stride: 1, pad: "same" },
];

/** tfjs accepts a rounding mode only with a numeric pad. */
const rounding = (c: ConvCase) => typeof c.pad === "number" ? "round" as const : undefined;

const label = (c: ConvCase) =>
  `x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} s${JSON.stringify(c.stride)} ` +
  `pad ${JSON.stringify(c.pad)}`;

/** dx and dW of sum(conv2d(x, w) * r) on the current backend, via tf.grads. */
async function convGrads(c: ConvCase, seed: number): Promise<[Float32Array, Float32Array]> {
  const x = tf.tensor4d(randn(size(c.x), seed), c.x);
  const w = tf.tensor4d(randn(size(c.f), seed + 1), c.f);
  const conv = (a: tf.Tensor, b: tf.Tensor) =>
    tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad, "NHWC", 1, rounding(c));
  const y = conv(x, w);
  const r = tf.tensor(randn(y.size, seed + 2), y.shape);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)));
  const [dx, dw] = g([x, w]);
  const out: [Float32Array, Float32Array] = [
    (await dx.data()) as Float32Array,
    (await dw.data()) as Float32Array,
  ];
  tf.dispose([x, w, y, r, dx, dw]);
  return out;
}

Deno.test("wasm Conv2DBackpropFilter and Conv2DBackpropInput match cpu to 1e-6 relative (tf.grads of a conv loss)", async () => {
  registerWasmTrainingKernels();
  for (const [i, c] of CASES.entries()) {
    await tf.setBackend("cpu");
    const [dxRef, dwRef] = await convGrads(c, 100 + 10 * i);
    await tf.setBackend("wasm");
    const [dx, dw] = await convGrads(c, 100 + 10 * i);
    const ex = relErr(dx, dxRef), ew = relErr(dw, dwRef);
    assert(ex <= 1e-6, `dx ${label(c)}: relative error ${ex}`);
    assert(ew <= 1e-6, `dW ${label(c)}: relative error ${ew}`);
  }
  await tf.setBackend("cpu");
});

Deno.test("conv2dFilterGrad and conv2dInputGrad, as plain ops on cpu, match cpu's stock kernels", async () => {
  await tf.setBackend("cpu");
  for (const [i, c] of CASES.entries()) {
    const x = tf.tensor4d(randn(size(c.x), 300 + i), c.x);
    const w = tf.tensor4d(randn(size(c.f), 400 + i), c.f);
    const y = tf.conv2d(x, w, c.stride, c.pad, "NHWC", 1, rounding(c));
    const dy = tf.tensor4d(randn(y.size, 500 + i), y.shape);
    const ref = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
      strides: c.stride,
      pad: c.pad,
      dataFormat: "NHWC",
      ...(rounding(c) ? { dimRoundingMode: "round" } : {}),
      filterShape: c.f,
    }) as tf.Tensor;
    const refDx = tf.conv2dTranspose(dy, w, c.x, c.stride, c.pad, rounding(c));
    const ours = conv2dFilterGrad(x, dy, c.f, c.stride, c.pad, rounding(c));
    const oursDx = conv2dInputGrad(c.x, dy, w, c.stride, c.pad, rounding(c));
    assertEquals(ours.shape, c.f);
    assertEquals(oursDx.shape, c.x);
    const ew = relErr(await ours.data(), await ref.data());
    const ex = relErr(await oursDx.data(), await refDx.data());
    assert(ew <= 1e-6, `dW ${label(c)}: ${ew}`);
    assert(ex <= 1e-6, `dx ${label(c)}: ${ex}`);
    tf.dispose([x, w, y, dy, ref, refDx, ours, oursDx]);
  }
});

Deno.test({
  name: "conv2dFilterGrad and conv2dInputGrad on webgpu (device-side filter path) match cpu",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    try {
      await initBackend("webgpu");
    } catch (e) {
      assert(e instanceof BackendUnavailableError);
      await t.step({ name: `skipped: ${e.message}`, ignore: true, fn: () => {} });
      return;
    }
    try {
      for (const i of [1, 3, 8, 11, 13]) {
        const c = CASES[i];
        const grads = async (): Promise<Float32Array[]> => {
          const x = tf.tensor4d(randn(size(c.x), 700 + i), c.x);
          const w = tf.tensor4d(randn(size(c.f), 800 + i), c.f);
          const y = tf.conv2d(x, w, c.stride, c.pad, "NHWC", 1, rounding(c));
          const dy = tf.tensor4d(randn(y.size, 900 + i), y.shape);
          const dw = conv2dFilterGrad(x, dy, c.f, c.stride, c.pad, rounding(c));
          const dx = conv2dInputGrad(c.x, dy, w, c.stride, c.pad, rounding(c));
          const out = [(await dw.data()) as Float32Array, (await dx.data()) as Float32Array];
          tf.dispose([x, w, y, dy, dw, dx]);
          return out;
        };
        const gpu = await grads();
        await tf.setBackend("cpu");
        const cpu = await grads();
        await tf.setBackend("webgpu");
        // The software adapter's shaders use fused multiply-adds and their own summation order.
        assert(relErr(gpu[0], cpu[0]) <= 1e-5, `dW ${label(c)}: ${relErr(gpu[0], cpu[0])}`);
        assert(relErr(gpu[1], cpu[1]) <= 1e-5, `dx ${label(c)}: ${relErr(gpu[1], cpu[1])}`);
      }
    } finally {
      await initBackend("cpu");
    }
  },
});

Deno.test("wasm MaxPoolGrad (ours) matches cpu, ties and padding included (tf.grad of a pooled loss)", async () => {
  registerWasmTrainingKernels();
  type Shape = [number, number, number, number];
  const cases: [Shape, number | [number, number], number, "same" | "valid" | number][] = [
    [[2, 9, 9, 3], 3, 2, 1], // the ResNet stem pool, odd size
    [[2, 8, 8, 4], 2, 2, "valid"],
    [[1, 7, 5, 2], 3, 1, "same"],
    [[2, 10, 10, 3], [3, 2], 2, "same"],
  ];
  for (const [i, [shape, k, s, pad]] of cases.entries()) {
    // integers in {0, 1, 2}: many ties, so the first-maximum rule is exercised
    const xs = Float32Array.from(
      randn(size(shape), 40 + i),
      (v) => Math.min(2, Math.floor(Math.abs(v) * 2)),
    );
    const grad = async (): Promise<Float32Array> => {
      const x = tf.tensor4d(xs, shape);
      const y = tf.maxPool(x, k, s, pad), yShape = y.shape;
      y.dispose();
      const r = tf.tensor(randn(size(yShape), 50 + i), yShape);
      const dx = tf.grad((a: tf.Tensor) =>
        tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), r))
      )(x);
      const out = (await dx.data()) as Float32Array;
      tf.dispose([x, r, dx]);
      return out;
    };
    await tf.setBackend("cpu");
    const ref = await grad();
    await tf.setBackend("wasm");
    const ours = await grad();
    assert(relErr(ours, ref) <= 1e-6, `case ${i}: ${relErr(ours, ref)}`);
  }
  // a window of -Infinity passes no gradient and NaN never wins, on cpu and on ours alike
  for (const backend of ["cpu", "wasm"]) {
    await tf.setBackend(backend);
    for (
      const [vals, want] of [[[-Infinity, -Infinity, -Infinity, -Infinity], [0, 0, 0, 0]], [[
        NaN,
        1,
        0,
        NaN,
      ], [0, 1, 0, 0]]]
    ) {
      const x = tf.tensor4d(vals, [1, 2, 2, 1]);
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, "valid")))(x);
      assertEquals(Array.from(await dx.data()), want, `${backend} ${vals}`);
      tf.dispose([x, dx]);
    }
  }
  await tf.setBackend("cpu");
});

Deno.test("wasm Identity (ours) shares the heap block: a clone outlives its original, nothing leaks", async () => {
  await tf.setBackend("wasm");
  registerWasmTrainingKernels();
  const ids = tf.backend().numDataIds();
  const x = tf.tensor([1, 2, 3]);
  const c = x.clone();
  assertEquals(tf.backend().numDataIds(), ids + 1, "one heap block for both");
  x.dispose();
  assertEquals(Array.from(await c.data()), [1, 2, 3]);
  c.dispose();
  assertEquals(tf.backend().numDataIds(), ids);
  registerWasmTrainingKernels({ identity: false }); // the stock kernel copies
  const y = tf.tensor([4, 5]), d = y.clone();
  assertEquals(tf.backend().numDataIds(), ids + 2);
  tf.dispose([y, d]);
  registerWasmTrainingKernels();
  await tf.setBackend("cpu");
});

Deno.test("fused SGD on wasm gives bit-identical parameters and buffers to the unfused chain", async () => {
  await tf.setBackend("wasm");
  for (const [mu, wd] of [[0.9, 1e-4], [0, 5e-3], [0.5, 0], [0, 0]]) {
    const run = async (fused: boolean): Promise<number[][]> => {
      registerWasmTrainingKernels({ sgd: fused });
      assertEquals(tf.getKernel(SGD_STEP_KERNEL, "wasm") != null, fused);
      const params = {
        a: tf.variable(tf.tensor(randn(50, 1), [5, 10])),
        b: tf.variable(tf.tensor(randn(7, 2), [7])),
      };
      const opt = sgd({ lr: (t) => 0.3 / t, momentum: mu, weightDecay: wd });
      const st = opt.init(params);
      for (let t = 1; t <= 4; t++) {
        const grads = {
          a: tf.tensor(randn(50, 10 + t), [5, 10]),
          b: tf.tensor(randn(7, 20 + t), [7]),
        };
        await step(params, grads, opt, st, t);
        tf.dispose(Object.values(grads));
      }
      const buffers = (st[1] as MomentumState).buffers;
      const out = [params.a, params.b, buffers.a, buffers.b].map((x) => Array.from(x.dataSync()));
      disposeState(st);
      tf.dispose(Object.values(params));
      return out;
    };
    const unfused = await run(false), fused = await run(true);
    assertEquals(fused, unfused, `momentum ${mu}, weight decay ${wd}`);
  }
  registerWasmTrainingKernels();
  await tf.setBackend("cpu");
});

Deno.test("replacement kernels leak no tensors or backend data across repeated calls", async () => {
  await tf.setBackend("wasm");
  registerWasmTrainingKernels();
  const c = CASES[1];
  const x = tf.tensor4d(randn(size(c.x), 1), c.x);
  const w = tf.tensor4d(randn(size(c.f), 2), c.f);
  const loss = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad)));
  const pooled = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.maxPool(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), 3, 2, 1));
  const once = () =>
    tf.tidy(() =>
      tf.addN([...tf.grads(loss)([x, w]), ...tf.grads(pooled)([x, w])].map((g) => tf.sum(g)))
    );
  once().dispose(); // warm-up
  // IS_TEST makes the engine check every kernel call for data ids leaked inside the backend.
  const wasTest = tf.env().getBool("IS_TEST");
  tf.env().set("IS_TEST", true);
  try {
    const before = tf.memory(), ids = tf.backend().numDataIds();
    for (let i = 0; i < 20; i++) once().dispose();
    // Direct kernel calls with bare TensorInfos (not Tensors) take the wrapping path.
    const y = tf.conv2d(x, w, c.stride, c.pad);
    for (let i = 0; i < 5; i++) {
      // engine.runKernel is typed for Tensors but accepts any TensorInfo at run time.
      const info = (t: tf.Tensor) =>
        ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }) as unknown as tf.Tensor;
      const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: info(x), dy: info(y) }, {
        strides: c.stride,
        pad: c.pad,
        dataFormat: "NHWC",
        filterShape: c.f,
      }) as tf.Tensor;
      const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: info(y), filter: info(w) }, {
        strides: c.stride,
        pad: c.pad,
        dataFormat: "NHWC",
        inputShape: c.x,
      }) as tf.Tensor;
      assertEquals(dw.shape, c.f);
      assertEquals(dx.shape, c.x);
      tf.dispose([dw, dx]);
    }
    y.dispose();
    const after = tf.memory();
    assertEquals(after.numTensors, before.numTensors, "numTensors");
    assertEquals(after.numDataBuffers, before.numDataBuffers, "numDataBuffers");
    assertEquals(tf.backend().numDataIds(), ids, "wasm data ids");
    // The inputs survived (no double free through the TensorInfo path).
    assertEquals(x.isDisposed, false);
    assertEquals((await w.data()).length, size(c.f));
  } finally {
    tf.env().set("IS_TEST", wasTest);
    tf.dispose([x, w]);
    await tf.setBackend("cpu");
  }
});

Deno.test("kernel registration is idempotent, undoable, and rejects NCHW and dilation clearly", async () => {
  registerWasmTrainingKernels();
  registerWasmTrainingKernels();
  assert(wasmTrainingKernelsRegistered());
  await tf.setBackend("wasm");
  const c = CASES[0];
  const x = tf.tensor4d(randn(size(c.x), 7), c.x);
  const w = tf.tensor4d(randn(size(c.f), 8), c.f);
  const g = tf.grad((b: tf.Tensor) => tf.sum(tf.conv2d(x, b as tf.Tensor4D, 1, "same")));
  try {
    unregisterWasmTrainingKernels();
    assert(!wasmTrainingKernelsRegistered());
    assertThrows(() => g(w), Error, "not registered for backend 'wasm'");
    registerWasmTrainingKernels();
    tf.tidy(() => g(w));
    const y = tf.conv2d(x, w, 1, "same");
    assertThrows(
      () =>
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: y }, {
          strides: 1,
          pad: "same",
          dataFormat: "NCHW",
          filterShape: c.f,
        }),
      UnsupportedConvError,
      "dataFormat 'NCHW' is not supported",
    );
    assertThrows(
      () =>
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: y, filter: w }, {
          strides: 1,
          pad: "same",
          dataFormat: "NHWC",
          dilations: 2,
          inputShape: c.x,
        }),
      UnsupportedConvError,
      "dilation",
    );
    y.dispose();
  } finally {
    registerWasmTrainingKernels();
    tf.dispose([x, w]);
    await tf.setBackend("cpu");
  }
});

/** y, mean, variance and the gradients of sum(y * r) in x, gamma, beta. */
async function bnCase(
  shape: number[],
  seed: number,
  closedForm: boolean,
): Promise<Float32Array[]> {
  const c = shape[shape.length - 1];
  const x = tf.tensor(randn(size(shape), seed), shape).mul(1.5).add(0.3);
  const gamma = tf.tensor1d(randn(c, seed + 1));
  const beta = tf.tensor1d(randn(c, seed + 2));
  const r = tf.tensor(randn(size(shape), seed + 3), shape);
  const axes = shape.slice(0, -1).map((_, i) => i);
  const eps = 1e-3;
  const forward = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    if (closedForm) return batchNormTrain(a, g as tf.Tensor1D, b as tf.Tensor1D, eps);
    const m = tf.moments(a, axes);
    const y = tf.add(tf.mul(tf.div(tf.sub(a, m.mean), tf.sqrt(tf.add(m.variance, eps))), g), b);
    return { y, mean: m.mean, variance: m.variance };
  };
  const out = tf.tidy(() => {
    const f = forward(x, gamma, beta);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(forward(a, g, b).y, r))
    )([x, gamma, beta]);
    return [f.y, f.mean, f.variance, ...grads];
  });
  const data = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, gamma, beta, r, ...out]);
  return data;
}

Deno.test("batchNormTrain: outputs, statistics and gradients match op-by-op autodiff (cpu, wasm)", async () => {
  const names = ["y", "mean", "variance", "dx", "dgamma", "dbeta"];
  for (const [i, shape] of [[4, 5, 5, 3], [6, 7], [2, 3, 4, 5, 2], [1, 3, 3, 8]].entries()) {
    await tf.setBackend("cpu");
    const ref = await bnCase(shape, 40 + i, false);
    // wasm twice: with our heap kernels (the default) and with the tf-op closed form
    for (const [backend, heap] of [["cpu", false], ["wasm", true], ["wasm", false]] as const) {
      await tf.setBackend(backend);
      registerWasmTrainingKernels({ batchNorm: heap });
      assertEquals(tf.getKernel("AmssBatchNormTrain", "wasm") != null, heap);
      const ours = await bnCase(shape, 40 + i, true);
      for (const [k, name] of names.entries()) {
        const e = relErr(ours[k], ref[k]);
        assert(e <= 1e-5, `${backend} heap ${heap} ${name} shape ${JSON.stringify(shape)}: ${e}`);
      }
    }
  }
  registerWasmTrainingKernels();
  await tf.setBackend("cpu");
});

Deno.test("batchNormTrain leaks nothing, and its statistics belong to the caller's tidy", async () => {
  for (const backend of ["cpu", "wasm"]) {
    await tf.setBackend(backend);
    const x = tf.tensor(randn(2 * 3 * 3 * 4, 9), [2, 3, 3, 4]);
    const g = tf.ones([4]) as tf.Tensor1D, b = tf.zeros([4]) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        const r = batchNormTrain(x, g, b);
        assertEquals(r.mean.shape, [4]);
        tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(batchNormTrain(a, gg as tf.Tensor1D, bb as tf.Tensor1D).y)
        )([x, g, b]);
      });
    }
    assertEquals(tf.memory().numTensors, before, backend);
    const kept = batchNormTrain(x, g, b);
    assertEquals(tf.memory().numTensors, before + 3, `${backend}: y, mean, variance`);
    tf.dispose([kept.y, kept.mean, kept.variance, x, g, b]);
  }
  assertThrows(() => batchNormTrain(tf.zeros([3]), tf.ones([3]), tf.zeros([3])), Error, "rank");
  assertThrows(
    () => batchNormTrain(tf.zeros([2, 3]), tf.ones([4]), tf.zeros([4])),
    Error,
    "must be [3]",
  );
  await tf.setBackend("cpu");
});

/** 10 SGD steps of conv-BN-relu, conv(stride 2)-BN-relu, global average pool, dense. */
async function trainLosses(backend: string): Promise<number[]> {
  await tf.setBackend(backend);
  const p = {
    w1: tf.variable(tf.tensor4d(randn(3 * 3 * 2 * 8, 61), [3, 3, 2, 8]).mul(0.3)),
    g1: tf.variable(tf.ones([8])),
    b1: tf.variable(tf.zeros([8])),
    w2: tf.variable(tf.tensor4d(randn(3 * 3 * 8 * 8, 62), [3, 3, 8, 8]).mul(0.15)),
    g2: tf.variable(tf.ones([8])),
    b2: tf.variable(tf.zeros([8])),
    wd: tf.variable(tf.tensor2d(randn(8 * 3, 63), [8, 3]).mul(0.3)),
    bd: tf.variable(tf.zeros([3])),
  };
  const x = tf.tensor4d(randn(8 * 12 * 12 * 2, 64), [8, 12, 12, 2]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 1, 0], "int32"), 3);
  const opt = tf.train.sgd(0.5);
  const losses: number[] = [];
  for (let step = 0; step < 10; step++) {
    const loss = opt.minimize(() => {
      let h = tf.conv2d(x, p.w1 as tf.Tensor4D, 1, "same");
      h = tf.relu(batchNormTrain(h, p.g1 as tf.Tensor1D, p.b1 as tf.Tensor1D).y);
      h = tf.conv2d(h as tf.Tensor4D, p.w2 as tf.Tensor4D, 2, "same");
      h = tf.relu(batchNormTrain(h, p.g2 as tf.Tensor1D, p.b2 as tf.Tensor1D).y);
      const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, p.wd), p.bd);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, true)!;
    losses.push((await loss.data())[0]);
    loss.dispose();
  }
  tf.dispose([x, labels, ...Object.values(p)]);
  opt.dispose();
  return losses;
}

Deno.test("10 SGD steps of a 2-conv + BN + dense net give the same loss trajectory on cpu and wasm", async () => {
  registerWasmTrainingKernels();
  const cpu = await trainLosses("cpu");
  const wasm = await trainLosses("wasm");
  await tf.setBackend("cpu");
  assert(cpu[9] < cpu[0], `loss decreases: ${cpu}`);
  // float32 sums are accumulated in a different order on each backend (XNNPACK's blocked
  // convolutions vs cpu's loops; our gradient kernels add in yet another order): relative errors
  // of ~1e-7 per op grow through 10 steps of feedback, so 1e-4 relative is the honest tolerance.
  for (let i = 0; i < 10; i++) {
    const e = Math.abs(wasm[i] - cpu[i]) / Math.abs(cpu[i]);
    assert(e <= 1e-4, `step ${i}: cpu ${cpu[i]} wasm ${wasm[i]} (relative ${e})`);
  }
});

Deno.test("initBackend: wasm, cpu, auto and unknown names", async () => {
  const wasm = await initBackend("wasm");
  assertEquals(wasm.name, "wasm");
  assertEquals(tf.getBackend(), "wasm");
  assertEquals(wasm.threads, 1);
  assert(wasmTrainingKernelsRegistered());
  assertEquals(describeBackend(wasm), "wasm (1 thread)");
  const cpu = await initBackend("cpu");
  assertEquals(cpu.name, "cpu");
  assertEquals(tf.getBackend(), "cpu");
  await assertRejects(
    () => initBackend("gpu" as "auto"),
    BackendUnavailableError,
    "unknown backend 'gpu'",
  );
  await initBackend("cpu");
});

Deno.test({
  name: "initBackend('auto') records its choice; here tfjs-node is absent so it never wins",
  // WebGPU adapters and devices are process-wide resources that outlive the test.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const info = await initBackend("auto");
    assert(["wasm", "webgpu"].includes(info.name), info.name);
    assertEquals(tf.getBackend(), info.name);
    assert(
      info.notes.some((n) => n.includes("tfjs-node-gpu: not installed")),
      info.notes.join("; "),
    );
    if (info.name === "webgpu") assert(info.adapter && !info.softwareAdapter);
    await initBackend("cpu");
  },
});

Deno.test("initBackend('tensorflow') without tfjs-node: one clear line, then stop or fall back", async () => {
  const err = await assertRejects(
    () => initBackend("tensorflow", { fallback: "stop" }),
    BackendUnavailableError,
  );
  assertEquals(err.message, TENSORFLOW_INSTALL_HINT);
  assert(!err.message.includes("\n"), "one line");
  for (const word of ["libtensorflow", "Google storage", "@tensorflow/tfjs-node-gpu", "install"]) {
    assert(err.message.includes(word), `mentions ${word}`);
  }
});

Deno.test({
  name: "initBackend('tensorflow', fallback auto) falls back and says why",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const info = await initBackend("tensorflow", { fallback: "auto" });
    assert(["wasm", "webgpu"].includes(info.name), info.name);
    assertEquals(info.requested, "tensorflow");
    assert(info.notes.includes(TENSORFLOW_INSTALL_HINT), info.notes.join("; "));
    await initBackend("cpu");
  },
});

Deno.test("registerTrainingKernels('webgpu') swaps tfjs-webgpu's conv gradients for ours, and back", async () => {
  // Importing the package registers its kernels; no adapter is needed to (un)register them.
  await import("@tensorflow/tfjs-backend-webgpu");
  const kernel = (name: string) => tf.getKernel(name, "webgpu")?.kernelFunc;
  const wasOn = trainingKernelsRegistered("webgpu");
  unregisterTrainingKernels("webgpu");
  const stockF = kernel(tf.Conv2DBackpropFilter), stockI = kernel(tf.Conv2DBackpropInput);
  assert(stockF != null && stockI != null, "tfjs-webgpu registers both conv gradients itself");
  try {
    registerTrainingKernels("webgpu");
    assertEquals(trainingKernelsRegistered("webgpu"), "filterGrad=true,inputGrad=true");
    registerWasmTrainingKernels();
    // The same backend-independent kernel functions as on wasm, not tfjs-webgpu's.
    assert(
      kernel(tf.Conv2DBackpropFilter) === tf.getKernel(tf.Conv2DBackpropFilter, "wasm")?.kernelFunc,
    );
    assert(
      kernel(tf.Conv2DBackpropInput) === tf.getKernel(tf.Conv2DBackpropInput, "wasm")?.kernelFunc,
    );
    assert(kernel(tf.Conv2DBackpropFilter) !== stockF);
    registerTrainingKernels("webgpu", { inputGrad: false });
    assertEquals(trainingKernelsRegistered("webgpu"), "filterGrad=true,inputGrad=false");
    assert(kernel(tf.Conv2DBackpropInput) === stockI, "stock dx is back");
    assert(kernel(tf.Conv2DBackpropFilter) !== stockF);
    unregisterTrainingKernels("webgpu");
    assertEquals(trainingKernelsRegistered("webgpu"), null);
    assert(kernel(tf.Conv2DBackpropFilter) === stockF && kernel(tf.Conv2DBackpropInput) === stockI);
    assert(wasmTrainingKernelsRegistered(), "wasm's registration is untouched");
  } finally {
    if (wasOn != null) registerTrainingKernels("webgpu");
  }
});

Deno.test({
  name: "initBackend('webgpu') either works (adapter recorded) or fails with a clear message",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    try {
      const info = await initBackend("webgpu");
      assertEquals(info.name, "webgpu");
      assert(typeof info.adapter === "string" && info.adapter.length > 0);
      assert(describeBackend(info).startsWith("webgpu on "));
      assertEquals(trainingKernelsRegistered("webgpu"), "filterGrad=true,inputGrad=true");
      assert(info.notes.some((n) => n.includes("Conv2DBackpropFilter")), info.notes.join("; "));
      const t = tf.square(tf.tensor1d([1, 2, 3]));
      assertEquals(Array.from(await t.data()), [1, 4, 9]);
      t.dispose();
    } catch (e) {
      assert(e instanceof BackendUnavailableError, String(e));
      assert(e.message.startsWith("backend 'webgpu' unavailable: "), e.message);
      assert(e.message.length > 40 && !e.message.includes("\n"), e.message);
    } finally {
      await initBackend("cpu");
    }
  },
});
