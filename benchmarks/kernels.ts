/**
 * Milliseconds per conv backward (weight gradient dW and input gradient dx) on ResNet-like shapes:
 * our wasm kernels (src/backend/kernels/) next to the stock wasm kernel where one exists
 * (wasm has no stock dW), and next to the pure-JS `cpu` backend for one small shape.
 *
 *   deno run -A benchmarks/kernels.ts [--reps 5] [--quick]
 *
 * Stock and ours are timed interleaved (stock, ours, stock, ours, ...) on the same tensors and the
 * best (minimum) time is reported, so that load from other processes hits both alike and the figure
 * is the least disturbed one; on a shared machine only ratios within one interleaved run compare.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { batchNormTrain } from "../src/backend/kernels/batch_norm.ts";
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
} from "../src/backend/wasm_kernels.ts";

const args = Deno.args;
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const reps = Number(flag("reps", "5"));
const quick = args.includes("--quick");

type Pad = "same" | "valid";
interface Case {
  name: string;
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number;
  pad: Pad;
}

/** Narrow ResNet18 (widths 16-32-64-128, batch 16 x 1 x 128 x 128) and one full-width shape. */
const cases: Case[] = [
  { name: "stem 7x7/2 1->16 @128", x: [16, 128, 128, 1], f: [7, 7, 1, 16], stride: 2, pad: "same" },
  { name: "l1 3x3/1 16->16 @32", x: [16, 32, 32, 16], f: [3, 3, 16, 16], stride: 1, pad: "same" },
  { name: "l2 3x3/2 16->32 @32", x: [16, 32, 32, 16], f: [3, 3, 16, 32], stride: 2, pad: "same" },
  { name: "l2 1x1/2 16->32 @32", x: [16, 32, 32, 16], f: [1, 1, 16, 32], stride: 2, pad: "valid" },
  { name: "l3 3x3/1 64->64 @8", x: [16, 8, 8, 64], f: [3, 3, 64, 64], stride: 1, pad: "same" },
  {
    name: "full l1 3x3/1 64->64 @32",
    x: [16, 32, 32, 64],
    f: [3, 3, 64, 64],
    stride: 1,
    pad: "same",
  },
];

function outShape(c: Case): [number, number, number, number] {
  const [n, h, w] = c.x;
  const oh = c.pad === "same" ? Math.ceil(h / c.stride) : Math.floor((h - c.f[0]) / c.stride) + 1;
  const ow = c.pad === "same" ? Math.ceil(w / c.stride) : Math.floor((w - c.f[1]) / c.stride) + 1;
  return [n, oh, ow, c.f[3]];
}

function dW(c: Case, x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor {
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
    strides: c.stride,
    pad: c.pad,
    dataFormat: "NHWC",
    filterShape: c.f,
  }) as tf.Tensor;
}

function dX(c: Case, dy: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor {
  return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
    strides: c.stride,
    pad: c.pad,
    dataFormat: "NHWC",
    inputShape: c.x,
  }) as tf.Tensor;
}

