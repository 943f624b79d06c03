/**
 * A short, self-contained check for a lent GPU machine (no network there): which backends
 * initialise, and ms/step + samples/s of training the CREMA-D-shaped model on each. Bundle it
 * with its npm dependencies and run the bundle with a bare Deno:
 *
 * ```sh
 * deno bundle -o gpu_check.js benchmarks/gpu_check.ts
 * deno run -A gpu_check.js [--steps 5] [--batch 64] [--cpu-batch 4] [--cpu-steps 2] [--widths 64,128,256,512] \
 *   [--backends tensorflow,webgpu,wasm] [--variants 0,1,2 | --no-variants] [--wasm-dir DIR]
 * ```
 *
 * On webgpu it first compares conv-gradient kernel variants (tfjs-webgpu's own, its matmul dx, ours
 * from src/backend/kernels/conv_grad.ts): each against the cpu backend on small shapes (relative error),
 * kernel times at the model's shapes (including the read-back of the result, so forward and dx
 * times of large outputs are dominated by the download), and a whole joint step per variant. Then
 * it profiles one joint and one AMSS+ step (GPU time per kernel from timestamp queries) and times
 * joint vs AMSS+ with the fastest variant.
 *
 * A bundle has no `__dirname`, which the wasm backend's glue uses to find its `.wasm` files: pass
 * `--wasm-dir` with a folder holding `tfjs-backend-wasm-simd.wasm` (copied from
 * `node_modules/@tensorflow/tfjs-backend-wasm/dist/`), or the wasm stage reports itself unavailable.
 *
 * The model is the paper's audio-video setting (Sec. 4.1, Appendix C): two full-width ResNet18
 * encoders, audio 257 x 188 x 1 (the CREMA-D STFT), visual one 224 x 224 x 1 frame, concat fusion,
 * 6 classes, batch 64, SGD; then joint vs AMSS+ (Horvitz-Thompson) for the overhead. Backends in
 * order: tensorflow (tfjs-node-gpu / tfjs-node, where installed), webgpu (on any adapter Deno
 * finds; a software adapter is reported as such), wasm (the CPU reference, with a smaller batch
 * and fewer steps because a full-width CPU step takes many seconds). Each stage is timed and the
 * whole check stays under about 5 minutes: `--budget SECONDS` (default 240) skips what would not fit.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendChoice, initBackend } from "../src/backend/select.ts";
import {
  registerTrainingKernels,
  type TrainingKernelOptions,
  unregisterTrainingKernels,
} from "../src/backend/wasm_kernels.ts";
import type { ModelSpec } from "../src/models/build.ts";
import type { MethodName } from "../src/train/methods.ts";
import { makeStepper, median } from "./_stepper.ts";

const args = Deno.args;
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const steps = Number(flag("steps", "5"));
const batch = Number(flag("batch", "64"));
const cpuBatch = Number(flag("cpu-batch", "4"));
const cpuSteps = Number(flag("cpu-steps", "2"));
const widths = flag("widths", "64,128,256,512").split(",").map(Number);
const budget = Number(flag("budget", "240")) * 1000;
const wasmDir = flag("wasm-dir", "");
if (wasmDir) (globalThis as { __dirname?: string }).__dirname = wasmDir.replace(/\/+$/, "");
const backends = flag("backends", "tensorflow,webgpu,wasm").split(",") as BackendChoice[];
const variantsOn = !args.includes("--no-variants");
const C = 6;
const t0 = performance.now();
const left = () => budget - (performance.now() - t0);

const spec: ModelSpec = {
  modalities: [
    { name: "audio", kind: "resnet18", input: [257, 188, 1], options: { widths } },
    { name: "visual", kind: "resnet18", input: [1, 224, 224, 1], options: { widths } },
  ],
  fusion: "concat",
  numClasses: C,
};

async function measure(method: MethodName, B: number, n: number): Promise<number[]> {
  const s = makeStepper(spec, method, 1, B, C);
  try {
    const first = await s.run(); // shader compilation / kernel warm-up
    const ts: number[] = [];
    for (let i = 0; i < n && left() > 3 * first; i++) ts.push(await s.run());
    return ts.length ? ts : [first];
  } finally {
    s.dispose();
  }
}

/**
 * webgpu conv-gradient variants: tfjs-webgpu's own kernels (its Conv2DBackpropFilter is one thread
 * per weight looping over N*oh*ow; its Conv2DBackpropInput a naive loop unless
 * WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE is off, which selects its matmul program) against ours from
 * src/backend/kernels/conv_grad.ts.
 */
