/**
 * A short, self-contained check for a lent GPU machine (no network there): which backends
 * initialise, and ms/step + samples/s of training the CREMA-D-shaped model on each. Bundle it
 * with its npm dependencies and run the bundle with a bare Deno:
 *
 * ```sh
 * deno bundle -o gpu_check.js benchmarks/gpu_check.ts
 * deno run -A gpu_check.js [--steps 5] [--batch 64] [--cpu-batch 4] [--cpu-steps 2] [--widths 64,128,256,512]
 * ```
 *
 * The model is the paper's audio-video setting (Sec. 4.1, Appendix C): two full-width ResNet18
 * encoders, audio 257 x 188 x 1 (the CREMA-D STFT), visual one 224 x 224 x 1 frame, concat fusion,
 * 6 classes, batch 64, SGD; then joint vs AMSS+ (Horvitz-Thompson) for the overhead. Backends in
 * order: tensorflow (tfjs-node-gpu / tfjs-node, where installed), webgpu (on any adapter Deno
 * finds; a software adapter is reported as such), wasm (the CPU reference, with a smaller batch
 * and fewer steps because a full-width CPU step takes many seconds). Each stage is timed and the
 * whole check stays under about 5 minutes: `--budget SECONDS` (default 240) skips what would not fit.
 */
import { type BackendChoice, initBackend } from "../src/backend/select.ts";
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

console.log(
  `CREMA-D-shaped model: ResNet18 x2 (widths ${widths.join("-")}), audio 257x188x1 + ` +
    `1 frame 224x224x1, concat, ${C} classes; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs`,
);
for (const choice of ["tensorflow", "webgpu", "wasm"] as BackendChoice[]) {
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
