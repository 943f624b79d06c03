/**
 * Training-step speed: ms per training step of a narrow ResNet18 next to PyTorch, and the AMSS
 * and AMSS+ overhead per step over joint training:
 *
 * 1. One narrow ResNet18 (widths 16-32-64-128, BasicBlocks, BN) + linear head, batch 16 x 1 x 128
 *    x 128, one SGD step (momentum 0.9, weight decay 1e-4): tfjs on the chosen backend vs PyTorch
 *    (Debian's python3-torch, 2 and 1 threads), timed interleaved in rounds in this one run. Skipped
 *    with a message when PyTorch is absent.
 * 2. A two-modality model (two such encoders, concat head): joint vs AMSS vs AMSS+ (HT) steps on
 *    the same batch, interleaved; overhead = (method - joint) / joint.
 * 3. The importance measure on that model: AMSS+ (HT) with the authors' squared mini-batch gradient
 *    (`gn`) or the paper's per-sample Fisher (`fisher`, Sec. 3.2.2), normalised per layer or over
 *    the modality: ms per step, and the Fisher pass's share.
 *
 *   deno task bench speed [--backend wasm] [--threads 1] [--compare-threads 2] [--rounds 3] [--steps 5]
 *
 * `--threads N` (default: `AMSS_WASM_THREADS`, else 1) runs tfjs wasm on N XNNPACK threads
 * (src/backend/wasm_threads.ts; falls back to 1 thread, noted, if they cannot start).
 * `--compare-threads M` (default 2; 0 turns it off) also times tfjs wasm on M threads in a worker
 * (./_speed_worker.ts: its own tfjs and wasm backend), interleaved in the same rounds, so both
 * thread counts meet PyTorch under the same machine load.
 */
import { describeBackend, initBackend } from "../src/backend/select.ts";
import type { ModelSpec } from "../src/models/build.ts";
import type { MethodName, MethodOptions } from "../src/train/methods.ts";
import { makeStepper, median } from "./_stepper.ts";
import { parseCommand } from "./args.ts";

// run directly or as `deno task bench speed` (whose flag table checks the same flags)
const cmd = parseCommand(["speed", ...Deno.args.filter((a, i) => i > 0 || a !== "speed")]);
if (cmd.kind !== "speed") throw new Error("bench speed: unexpected command");
const { rounds, steps: stepsPerRound } = cmd;
const WIDTHS = [16, 32, 64, 128];
const B = 16, S = 128, C = 6;

const compareThreads = cmd.compareThreads;
const backend = await initBackend(cmd.backend, {
  fallback: "auto",
  threads: cmd.threads,
});
console.log(`backend ${backend.name}; ${backend.notes.join("; ")}`);

function encoder(name: string) {
  return { name, kind: "resnet18" as const, input: [S, S, 1], options: { widths: WIDTHS } };
}

async function timeSteps(s: { run(): Promise<number> }, n: number): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < n; i++) ts.push(await s.run());
  return median(ts);
}

// ---- 1. tfjs vs PyTorch on one encoder
const single: ModelSpec = { modalities: [encoder("audio")], fusion: "concat", numClasses: C };
const tfStep = makeStepper(single, "joint", 1, B, C);
await tfStep.run();
await tfStep.run();

interface TorchProc {
  child: Deno.ChildProcess;
  ask(n: number): Promise<number>;
  quit(): Promise<void>;
}
async function startTorch(threads: number): Promise<TorchProc | string> {
  const script = new URL("./torch_resnet.py", import.meta.url).pathname;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("/usr/bin/python3", {
      args: [script, String(threads), String(B), String(S), WIDTHS.join(",")],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return `PyTorch comparison skipped: /usr/bin/python3 could not start (${(e as Error).message})`;
  }
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let buf = "";
  const readLine = async (): Promise<string | null> => {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return null;
      buf += value;
    }
    const i = buf.indexOf("\n");
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    return line;
  };
  const first = await readLine();
  if (first !== "ready") {
    const err = await new Response(child.stderr).text().catch(() => "");
    return `PyTorch comparison skipped: Debian's python3-torch is not installed (apt-get install python3-torch)${
      err ? ` [${err.trim().split("\n").pop()}]` : ""
    }`;
  }
  return {
    child,
    async ask(n: number) {
      await writer.write(new TextEncoder().encode(`run ${n}\n`));
      const line = await readLine();
      return Number(line?.split(" ")[1]);
    },
    async quit() {
      await writer.write(new TextEncoder().encode("quit\n"));
      await writer.close();
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await child.status;
    },
  };
}