interface Variant {
  name: string;
  ours: TrainingKernelOptions | null;
  naiveDx: boolean;
}
const VARIANTS: Variant[] = [
  { name: "stock", ours: null, naiveDx: true },
  { name: "stock dW + mm dx", ours: null, naiveDx: false },
  { name: "ours", ours: {}, naiveDx: true },
];
const variantFilter = flag("variants", "");
const activeVariants = variantFilter
  ? VARIANTS.filter((_, i) => variantFilter.split(",").map(Number).includes(i))
  : VARIANTS;

function useVariant(v: Variant): void {
  tf.env().set("WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE", v.naiveDx);
  if (v.ours) registerTrainingKernels("webgpu", v.ours);
  else unregisterTrainingKernels("webgpu");
}

type Shape4 = [number, number, number, number];
interface ConvCase {
  name: string;
  x: Shape4;
  f: Shape4;
  s: number;
  pad: "same" | "valid";
}

/** dW, dx and y through the registered kernels (tf.grads of sum(conv * r)), read back. */
async function convGrads(c: ConvCase, seed: number): Promise<Float32Array[]> {
  const x = tf.randomNormal(c.x, 0, 1, "float32", seed) as tf.Tensor4D;
  const w = tf.randomNormal(c.f, 0, 0.1, "float32", seed + 1) as tf.Tensor4D;
  const y = tf.conv2d(x, w, c.s, c.pad);
  const r = tf.randomNormal(y.shape, 0, 1, "float32", seed + 2);
  const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r))
  )([x, w]);
  const out = [
    await dw.data() as Float32Array,
    await dx.data() as Float32Array,
    await y.data() as Float32Array,
  ];
  tf.dispose([x, w, y, r, dx, dw]);
  return out;
}

/**
 * ||a - b||₂ / ||b||₂: the figure the README reports for the GPU runs (the tests'
 * test/_helpers.ts relErr is the max-abs form; kept apart so a bundle needs nothing from test/).
 */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

async function webgpuVariants(B: number): Promise<Variant> {
  // 1. Correctness on this GPU: each variant against the cpu backend, small shapes.
  const small: ConvCase[] = [
    { name: "7x7/2 same", x: [2, 30, 30, 1], f: [7, 7, 1, 8], s: 2, pad: "same" },
    { name: "3x3/1 same", x: [2, 12, 12, 8], f: [3, 3, 8, 8], s: 1, pad: "same" },
    { name: "3x3/2 same", x: [2, 13, 13, 8], f: [3, 3, 8, 16], s: 2, pad: "same" },
    { name: "1x1/2 valid", x: [2, 12, 12, 8], f: [1, 1, 8, 16], s: 2, pad: "valid" },
    { name: "5x5/2 valid, 3 ch", x: [2, 17, 14, 3], f: [5, 5, 3, 8], s: 2, pad: "valid" },
  ];
  await tf.setBackend("cpu");
  const ref: Float32Array[][] = [];
  for (const [i, c] of small.entries()) ref.push(await convGrads(c, 100 + 3 * i));
  await tf.setBackend("webgpu");
  for (const v of activeVariants) {
    useVariant(v);
    let worst = 0;
    for (const [i, c] of small.entries()) {
      const g = await convGrads(c, 100 + 3 * i);
      worst = Math.max(worst, ...g.map((a, k) => relErr(a, ref[i][k])));
    }
    console.log(`  ${v.name}: worst y/dW/dx relative error vs cpu ${worst.toExponential(1)}`);
  }
  // 2. Kernel times at the CREMA-D shapes (batch B), min of 3 after a warm-up.
  const big: ConvCase[] = [
    { name: "stem 7x7/2 1->64 @224", x: [B, 224, 224, 1], f: [7, 7, 1, 64], s: 2, pad: "same" },
    { name: "l1 3x3/1 64->64 @56", x: [B, 56, 56, 64], f: [3, 3, 64, 64], s: 1, pad: "same" },
    { name: "l2 3x3/2 64->128 @56", x: [B, 56, 56, 64], f: [3, 3, 64, 128], s: 2, pad: "same" },
    { name: "l4 3x3/1 512->512 @7", x: [B, 7, 7, 512], f: [3, 3, 512, 512], s: 1, pad: "same" },
  ];
  for (const c of big) {
    const x = tf.randomNormal(c.x, 0, 1, "float32", 5) as tf.Tensor4D;
    const w = tf.randomNormal(c.f, 0, 0.1, "float32", 6) as tf.Tensor4D;
    const y = tf.conv2d(x, w, c.s, c.pad);
    const dy = tf.randomNormal(y.shape, 0, 1, "float32", 7) as tf.Tensor4D;
    const time = async (f: () => tf.Tensor): Promise<number> => {
      let best = Infinity;
      for (let r = 0; r < 4; r++) {
        const t0 = performance.now();
        const out = f();
        await out.data();
        const ms = performance.now() - t0;
        out.dispose();
        if (r > 0) best = Math.min(best, ms);
      }
      return best;
    };
    const cells: string[] = [];
    for (const v of activeVariants) {
      useVariant(v);
      const fwd = await time(() => tf.conv2d(x, w, c.s, c.pad));
      const attrs = { strides: c.s, pad: c.pad, dataFormat: "NHWC" };
      const dw = await time(() =>
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
          ...attrs,
          filterShape: c.f,
        }) as tf.Tensor
      );
      const dx = await time(() =>
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, {
          ...attrs,
          inputShape: c.x,
        }) as tf.Tensor
      );
      cells.push(`${v.name}: fwd ${fwd.toFixed(1)} dW ${dw.toFixed(1)} dx ${dx.toFixed(1)}`);
    }
    console.log(`  ${c.name} (ms): ${cells.join("; ")}`);
    tf.dispose([x, w, y, dy]);
  }
  // 3. Whole training steps per variant.
  let best: Variant = activeVariants[0], bestMs = Infinity;
  for (const v of activeVariants) {
    if (left() < 30_000) {
      console.log(`  joint with ${v.name}: skipped (budget)`);
      continue;
    }
    useVariant(v);
    const ms = median(await measure("joint", B, 3));
    console.log(
      `  joint with ${v.name}: ${ms.toFixed(1)} ms/step (${(B / ms * 1000).toFixed(1)} samples/s)`,
    );
    if (ms < bestMs) [best, bestMs] = [v, ms];
  }
  return best;
}

