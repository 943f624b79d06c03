/**
 * How much the choice of uni-modal prediction q(y|x_k) changes AMSS's update ratios (README, "Which
 * uni-modal prediction"). Trains one joint concat model (two MLP encoders, plain SGD, no masking)
 * on the embedded synthetic dataset and, at a few epochs, computes rho per test batch of 64 (the
 * paper's significance, tau 0.25, one step, so no momentum) from two choices of q(y|x_k):
 *
 * - `zeroed`: the concat head with the other modality's features zeroed (what the paper and this
 *   package's models use for concat fusion);
 * - `linear`: a linear head per modality fitted (softmax regression, 300 full-batch Adam steps) on
 *   that modality's frozen training features, i.e. a separate uni-modal probe.
 *
 * Prints mean rho_audio (rho_visual = 1 - rho_audio) and the mean absolute difference per batch.
 * Run: `deno run --allow-read --allow-env benchmarks/rho_by_prediction.ts` (deterministic).
 */
import * as tf from "@tensorflow/tfjs";
import {
  chain,
  initialPaperSignificanceState,
  modalBatch,
  paperSignificance,
  Rng,
  sgd,
  step,
} from "@amss-ts/amss";
import { initBackend } from "@amss-ts/amss/backend";
import { batches, DEFAULT_SYNTHETIC, disposeBatch, generateSynthetic } from "@amss-ts/amss/data";
import { buildModel } from "@amss-ts/amss/models";

await initBackend("auto");
const ds = generateSynthetic(DEFAULT_SYNTHETIC);
const C = DEFAULT_SYNTHETIC.numClasses, names = ["audio", "visual"];
const model = buildModel({
  modalities: [
    { name: "audio", kind: "mlp", input: [256] },
    { name: "visual", kind: "mlp", input: [24] },
  ],
  fusion: "concat",
  numClasses: C,
});
const { params, state: bn } = model.init(1);
const flat = (inputs: Record<string, tf.Tensor>) => ({
  audio: inputs.audio.reshape([inputs.audio.shape[0], 256]),
  visual: inputs.visual,
});
const opt = chain(sgd({ lr: 0.02, momentum: 0.9 }));
const optState = opt.init(params);

/** Features of a whole split, per modality. */
function featuresOf(split: typeof ds.train): Record<string, tf.Tensor2D> {
  return tf.tidy(() => {
    const x = flat({
      audio: tf.tensor(split.inputs.audio, [split.n, 256]),
      visual: tf.tensor(split.inputs.visual, [split.n, 24]),
    });
    const out = model.forward(params, bn, x, { training: false });
    return { audio: out.features[0], visual: out.features[1] };
  });
}

/** A softmax-regression head per modality on frozen training features. */
function linearHeads(feats: Record<string, tf.Tensor2D>, labels: Int32Array) {
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), C).toFloat();
  const heads: Record<string, { w: tf.Variable; b: tf.Variable }> = {};
  for (const m of names) {
    const w = tf.variable(tf.zeros([feats[m].shape[1], C])), b = tf.variable(tf.zeros([C]));
    const adam = tf.train.adam(0.05);
    for (let i = 0; i < 300; i++) {
      adam.minimize(
        () => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(feats[m], w), b)) as tf.Scalar,
        false,
      );
    }
    adam.dispose();
    heads[m] = { w, b };
  }
  y.dispose();
  return heads;
}

async function measure(epoch: number): Promise<void> {
  const trainFeats = featuresOf(ds.train);
  const heads = linearHeads(trainFeats, ds.train.labels);
  tf.dispose(Object.values(trainFeats));
  const rho: Record<string, number[]> = { zeroed: [], linear: [] };
  for (const b of batches(ds.test, ds.modalities, 64)) {
    const x = flat(b.inputs);
    const out = model.forward(params, bn, x, { training: false });
    const features = { audio: out.features[0], visual: out.features[1] };
    const linear = Object.fromEntries(
      names.map((m) => [m, tf.add(tf.matMul(features[m as "audio"], heads[m].w), heads[m].b)]),
    );
    for (
      const [kind, preds] of [
        ["zeroed", { audio: out.unimodal[0], visual: out.unimodal[1] }],
        ["linear", linear],
      ] as const
    ) {
      const batch = await modalBatch({ labels: b.labels, predictions: preds, features }, names);
      const { result } = paperSignificance(batch, initialPaperSignificanceState(), {
        tau: 0.25,
        entropyFloor: 1e-3,
      });
      rho[kind].push(result.ratios[0]);
    }
    tf.dispose([...Object.values(out).flat(), ...Object.values(linear), ...Object.values(x)]);
    disposeBatch(b);
  }
  for (const h of Object.values(heads)) tf.dispose([h.w, h.b]);
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const diff = mean(rho.zeroed.map((z, i) => Math.abs(z - rho.linear[i])));
  console.log(
    `epoch ${epoch}: mean rho_audio zeroed-concat ${mean(rho.zeroed).toFixed(3)}, ` +
      `linear probe ${mean(rho.linear).toFixed(3)}, mean |difference| per batch ${
        diff.toFixed(3)
      } (${rho.zeroed.length} test batches of 64)`,
  );
}

let t = 0;
const rng = new Rng(1);
for (let epoch = 1; epoch <= 10; epoch++) {
  for (const b of batches(ds.train, ds.modalities, 64, { rng })) {
    const x = flat(b.inputs);
    const labels = tf.oneHot(tf.tensor1d(b.labels, "int32"), C).toFloat();
    const { value, grads } = tf.variableGrads(
      () =>
        tf.losses.softmaxCrossEntropy(
          labels,
          model.forward(params, bn, x, { training: true }).logits,
        ) as tf.Scalar,
      Object.values(params),
    );
    await step(params, grads, opt, optState, ++t);
    tf.dispose([value, labels, ...Object.values(grads), ...Object.values(x)]);
    disposeBatch(b);
  }
  if (epoch === 1 || epoch === 3 || epoch === 10) await measure(epoch);
}
