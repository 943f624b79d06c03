/**
 * Cost of the whole AMSS step (importance reduction, sampling, mask build and apply) on a
 * ResNet18-sized parameter set, next to one plain pass over the same gradients (the target: AMSS
 * work at most 2x that pass, and no full-gradient download to JS).
 *
 * Parameter set: the 20 conv kernels of one ResNet18 for 1-channel input (stem 7x7, 16 3x3 convs
 * in layer1..4, 3 1x1 downsample convs): 11.17 M floats, 4,800 output channels, all masked
 * channel-wise; kernels alternate between two modalities so that both have layers of every width.
 *
 *   deno run -A benchmarks/amss_step.ts [--backend wasm|cpu] [--reps 20]
 *
 * Prints one line per measurement and a summary line with the ratio.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../src/backend/select.ts";
import { parseCommand } from "./args.ts";
import { amss } from "../src/amss/amss.ts";
import { planMasks } from "../src/amss/groups.ts";
import { applyUnitScale, groupImportance } from "../src/amss/units.ts";
import { Rng } from "../src/rng.ts";
import {
  chain,
  type GradientTransformation,
  type Params,
  sgd,
  SGD_STEP_KERNEL,
  type TensorMap,
  type UpdateContext,
} from "../src/transform.ts";

// run directly or as `deno task bench engine` (whose flag table checks the same flags)
const cmd = parseCommand(["engine", ...Deno.args.filter((a, i) => i > 0 || a !== "engine")]);
if (cmd.kind !== "engine") throw new Error("bench engine: unexpected command");
const { backend, reps } = cmd;
// as training sets it up: on wasm with our kernels (the fused SGD one among them)
await initBackend(backend);

/** [kh, kw, in, out] of ResNet18's convs (1-channel input). */
function resnet18Convs(): [string, number[]][] {
  const convs: [string, number[]][] = [["stem", [7, 7, 1, 64]]];
  let cin = 64;
  for (const [stage, width] of [[1, 64], [2, 128], [3, 256], [4, 512]]) {
    for (let block = 0; block < 2; block++) {
      convs.push([`layer${stage}.${block}.conv1`, [3, 3, block === 0 ? cin : width, width]]);
      convs.push([`layer${stage}.${block}.conv2`, [3, 3, width, width]]);
      if (block === 0 && cin !== width) {
        convs.push([`layer${stage}.0.downsample`, [1, 1, cin, width]]);
      }
    }
    cin = width;
  }
  return convs;
}

const rng = new Rng(1);
const params: Params = {};
const grads: TensorMap = {};
let floats = 0, channels = 0;
for (const [i, [name, shape]] of resnet18Convs().entries()) {
  const key = `${i % 2 === 0 ? "audio" : "visual"}/${name}`;
  const n = shape.reduce((a, b) => a * b, 1);
  const g = new Float32Array(n);
  for (let j = 0; j < n; j++) g[j] = rng.normal() * 1e-3;
  params[key] = tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.05, "float32", 1 + i)));
  grads[key] = tf.tensor(g, shape);
  floats += n;
  channels += shape[3];
}
console.log(
  `backend ${tf.getBackend()}; ${Object.keys(grads).length} conv kernels, ${
    (floats / 1e6).toFixed(2)
  } M floats, ${channels} channels`,
);

const plan = planMasks(params, {
  modalities: ["audio", "visual"],
  modalityOf: (n) => n.split("/")[0],
  unitOf: () => ({ kind: "channel" }),
});

/** Runs the cases round-robin (interleaved, so machine noise hits all alike) and prints medians. */
async function timeInterleaved(
  cases: [string, () => Promise<void>][],
): Promise<Record<string, number>> {
  for (let i = 0; i < 3; i++) for (const [, fn] of cases) await fn(); // warm-up
  const ts: Record<string, number[]> = Object.fromEntries(cases.map(([l]) => [l, []]));
  for (let i = 0; i < reps; i++) {
    for (const [label, fn] of cases) {
      const t0 = performance.now();
      await fn();
      ts[label].push(performance.now() - t0);
    }
  }
  const med: Record<string, number> = {};
  for (const [label, xs] of Object.entries(ts)) {
    xs.sort((a, b) => a - b);
    med[label] = xs[Math.floor(xs.length / 2)];
    console.log(
      `${label.padEnd(44)} median ${med[label].toFixed(2)} ms  (min ${xs[0].toFixed(2)}, max ${
        xs[xs.length - 1].toFixed(2)
      }, n=${reps})`,
    );
  }
  return med;
}