/** GPU time per kernel name over one joint step (timestamp queries; zero where unsupported). */
async function profileStep(B: number, method: MethodName): Promise<void> {
  const st = makeStepper(spec, method, 1, B, C);
  try {
    await st.run();
    const info = await tf.profile(async () => {
      await st.run();
    });
    const by = new Map<string, { ms: number; n: number }>();
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      const e = by.get(k.name) ?? { ms: 0, n: 0 };
      by.set(k.name, { ms: e.ms + ms, n: e.n + 1 });
    }
    const total = [...by.values()].reduce((a, e) => a + e.ms, 0);
    const top = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
    console.log(
      `  profile of one ${method} step: GPU kernel time ${
        total.toFixed(1)
      } ms in ${info.kernels.length} ` +
        `kernels; top: ${top.map(([k, e]) => `${k} ${e.ms.toFixed(1)} (${e.n})`).join(", ")}`,
    );
  } catch (e) {
    console.log(`  profile failed: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    st.dispose();
  }
}

console.log(
  `CREMA-D-shaped model: ResNet18 x2 (widths ${widths.join("-")}), audio 257x188x1 + ` +
    `1 frame 224x224x1, concat, ${C} classes; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs`,
);
for (const choice of backends) {
  const tInit = performance.now();
  let info;
  try {
    info = await initBackend(choice);
  } catch (e) {
    console.log(`${choice}: unavailable: ${(e as Error).message.split("\n")[0]}`);
    continue;
  }
  console.log(
    `${choice}: initialised as ${info.name}${info.adapter ? `, adapter ${info.adapter}` : ""}${
      info.threads ? `, ${info.threads} thread(s)` : ""
    } (${(performance.now() - tInit).toFixed(0)} ms)`,
  );
  if (left() < 20_000) {
    console.log(`  skipped: less than 20 s of the ${budget / 1000} s budget left`);
    continue;
  }
  const isCpu = choice === "wasm";
  const B = isCpu ? cpuBatch : batch;
  const n = isCpu ? cpuSteps : steps;
  try {
    if (choice === "webgpu" && variantsOn) {
      const best = await webgpuVariants(B);
      console.log(`  fastest: ${best.name}; joint and AMSS+ below use it`);
      useVariant(best);
    }
    if (choice === "webgpu") {
      await profileStep(B, "joint");
      await profileStep(B, "amss+");
    }
    const joint = await measure("joint", B, n);
    const mj = median(joint);
    console.log(
      `  joint: ${mj.toFixed(1)} ms/step at batch ${B} (${(B / mj * 1000).toFixed(1)} samples/s; ` +
        `median of ${joint.length})`,
    );
    if (left() < 4 * mj) {
      console.log("  AMSS+ skipped: budget");
      continue;
    }
    const plus = median(await measure("amss+", B, n));
    console.log(
      `  AMSS+ (HT): ${plus.toFixed(1)} ms/step (${(B / plus * 1000).toFixed(1)} samples/s), ` +
        `overhead ${(((plus - mj) / mj) * 100).toFixed(1)}% over joint`,
    );
  } catch (e) {
    console.log(`  failed: ${(e as Error).message.split("\n")[0]}`);
  }
}
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
