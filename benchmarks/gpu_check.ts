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
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/select.ts";
import { buildModel, type ModelSpec } from "../src/models/build.ts";
import { modalBatchFromOutputs, variableGradsByName } from "../src/models/model.ts";
import { createMethod, type MethodName } from "../src/train/methods.ts";
import { chain, disposeState, sgd, step } from "../src/transform.ts";

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(spec: ModelSpec, method: MethodName): Promise<number> {
  const model = buildModel(spec);
  const { params, state } = model.init(1);
  const m = createMethod(method, { scale: "horvitz-thompson", tau: 0.25 }, {
    modalities: model.modalities,
    params,
    rules: (u) => model.unitRules(u),
    seed: 1,
  });
  const opt = chain(
    ...(m.transform ? [m.transform] : []),
    sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }),
  );
  const optState = opt.init(params);
  const inputs = Object.fromEntries(
    model.modalities.map((mod, i) => [mod, tf.randomNormal([B, S, S, 1], 0, 1, "float32", 3 + i)]),
  );
  const labels = Int32Array.from({ length: B }, (_, i) => i % C);
  const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), C);
  const ts: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const t0 = performance.now();
    let kept: tf.Tensor[] = [];
    const { value, grads } = variableGradsByName(params, () => {
      const o = model.forward(params, state, inputs, { training: true });
      kept = [...o.unimodal, ...o.features].map((x) => tf.keep(x));
      return tf.losses.softmaxCrossEntropy(onehot, o.logits) as tf.Scalar;
    });
    const loss = (await value.data())[0];
    const K = model.modalities.length;
    const batch = await modalBatchFromOutputs(
      { unimodal: kept.slice(0, K) as tf.Tensor2D[], features: kept.slice(K) as tf.Tensor2D[] },
      labels,
      C,
    );
    await step(params, grads, opt, optState, i + 1, { batch });
    await Object.values(params)[0].data(); // wait for the update to finish on the device
    tf.dispose([value, ...Object.values(grads), ...kept]);
    if (!Number.isFinite(loss)) throw new Error(`loss ${loss} at step ${i + 1}`);
    if (i >= 2) ts.push(performance.now() - t0);
  }
  disposeState(optState);
  tf.dispose([...Object.values(params), ...Object.values(state), ...Object.values(inputs), onehot]);
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