function fwd(c: Case, x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor {
  return tf.conv2d(x, filter, c.stride, c.pad);
}

/** One timed call; `await data()` so that any backend has finished (wasm is synchronous anyway). */
async function once(f: () => tf.Tensor): Promise<number> {
  const t0 = performance.now();
  const r = f();
  await r.data();
  const ms = performance.now() - t0;
  r.dispose();
  return ms;
}

/** Best of the repetitions: interference from other processes only ever adds time. */
const best = (v: number[]) => Math.min(...v);
const fmt = (ms: number | undefined) => (ms == null ? "-" : ms.toFixed(2)).padStart(9);

/** Times `variants` interleaved, `reps` rounds after one warm-up each; returns the best times. */
async function interleaved(
  variants: { setup: () => Promise<void>; run: () => tf.Tensor }[],
): Promise<number[]> {
  const times = variants.map(() => [] as number[]);
  for (let r = -1; r < reps; r++) {
    for (const [i, v] of variants.entries()) {
      await v.setup();
      const ms = await once(v.run);
      if (r >= 0) times[i].push(ms);
    }
  }
  return times.map(best);
}

const ours = async () => {
  await tf.setBackend("wasm");
  registerWasmTrainingKernels();
};
const stock = async () => {
  await tf.setBackend("wasm");
  unregisterWasmTrainingKernels();
};

await tf.setBackend("wasm");
console.log(`tfjs ${tf.version.tfjs}, wasm backend, best of ${reps} (ms), interleaved`);
console.log(
  `${"shape".padEnd(26)}${"forward".padStart(9)}${"dW ours".padStart(9)}${"dx ours".padStart(9)}` +
    `${"dx stock".padStart(9)}${"stock/ours".padStart(11)}`,
);
for (const c of quick ? cases.slice(1, 3) : cases) {
  const x = tf.randomNormal(c.x, 0, 1, "float32", 11) as tf.Tensor4D;
  const f = tf.randomNormal(c.f, 0, 1, "float32", 12) as tf.Tensor4D;
  const dy = tf.randomNormal(outShape(c), 0, 1, "float32", 13) as tf.Tensor4D;
  const [forward, dwOurs, dxStock, dxOurs] = await interleaved([
    { setup: ours, run: () => fwd(c, x, f) },
    { setup: ours, run: () => dW(c, x, dy) },
    { setup: stock, run: () => dX(c, dy, f) },
    { setup: ours, run: () => dX(c, dy, f) },
  ]);
  console.log(
    `${c.name.padEnd(26)}${fmt(forward)}${fmt(dwOurs)}${fmt(dxOurs)}${fmt(dxStock)}` +
      `${(dxStock / dxOurs).toFixed(2).padStart(10)}x`,
  );
  tf.dispose([x, f, dy]);
}

// One small shape against the pure-JS cpu backend (its dW is a naive loop).
{
  const c: Case = {
    name: "small 3x3/1 16->16 @16, batch 4",
    x: [4, 16, 16, 16],
    f: [3, 3, 16, 16],
    stride: 1,
    pad: "same",
  };
  await tf.setBackend("wasm");
  registerWasmTrainingKernels();
  const mk = () => ({
    x: tf.randomNormal(c.x, 0, 1, "float32", 11) as tf.Tensor4D,
    f: tf.randomNormal(c.f, 0, 1, "float32", 12) as tf.Tensor4D,
    dy: tf.randomNormal(outShape(c), 0, 1, "float32", 13) as tf.Tensor4D,
  });
  const w = mk();
  await tf.setBackend("cpu");
  const cpu = mk();
  const onCpu = async () => {
    await tf.setBackend("cpu");
  };
  const [wasmDw, cpuDw, wasmDx, cpuDx] = await interleaved([
    { setup: ours, run: () => dW(c, w.x, w.dy) },
    { setup: onCpu, run: () => dW(c, cpu.x, cpu.dy) },
    { setup: ours, run: () => dX(c, w.dy, w.f) },
    { setup: onCpu, run: () => dX(c, cpu.dy, cpu.f) },
  ]);
  console.log(
    `\n${c.name}: cpu dW ${cpuDw.toFixed(2)} ms vs wasm ours ${wasmDw.toFixed(2)} ms ` +
      `(${(cpuDw / wasmDw).toFixed(1)}x); cpu dx ${cpuDx.toFixed(2)} ms vs wasm ours ` +
      `${wasmDx.toFixed(2)} ms (${(cpuDx / wasmDx).toFixed(1)}x)`,
  );
  tf.dispose([cpu.x, cpu.f, cpu.dy]);
  await tf.setBackend("wasm");
  tf.dispose([w.x, w.f, w.dy]);
}

// Batch norm in training mode, forward + backward: closed form vs tf.moments + arithmetic.
{
  await tf.setBackend("wasm");
  registerWasmTrainingKernels();
  const noop = async () => {};
  console.log(
    `\n${"batch norm fwd+bwd".padEnd(26)}${"closed".padStart(9)}${"op-by-op".padStart(9)}`,
  );
  for (
    const shape of quick ? [[16, 32, 32, 16]] : [[16, 64, 64, 16], [16, 32, 32, 16], [16, 8, 8, 64]]
  ) {
    const c = shape[3];
    const x = tf.randomNormal(shape, 0, 1, "float32", 21);
    const r = tf.randomNormal(shape, 0, 1, "float32", 22);
    const g = tf.ones([c]) as tf.Tensor1D, b = tf.zeros([c]) as tf.Tensor1D;
    const opByOp = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const m = tf.moments(a, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(a, m.mean), tf.sqrt(tf.add(m.variance, 1e-5))), gg), bb);
    };
    const closed = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      batchNormTrain(a, gg as tf.Tensor1D, bb as tf.Tensor1D).y;
    const step = (f: typeof closed) => () =>
      tf.tidy(() => {
        const [dx, dg, db] = tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(f(a, gg, bb), r))
        )([x, g, b]);
        return tf.addN([tf.sum(dx), tf.sum(dg), tf.sum(db)]);
      });
    const [tc, to] = await interleaved([
      { setup: noop, run: step(closed) },
      { setup: noop, run: step(opByOp) },
    ]);
    console.log(
      `${JSON.stringify(shape).padEnd(26)}${fmt(tc)}${fmt(to)}  (${(to / tc).toFixed(2)}x)`,
    );
    tf.dispose([x, r, g, b]);
  }
}

// MaxPoolGrad of a ResNet stem pool (3x3/2, pad 1): our TypeScript kernel vs the stock wasm one.
{
  console.log(`\n${"max-pool grad 3x3/2".padEnd(26)}${"ours".padStart(9)}${"stock".padStart(9)}`);
  const shapes: [number, number, number, number][] = quick
    ? [[16, 64, 64, 16]]
    : [[16, 64, 64, 16], [64, 112, 112, 64]];
  for (const shape of shapes) {
    await tf.setBackend("wasm");
    const x = tf.relu(tf.randomNormal(shape, 0, 1, "float32", 31)) as tf.Tensor4D;
    const y = tf.maxPool(x, 3, 2, 1);
    const dy = tf.randomNormal(y.shape, 0, 1, "float32", 32);
    const run = () =>
      tf.engine().runKernel(tf.MaxPoolGrad, { dy, input: x, output: y }, {
        filterSize: 3,
        strides: 2,
        pad: 1,
      }) as tf.Tensor;
    const [o, s] = await interleaved([{ setup: ours, run }, { setup: stock, run }]);
    console.log(`${JSON.stringify(shape).padEnd(26)}${fmt(o)}${fmt(s)}  (${(s / o).toFixed(2)}x)`);
    tf.dispose([x, y, dy]);
  }
  await ours();
}
