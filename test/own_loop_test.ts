/**
 * A researcher's own training loop, written from the README alone: a two-encoder tfjs model in a
 * plain parameter dictionary, `tf.variableGrads`, `modalBatch` and `chain(amss, sgd)` through
 * `step`, importing only the package's entry points.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import {
  amss,
  chain,
  modalBatch,
  modalityByPrefix,
  paperUnits,
  planMasks,
  sgd,
  step,
} from "@amss-ts/amss";
import { initBackend } from "@amss-ts/amss/backend";

const B = 64, C = 3, H = 8, DA = 6, DV = 6;

/** Audio carries the label cleanly, visual weakly: audio dominates. */
function data(seed: number) {
  const labels = Array.from({ length: B }, (_, i) => i % C);
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), C).toFloat();
  const proj = (d: number, noise: number, s: number) =>
    tf.add(
      tf.matMul(y, tf.randomNormal([C, d], 0, 1, "float32", s)),
      tf.randomNormal([B, d], 0, noise, "float32", s + 1),
    );
  return { labels, y, xa: proj(DA, 0.3, seed), xv: proj(DV, 3, seed + 2) };
}

Deno.test("an own training loop (two tfjs encoders, tf.variableGrads, modalBatch, chain(amss, sgd)) trains and is checked", async () => {
  await initBackend("auto"); // wasm with the fused SGD kernel where it loads
  const init = (shape: number[], s: number) =>
    tf.variable(tf.randomNormal(shape, 0, 0.3, "float32", s));
  const params = {
    "audio/w": init([DA, H], 1),
    "audio/b": init([H], 2),
    "visual/w": init([DV, H], 3),
    "visual/b": init([H], 4),
    "fusion/w": init([2 * H, C], 5),
    "fusion/b": init([C], 6),
  };
  const forward = (xa: tf.Tensor, xv: tf.Tensor) => {
    const fa = tf.relu(tf.add(tf.matMul(xa, params["audio/w"]), params["audio/b"]));
    const fv = tf.relu(tf.add(tf.matMul(xv, params["visual/w"]), params["visual/b"]));
    const head = (a: tf.Tensor, v: tf.Tensor) =>
      tf.add(tf.matMul(tf.concat([a, v], 1), params["fusion/w"]), params["fusion/b"]);
    // concat fusion: a modality's uni-modal prediction is the fused head, other features zeroed
    return {
      logits: head(fa, fv),
      qa: head(fa, tf.zerosLike(fv)),
      qv: head(tf.zerosLike(fa), fv),
      fa,
      fv,
    };
  };
  const plan = planMasks(params, {
    modalities: ["audio", "visual"],
    modalityOf: modalityByPrefix(["audio", "visual"]),
    unitOf: paperUnits,
  });
  // no momentum: a unit masked this step must not move at all
  const optimizer = chain(
    amss({ plan, significance: { mode: "paper", tau: 0.25 }, seed: 1, recordSelection: true }),
    sgd({ lr: 0.2 }),
  );
  const state = optimizer.init(params);
  const { labels, y, xa, xv } = data(10);
  const losses: number[] = [];
  let dominated = 0;
  for (let t = 1; t <= 30; t++) {
    let out!: ReturnType<typeof forward>;
    const { value, grads } = tf.variableGrads(() => {
      out = forward(xa, xv);
      Object.values(out).forEach((x) => tf.keep(x));
      return tf.losses.softmaxCrossEntropy(y, out.logits) as tf.Scalar;
    }, Object.values(params));
    losses.push((await value.data())[0]);
    const batch = await modalBatch(
      {
        labels,
        predictions: { visual: out.qv, audio: out.qa },
        features: { audio: out.fa, visual: out.fv },
      },
      plan,
    );
    const before = Object.fromEntries(
      Object.entries(params).map(([k, p]) => [k, p.dataSync().slice()]),
    );
    // grads are keyed by tf.Variable names: step reconciles them with the dictionary's keys
    const info = await step(params, grads, optimizer, state, t, { batch });
    const { ratios, kept, masks, maxWeight } = info.amss!;
    assert(ratios.audio >= 0 && ratios.audio <= 1 && ratios.visual >= 0 && ratios.visual <= 1);
    assert(
      Math.abs(ratios.audio + ratios.visual - 1) < 1e-9,
      `K = 2: ratios sum to 1, got ${ratios}`,
    );
    if (ratios.audio < ratios.visual) dominated++;
    assertEquals(maxWeight, 1); // AMSS: a 0/1 mask
    for (const [group, [k, n]] of Object.entries(kept)) {
      const m = masks![group], now = params[group as keyof typeof params].dataSync();
      assertEquals(m.filter((v) => v > 0).length, k, `${group} keeps ${k} of ${n}`);
      for (let j = 0; j < n; j++) {
        if (m[j] === 0) assertEquals(now[j], before[group][j], `${group}[${j}] masked but moved`);
      }
    }
    tf.dispose([value, ...Object.values(grads), ...Object.values(out)]);
  }
  assert(
    dominated >= 25,
    `audio (the clean modality) should get the smaller ratio, did ${dominated}/30`,
  );
  const mean = (a: number[]) => a.reduce((x, z) => x + z, 0) / a.length;
  assert(
    mean(losses.slice(-5)) < 0.8 * mean(losses.slice(0, 5)),
    `loss did not decrease: ${losses}`,
  );

  // the mistakes a researcher makes, each with an error that says what is wrong
  const out = forward(xa, xv);
  const swapped = await modalBatch({ labels, predictions: { audio: out.qa, visual: out.qv } }, [
    "visual",
    "audio",
  ]);
  const grads = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, forward(xa, xv).logits) as tf.Scalar,
    Object.values(params),
  ).grads;
  await assertRejects(
    () => step(params, grads, optimizer, state, 31, { batch: swapped }),
    Error,
    "visual, audio (in that order), but the plan's are audio, visual",
  );
  await assertRejects(
    () => modalBatch({ labels, predictions: { audio: out.qa, video: out.qv } }, plan),
    Error,
    "predictions is keyed audio, video, expected the plan's modalities audio, visual; missing visual; unknown video",
  );
  const batch = await modalBatch({
    labels,
    predictions: { audio: out.qa, visual: out.qv },
    features: { audio: out.fa, visual: out.fv },
  }, plan);
  const renamed: Record<string, tf.Tensor> = {
    ...grads,
    "audio/weights": grads[params["audio/w"].name],
  };
  delete renamed[params["audio/w"].name];
  await assertRejects(
    () => step(params, renamed, optimizer, state, 31, { batch }),
    Error,
    "audio/weights is neither a parameter key nor a parameter's tf.Variable name; expected the parameter keys audio/w, audio/b",
  );
  // a misspelled extra is a type error (and, at run time, a missing batch)
  await assertRejects(
    // @ts-expect-error: `bacth` is not a StepExtras name
    () => step(params, grads, optimizer, state, 31, { bacth: batch }),
    Error,
    "extras.batch",
  );
  // the parameters are not the optimizer's state: a type error, and at run time one that says so
  await assertRejects(
    // @ts-expect-error: params is not the chain's state (unknown[])
    () => step(params, grads, optimizer, params, 31, { batch }),
    Error,
    "not this chain's state",
  );
  tf.dispose([y, xa, xv, ...Object.values(out), ...Object.values(grads), ...Object.values(params)]);
});