// Every case ends by downloading the same small tensor (the stem's 3,136 floats) so that async
// backends finish their queue; on wasm every op has already run synchronously.
const SMALL = "audio/stem";

// The reference: one elementwise pass (read + write) over every gradient.
const PLAIN = "plain pass (g * 0.5 over all gradients)";
const cases: [string, () => Promise<void>][] = [[PLAIN, async () => {
  const out = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, 0.5)]));
  await out[SMALL].data();
  tf.dispose(Object.values(out));
}]];
// Its parts, for the breakdown: the per-unit reduction with its one download, and the masking.
cases.push(["  part: importance (square, pool, 1 download)", async () => {
  const scores = tf.tidy(() =>
    tf.concat(
      plan.groups.map((g) =>
        groupImportance([{ grad: grads[g.id], spec: { kind: "channel" } }], "gn")
      ),
    )
  );
  await scores.data();
  scores.dispose();
}]);
const ones = Object.fromEntries(plan.groups.map((g) => [g.id, tf.ones([g.units]) as tf.Tensor1D]));
cases.push(["  part: mask apply (broadcast multiply)", async () => {
  const out = tf.tidy(() =>
    Object.fromEntries(
      plan.groups.map((g) => [g.id, applyUnitScale(grads[g.id], ones[g.id], { kind: "channel" })]),
    )
  );
  await out[SMALL].data();
  tf.dispose(Object.values(out));
}]);
// In training AMSS runs chained before SGD; on wasm the fused SGD kernel then applies the mask as
// it steps (src/transform.ts UnitScale), so what AMSS adds to a step is the last two's difference.
const SGD_ALONE = "SGD update alone (momentum, weight decay)";
const SGD_AMSS = "chain(AMSS HT, SGD) update";
const sgdOpts = { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 };
const transforms: [string, GradientTransformation][] = [
  ...(["none", "horvitz-thompson"] as const).map((scale): [string, GradientTransformation] => [
    `AMSS step (adaptive, scale ${scale})`,
    amss({ plan, scale, seed: 1 }),
  ]),
  [SGD_ALONE, sgd(sgdOpts)],
  [SGD_AMSS, chain(amss({ plan, scale: "horvitz-thompson", seed: 1 }), sgd(sgdOpts))],
];
for (const [label, t] of transforms) {
  const state = t.init(params);
  let stepNo = 0;
  cases.push([label, async () => {
    const ctx: UpdateContext = {
      params,
      grads,
      step: ++stepNo,
      extras: { ratios: { audio: 0.3, visual: 0.7 } },
      info: {},
    };
    const out = await t.update(grads, state, ctx);
    await out[SMALL].data();
    for (const [k, v] of Object.entries(out)) if (v !== grads[k]) v.dispose();
  }]);
}
const before = tf.memory().numTensors;
const med = await timeInterleaved(cases);
console.log(`tensors alive before/after the timed runs: ${before}/${tf.memory().numTensors}`);
for (const [label, ms] of Object.entries(med)) {
  if (label.startsWith("AMSS step")) {
    console.log(`ratio ${label} / plain pass = ${(ms / med[PLAIN]).toFixed(2)}  (target <= 2)`);
  }
}
const folded = med[SGD_AMSS] - med[SGD_ALONE];
console.log(
  `AMSS inside chain(amss, sgd): +${folded.toFixed(2)} ms over SGD alone = ${
    (folded / med[PLAIN]).toFixed(2)
  } plain passes${
    tf.getKernel(SGD_STEP_KERNEL, tf.getBackend()) ? " (mask applied by the fused SGD kernel)" : ""
  }`,
);
