/**
 * A short, self-contained check for a lent GPU machine (no network there): which GPU backends
 * initialise, and ms/step of a training step on them. Bundle it with its npm dependencies
 * (`deno bundle -o gpu_check.js benchmarks/gpu_check.ts`) and run the bundle with a bare
 * `deno run -A gpu_check.js [--steps N] [--widths 16,32,64,128] [--batch 16] [--size 128]`.
 *
 * Prints: the WebGPU adapter (vendor, device, whether it is a fallback/software adapter), then
 * for webgpu and cpu-for-reference: ms per SGD step of one ResNet18 encoder + linear head on
 * batch x 1 x size x size, and ms per AMSS+ (HT) step on a two-encoder model next to joint.
 */
import { initBackend } from "../src/backend/select.ts";
import type { ModelSpec } from "../src/models/build.ts";
import type { MethodName } from "../src/train/methods.ts";
import { makeStepper, median } from "./_stepper.ts";

const args = Deno.args;
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const steps = Number(flag("steps", "10"));
const widths = flag("widths", "16,32,64,128").split(",").map(Number);
const B = Number(flag("batch", "16"));
const S = Number(flag("size", "128"));
const C = 6;

async function measure(spec: ModelSpec, method: MethodName): Promise<number> {
  const s = makeStepper(spec, method, 1, B, C);
  await s.run();
  await s.run();
  const ts: number[] = [];
  for (let i = 0; i < steps; i++) ts.push(await s.run());
  s.dispose();
  return median(ts);
}

const enc = (name: string) => ({
  name,
  kind: "resnet18" as const,
  input: [S, S, 1],
  options: { widths },
});
const single: ModelSpec = { modalities: [enc("audio")], fusion: "concat", numClasses: C };
const pair: ModelSpec = {
  modalities: [enc("audio"), enc("visual")],
  fusion: "concat",
  numClasses: C,
};

for (const choice of ["webgpu", "cpu"] as const) {
  const t0 = performance.now();
  let info;
  try {
    info = await initBackend(choice);
  } catch (e) {
    console.log(`${choice}: unavailable: ${(e as Error).message}`);
    continue;
  }
  console.log(
    `${choice}: ${info.name}${info.adapter ? `, adapter ${info.adapter}` : ""} (init ${
      (performance.now() - t0).toFixed(0)
    } ms)`,
  );
  if (choice === "cpu") {
    console.log("  cpu: skipped timing (reference only: about 85 s per ResNet step on cpu)");
    continue;
  }
  const one = await measure(single, "joint");
  console.log(
    `  ResNet18 widths ${widths.join("-")}, batch ${B}x1x${S}x${S}: ${one.toFixed(1)} ms/step (${
      (B / one * 1000).toFixed(0)
    } samples/s)`,
  );
  await measure(pair, "joint"); // compiles the two-encoder shaders
  const plus = await measure(pair, "amss+");
  const joint = await measure(pair, "joint");
  console.log(
    `  two encoders: joint ${joint.toFixed(1)} ms/step, AMSS+ (HT) ${
      plus.toFixed(1)
    } ms/step, overhead ${(((plus - joint) / joint) * 100).toFixed(1)}%`,
  );
}