interface TfjsWorker {
  label: string;
  ask(n: number): Promise<number>;
  quit(): void;
}
/** tfjs wasm on `threads` threads in a worker, or a line saying why not. */
async function startTfjsWorker(threads: number): Promise<TfjsWorker | string> {
  const w = new Worker(new URL("./_speed_worker.ts", import.meta.url).href, { type: "module" });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        resolve({ error: e.message });
      };
    });
  const ready = next();
  w.postMessage({ init: { threads, spec: single, batch: B, classes: C } });
  const r = await ready;
  if (r.error || r.threads !== threads) {
    w.terminate();
    return `tfjs on ${threads} threads skipped: ${r.error ?? `the worker got ${r.threads}`}`;
  }
  return {
    label: String(r.ready),
    async ask(n: number) {
      const answer = next();
      w.postMessage({ run: n });
      const a = await answer;
      if (a.error) throw new Error(`speed worker: ${a.error}`);
      return Number(a.ms);
    },
    quit() {
      w.postMessage({ quit: true });
    },
  };
}
const tfMore = backend.name === "wasm" && compareThreads > 0 && compareThreads !== backend.threads
  ? await startTfjsWorker(compareThreads)
  : null;

const torch2 = await startTorch(2);
const torch1 = typeof torch2 === "string" ? torch2 : await startTorch(1);
const results: Record<string, number[]> = {
  tfjs: [],
  tfjsMore: [],
  "torch 2 threads": [],
  "torch 1 thread": [],
};
for (let r = 0; r < rounds; r++) {
  results.tfjs.push(await timeSteps(tfStep, stepsPerRound));
  if (tfMore && typeof tfMore !== "string") results.tfjsMore.push(await tfMore.ask(stepsPerRound));
  if (typeof torch2 !== "string") results["torch 2 threads"].push(await torch2.ask(stepsPerRound));
  if (typeof torch1 !== "string") results["torch 1 thread"].push(await torch1.ask(stepsPerRound));
}
tfStep.dispose();
console.log(
  `\nnarrow ResNet18 (widths ${
    WIDTHS.join("-")
  }), batch ${B} x 1 x ${S} x ${S}, SGD step; medians of ${rounds} interleaved rounds x ${stepsPerRound} steps:`,
);
const tfMs = median(results.tfjs);
const tfName = describeBackend(backend);
console.log(`  tfjs ${tfName}: ${tfMs.toFixed(1)} ms/step`);
const tfRows: [string, number][] = [[tfName, tfMs]];
if (tfMore && typeof tfMore !== "string") {
  const ms = median(results.tfjsMore);
  console.log(
    `  tfjs ${tfMore.label}, in a worker: ${ms.toFixed(1)} ms/step (${(tfMs / ms).toFixed(2)}x)`,
  );
  tfRows.push([tfMore.label, ms]);
} else if (typeof tfMore === "string") console.log(`  ${tfMore}`);
for (const key of ["torch 2 threads", "torch 1 thread"]) {
  if (results[key].length) {
    const ms = median(results[key]);
    const ratios = tfRows.map(([n, t]) => `tfjs ${n} / PyTorch = ${(t / ms).toFixed(2)}`);
    console.log(`  PyTorch ${key.slice(6)}: ${ms.toFixed(1)} ms/step  (${ratios.join("; ")})`);
  }
}
if (typeof torch2 === "string") console.log(`  ${torch2}`);
if (tfMore && typeof tfMore !== "string") tfMore.quit();
for (const p of [torch2, torch1]) if (typeof p !== "string") await p.quit();

// ---- 2. AMSS overhead on a two-modality model
const pair: ModelSpec = {
  modalities: [encoder("audio"), encoder("visual")],
  fusion: "concat",
  numClasses: C,
};
// AMSS with the paper's units (App. C.2: conv channels, and element-wise everything else of the
// encoders, e.g. batch-norm parameters) and with the authors' selection (3x3 convs of layer1-4)
const variants: [string, MethodName, "paper" | "reference"][] = [
  ["joint", "joint", "paper"],
  ["AMSS, paper units", "amss", "paper"],
  ["AMSS+ (HT), paper units", "amss+", "paper"],
  ["AMSS, reference units", "amss", "reference"],
  ["AMSS+ (HT), reference units", "amss+", "reference"],
];
const steppers = Object.fromEntries(
  variants.map(([label, m, units]) => [label, makeStepper(pair, m, 2, B, C, units)]),
);
for (const s of Object.values(steppers)) {
  await s.run();
  await s.run();
}
// Whole steps vary by several % between rounds on a shared machine, more than the overhead itself,
// so the overhead is also measured on the update part of each step (method transform + SGD +
// apply; the forward/backward is the same for every method), which is far less noisy.
const times: Record<string, number[]> = Object.fromEntries(variants.map(([l]) => [l, []]));
const updates: Record<string, number[]> = Object.fromEntries(variants.map(([l]) => [l, []]));
for (let r = 0; r < rounds; r++) {
  for (const [m, s] of Object.entries(steppers)) {
    for (let i = 0; i < stepsPerRound; i++) {
      times[m].push(await s.run());
      updates[m].push(s.lastUpdateMs);
    }
  }
}
const joint = median(times.joint);
const jointUpdate = median(updates.joint);
// Interference from other processes only ever adds time, so the fastest update part of each
// method is also reported: the difference of minima estimates the intrinsic cost of the transform.
const jointUpdateMin = Math.min(...updates.joint);
console.log(
  `\ntwo narrow ResNet18 encoders (audio + visual), concat head, batch ${B}; medians of ${rounds} interleaved rounds:`,
);
console.log(`  joint: ${joint.toFixed(1)} ms/step (update part ${jointUpdate.toFixed(1)} ms)`);
for (const [label] of variants.slice(1)) {
  const ms = median(times[label]);
  const extra = median(updates[label]) - jointUpdate;
  const extraMin = Math.min(...updates[label]) - jointUpdateMin;
  console.log(
    `  ${label}: ${ms.toFixed(1)} ms/step (whole-step difference ${
      (((ms - joint) / joint) * 100).toFixed(2)
    }%); update part +${extra.toFixed(1)} ms = overhead ${
      ((extra / joint) * 100).toFixed(2)
    }% (target <= 1%); fastest update parts +${extraMin.toFixed(1)} ms = ${
      ((extraMin / joint) * 100).toFixed(2)
    }%`,
  );
}
for (const s of Object.values(steppers)) s.dispose();

// ---- 3. The importance measure (Sec. 3.2.2): the authors' squared mini-batch gradient (`gn`)
// against the paper's diagonal empirical Fisher of the uni-modal log-likelihood (`fisher`: one more
// forward pass and one backward pass to the inputs per step, per-sample squared gradients from each
// layer's inputs and output gradients), each normalised per layer or over the modality; same model
// and batch as section 2, AMSS+ (HT), interleaved with joint steps.
const importanceVariants: [string, "paper" | "reference", MethodOptions][] = [
  ["gn, layer (default), reference units", "reference", {}],
  ["gn, modality, reference units", "reference", { normalise: "modality" }],
  ["fisher, layer, reference units", "reference", { importance: "fisher" }],
  ["fisher, modality, reference units", "reference", {
    importance: "fisher",
    normalise: "modality",
  }],
  ["fisher, layer, paper units", "paper", { importance: "fisher" }],
];
const jointStepper = makeStepper(pair, "joint", 2, B, C);
const impSteppers = importanceVariants.map(([, units, extra]) =>
  makeStepper(pair, "amss+", 2, B, C, units, extra)
);
for (const s of [jointStepper, ...impSteppers]) {
  await s.run();
  await s.run();
}
const impTimes = importanceVariants.map(() => [] as number[]);
const impFisher = importanceVariants.map(() => [] as number[]);
const impUpdate = importanceVariants.map(() => [] as number[]);
const jointTimes: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < stepsPerRound; i++) jointTimes.push(await jointStepper.run());
  for (const [v, s] of impSteppers.entries()) {
    for (let i = 0; i < stepsPerRound; i++) {
      impTimes[v].push(await s.run());
      impFisher[v].push(s.lastFisherMs);
      impUpdate[v].push(s.lastUpdateMs);
    }
  }
}
const joint3 = median(jointTimes);
console.log(
  `\nimportance measure (Sec. 3.2.2), AMSS+ (HT), same model and batch; medians of ${rounds} interleaved rounds:`,
);
console.log(`  joint: ${joint3.toFixed(1)} ms/step`);
for (const [v, [label]] of importanceVariants.entries()) {
  const ms = median(impTimes[v]);
  console.log(
    `  importance ${label}: ${ms.toFixed(1)} ms/step (${
      (((ms - joint3) / joint3) * 100).toFixed(1)
    }% over joint); Fisher pass ${median(impFisher[v]).toFixed(1)} ms, update part ${
      median(impUpdate[v]).toFixed(1)
    } ms`,
  );
}
for (const s of [jointStepper, ...impSteppers]) s.dispose();
