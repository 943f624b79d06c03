/**
 * The training loop on problem data and problem runs: a last training batch of one sample (batch
 * norm), empty splits, unreadable evaluation samples, NaN in per-sample arrays, divergence found in
 * evaluation or in a step's outputs, the checkpoint of the selected epoch, and the collapse verdict
 * of the summary. Every dataset is tiny (in memory, or read through a test sample loader, or the
 * fixtures of fixtures/generate.ts in a temporary folder removed afterwards).
 */
import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  npyBytes,
  writeCremad,
  writeKineticsSounds,
  writeNvGesture,
  writeTextImage,
} from "../fixtures/generate.ts";
import { loadCremad } from "../src/data/cremad.ts";
import {
  type Dataset,
  type LazySplit,
  type ModalitySpec,
  type Split,
  subset,
} from "../src/data/dataset.ts";
import { loadDiskDataset } from "../src/data/disk_datasets.ts";
import { finishDataset, lazySplit } from "../src/data/files.ts";
import { loadKineticsSounds } from "../src/data/kinetics_sounds.ts";
import {
  batchStream,
  loadSample,
  registerSampleLoader,
  SampleLoadError,
} from "../src/data/loaders.ts";
import { readNpy } from "../src/data/npy.ts";
import { saveCheckpoint } from "../src/io/checkpoint.ts";
import { loadCheckpoint } from "../src/io/checkpoint.ts";
import { buildModel } from "../src/models/build.ts";
import { Rng } from "../src/rng.ts";
import type { TrainableModel } from "../src/train/trainable.ts";
import { collapseOf, DEFAULT_COLLAPSE_RULE } from "../src/train/collapse.ts";
import { evaluate } from "../src/train/evaluate.ts";
import { train, TrainingDivergedError } from "../src/train/trainer.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { tinySetup } from "./_tiny_trainable.ts";

await tf.setBackend("cpu");

const { model, base, ds } = tinySetup();

/** Runs `fn` with a fresh temporary folder that is removed afterwards. */
async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A test sample loader: the item carries the sample's values; `fail` makes it an unreadable sample
 * (a SampleLoadError, as a corrupt JPEG or WAV gives).
 */
registerSampleLoader("robust-test", (item) => {
  const it = item as { values: Record<string, number[]>; fail?: boolean; id: number };
  if (it.fail) return Promise.reject(new SampleLoadError(`sample-${it.id}.bin: corrupt`));
  return Promise.resolve(
    Object.fromEntries(Object.entries(it.values).map(([k, v]) => [k, Float32Array.from(v)])),
  );
});

/** An in-memory split as a lazy one read by the test loader; samples in `fail` are unreadable. */
function asLazy(split: Split, modalities: ModalitySpec[], fail: number[] = []): LazySplit {
  const items = Array.from({ length: split.n }, (_, i) => ({
    id: i,
    fail: fail.includes(i),
    values: Object.fromEntries(modalities.map((m) => {
      const s = m.shape.reduce((a, b) => a * b, 1);
      return [m.name, Array.from(split.inputs[m.name].subarray(i * s, (i + 1) * s))];
    })),
  }));
  return lazySplit("robust-test", items, Array.from(split.labels), {});
}

const first = (split: Split, n: number) =>
  subset(split, Int32Array.from({ length: n }, (_, i) => i), ds.modalities);

// ---------------------------------------------------------------------------------------------
// 1. a last training batch of one sample

Deno.test("a training set of n = 1 mod batchSize trains a batch-norm ResNet: the lone sample joins the last batch, steps and the LR schedule count real steps", async () => {
  // 33 samples in batches of 16: without the merge the third batch has one sample, which
  // training-mode batch norm refuses
  const rng = new Rng(11);
  const modalities: ModalitySpec[] = [
    { name: "audio", kind: "image", shape: [16, 16, 1] },
    { name: "visual", kind: "vector", shape: [6] },
  ];
  const make = (n: number): Split => {
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    return {
      n,
      labels,
      inputs: {
        audio: Float32Array.from({ length: n * 256 }, (_, j) => labels[j >> 8] + rng.normal()),
        visual: Float32Array.from({ length: n * 6 }, () => rng.normal()),
      },
    };
  };
  const data: Dataset<Split> = {
    name: "bn-33",
    modalities,
    classes: ["a", "b", "c"],
    train: make(33),
    val: make(6),
    test: make(6),
    valSource: "split",
    meta: {},
  };
  const resnet = () =>
    buildModel({
      modalities: [
        { name: "audio", kind: "resnet18", input: [16, 16, 1], options: { widths: [4, 4, 4, 4] } },
        { name: "visual", kind: "mlp", input: [6], options: { hidden: [8] } },
      ],
      fusion: "concat",
      numClasses: 3,
    });
  const s = await train({
    model: resnet(),
    dataset: data,
    method: "amss",
    optimizer: { kind: "sgd", lr: 0.1, milestones: [1, 2], gamma: 0.1 },
    epochs: 3,
    batchSize: 16,
    seed: 1,
    progress: "none",
  });
  assertEquals(s.history.map((r) => [r.steps, r.mergedSamples, r.skippedSamples]), [
    [2, 1, 0],
    [2, 1, 0],
    [2, 1, 0],
  ]);
  // step decay at epochs 1 and 2: with 2 steps an epoch the last step of epoch 3 (step 6) is in
  // epoch index 2, so the rate is 0.1 * 0.1^2; counting 3 steps an epoch would give 0.1 * 0.1
  assertAlmostEquals(s.history[2].lr, 0.001, 1e-12);
  assertAlmostEquals(s.history[1].lr, 0.01, 1e-12);
  // a train size that is not 1 mod 16 merges nothing
  const t = await train({
    model: resnet(),
    dataset: {
      ...data,
      train: subset(data.train, Int32Array.from({ length: 32 }, (_, i) => i), modalities),
    },
    method: "joint",
    optimizer: { kind: "sgd", lr: 0.1 },
    epochs: 1,
    batchSize: 16,
    seed: 1,
    progress: "none",
  });
  assertEquals([t.history[0].steps, t.history[0].mergedSamples], [2, 0]);
});

Deno.test("lazy splits: mergeSingleton merges a lone last sample; a training batch left with one readable sample is dropped and counted", async () => {
  const sizes = async (split: LazySplit, opts: Parameters<typeof batchStream>[3]) => {
    const out: number[][] = [];
    for await (const b of batchStream(split, ds.modalities, 16, opts)) {
      assertEquals(b.inputs.audio.shape, [b.labels.length, 12]);
      out.push(Array.from(b.index));
      tf.dispose(Object.values(b.inputs));
    }
    return out;
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const lazy33 = asLazy(first(ds.train, 33), ds.modalities);
  assertEquals(await sizes(lazy33, {}), [range(0, 16), range(16, 32), [32]]);
  assertEquals(await sizes(lazy33, { mergeSingleton: true }), [range(0, 16), range(16, 33)]);
  // 18 samples: the last batch is [16, 17]; sample 16 fails to decode, 17 is left alone
  const lazy18 = asLazy(first(ds.train, 18), ds.modalities, [16]);
  const skips: [number, string][] = [];
  const onSkip = (i: number, reason: string) => skips.push([i, reason]);
  assertEquals(await sizes(lazy18, { mergeSingleton: true, onSkip }), [range(0, 16)]);
  assertEquals(skips.map(([i]) => i), [16, 17]);
  assertStringIncludes(skips[0][1], "sample-16.bin: corrupt");
  assertStringIncludes(
    skips[1][1],
    "the only readable sample of its training batch (1 of 2 failed to decode)",
  );
  // evaluation passes (no mergeSingleton) keep it
  skips.length = 0;
  assertEquals(await sizes(lazy18, { onSkip }), [range(0, 16), [17]]);
  assertEquals(skips.map(([i]) => i), [16]);
});

// ---------------------------------------------------------------------------------------------
// 2. empty splits

Deno.test("train refuses an empty split, naming it, before any work", async () => {
  for (const s of ["train", "val", "test"] as const) {
    const empty = subset(ds[s], new Int32Array(0), ds.modalities);
    await assertRejects(
      () =>
        train({
          ...base,
          model: model(),
          method: "joint",
          epochs: 1,
          dataset: { ...ds, [s]: empty },
        }),
      AmssArgumentError,
      `dataset tiny: the ${s} split is empty (n = 0); expected at least 1 sample`,
    );
  }
});

Deno.test("real-dataset loaders: a split left empty after skipping rows, or an empty hold-out, is an error naming the list file", async () => {
  await withTempDir("robust-lists", async (root) => {
    const quiet = { log: () => {} };
    await writeCremad(`${root}/cremad`);
    await Deno.remove(`${root}/cremad/AudioWAV`, { recursive: true });
    await assertRejects(
      () => loadCremad(`${root}/cremad`, quiet),
      AmssArgumentError,
      `${root}/cremad/annotations/train.csv: no usable row, the split would be empty (`,
    );
    await writeKineticsSounds(`${root}/ks`);
    await Deno.remove(`${root}/ks/test_img`, { recursive: true });
    await assertRejects(
      () => loadKineticsSounds(`${root}/ks`, quiet),
      AmssArgumentError,
      `${root}/ks/annotations/test.csv: no usable row`,
    );
    await writeTextImage(`${root}/sarcasm`, "sarcasm");
    await Deno.remove(`${root}/sarcasm/images`, { recursive: true });
    await assertRejects(
      () => loadDiskDataset("sarcasm", `${root}/sarcasm`, quiet),
      AmssArgumentError,
      `${root}/sarcasm/annotations/train.tsv: no usable row`,
    );
    await writeNvGesture(`${root}/nv`);
    await Deno.remove(`${root}/nv/flow_data/test`, { recursive: true });
    const err = await assertRejects(
      () => loadDiskDataset("nvgesture", `${root}/nv`, quiet),
      AmssArgumentError,
      `${root}/nv/nvgesture_test_correct_v2.lst: no usable row`,
    );
    assertStringIncludes(err.message, "x flow .npy missing");
  });
  // one training sample leaves nothing to hold out
  const one = lazySplit("robust-test", [{}], [0], {});
  assertThrows(
    () =>
      finishDataset("x", ds.modalities, ["a", "b"], { train: one, test: one }, {}, {}, {
        train: "/lists/train.csv",
      }),
    AmssArgumentError,
    "/lists/train.csv: the validation part of the hold-out (valFraction 0.1 of 1 usable samples",
  );
});

// ---------------------------------------------------------------------------------------------
// 3. unreadable evaluation samples, NaN in per-sample arrays

Deno.test("evaluate skips unreadable samples and scores the others; a split with none readable is an error", async () => {
  const m = model();
  const { params, state } = m.init(5);
  try {
    const val = ds.val; // 40 samples
    const lazy = asLazy(val, ds.modalities, [3, 17]);
    const skipped: number[] = [];
    const got = await evaluate(m, params, state, lazy, ds, 16, undefined, {
      split: "val",
      onSkip: (i) => skipped.push(i),
    });
    const kept = Int32Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 3 && i !== 17);
    const want = await evaluate(m, params, state, subset(val, kept, ds.modalities), ds, 16);
    assertEquals(skipped, [3, 17]);
    assertEquals(got.skipped, 2);
    assertEquals(want.skipped, 0);
    assertEquals([got.acc, got.mAP, got.macroF1, got.branchAcc], [
      want.acc,
      want.mAP,
      want.macroF1,
      want.branchAcc,
    ]);
    assertAlmostEquals(got.loss!, want.loss!, 1e-6);
    // strict: the first failure is the error
    await assertRejects(
      () => evaluate(m, params, state, lazy, ds, 16, undefined, { strict: true }),
      SampleLoadError,
      "sample-3.bin: corrupt",
    );
    const dead = asLazy(first(val, 4), ds.modalities, [0, 1, 2, 3]);
    await assertRejects(
      () => evaluate(m, params, state, dead, ds, 16, undefined, { split: "tiny val" }),
      AmssArgumentError,
      "tiny val: none of its 4 samples could be read (4 skipped)",
    );
  } finally {
    tf.dispose([...Object.values(params), ...Object.values(state)]);
  }
});

Deno.test("a run whose val and test splits hold unreadable samples finishes, records the skips and says so", async () => {
  const lazyDs: Dataset = {
    ...ds,
    val: asLazy(ds.val, ds.modalities, [5]),
    test: asLazy(ds.test, ds.modalities, [0, 9]),
  };
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  let s;
  try {
    s = await train({
      ...base,
      model: model(),
      dataset: lazyDs,
      method: "joint",
      epochs: 2,
      progress: "plain",
    });
  } finally {
    console.log = log;
  }
  assertEquals(s.history.map((r) => [r.val.skipped, r.test.skipped]), [[1, 2], [1, 2]]);
  assert(
    lines.some((l) => /^skipped val sample 5: sample-5\.bin: corrupt/.test(l)),
    lines.join("\n"),
  );
  assert(
    lines.some((l) => l.includes("| skipped evaluation samples: val 1, test 2")),
    lines.join("\n"),
  );
  await assertRejects(
    () =>
      train({
        ...base,
        model: model(),
        dataset: lazyDs,
        method: "joint",
        epochs: 1,
        strictData: true,
      }),
    SampleLoadError,
    "sample-5.bin: corrupt",
  );
});

Deno.test("Kinetics-Sounds spectrograms and NVGesture flow holding NaN or Inf are SampleLoadErrors naming the file and value", async () => {
  await withTempDir("robust-nan", async (root) => {
    const quiet = { log: () => {} };
    await writeKineticsSounds(`${root}/ks`);
    const ks = await loadKineticsSounds(`${root}/ks`, { imageSize: 16, ...quiet });
    const spec = (ks.test as LazySplit).items[0] as { audio: string };
    const a = await readNpy(spec.audio);
    const bad = new Float32Array(a.data.length);
    bad[7] = NaN;
    await Deno.writeFile(spec.audio, npyBytes(bad, a.shape));
    await assertRejects(
      () => loadSample(ks.test as LazySplit, 0, null),
      SampleLoadError,
      `${spec.audio}: value 7 is NaN; expected finite numbers`,
    );
    // the other samples still load; in a batch the bad one is a counted skip
    const skipped: number[] = [];
    let n = 0;
    for await (
      const b of batchStream(ks.test, ks.modalities, 8, { onSkip: (i) => skipped.push(i) })
    ) {
      n += b.labels.length;
      tf.dispose(Object.values(b.inputs));
    }
    assertEquals([n, skipped], [ks.test.n - 1, [0]]);

    await writeNvGesture(`${root}/nv`);
    const nv = await loadDiskDataset("nvgesture", `${root}/nv`, {
      container: 8,
      clipFrames: 6,
      resize: 24,
      size: 16,
      ...quiet,
    });
    const flow = ((nv.test as LazySplit).items[1] as { flow: string }).flow;
    const f = await readNpy(flow);
    const inf = Float32Array.from(f.data);
    inf[100] = Infinity;
    await Deno.writeFile(flow, npyBytes(inf, f.shape));
    await assertRejects(
      () => loadSample(nv.test as LazySplit, 1, null),
      SampleLoadError,
      `${flow}: value 100 is Infinity`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 4. divergence beyond the training loss

/**
 * The tiny model with a fault injected from training step `from` on (counting training forward
 * passes): NaN evaluation outputs, or a NaN uni-modal prediction / infinite features in training
 * that the fused loss does not see.
 */
function faulty(kind: "eval" | "unimodal" | "features", from: number): TrainableModel {
  const inner = model();
  let steps = 0;
  return {
    ...inner,
    forward(p, s, inputs, opts) {
      const out = inner.forward(p, s, inputs, opts);
      if (opts?.training) steps++;
      if (steps < from) return out;
      if (kind === "eval" && !opts?.training) {
        return { ...out, logits: tf.mul(out.logits, NaN) as tf.Tensor2D };
      }
      if (kind === "unimodal" && opts?.training) {
        return { ...out, unimodal: [out.unimodal[0], tf.mul(out.unimodal[1], NaN) as tf.Tensor2D] };
      }
      if (kind === "features" && opts?.training) {
        return {
          ...out,
          features: [tf.add(out.features[0], Infinity) as tf.Tensor2D, out.features[1]],
        };
      }
      return out;
    },
  };
}

Deno.test("non-finite evaluation metrics are a divergence naming split and epoch; the message mentions only a checkpoint that exists", async () => {
  await withTempDir("robust-eval", async (dir) => {
    // epoch 1 already: no checkpoint yet
    const err = await assertRejects(
      () => train({ ...base, model: faulty("eval", 1), method: "joint", epochs: 3, outDir: dir }),
      TrainingDivergedError,
    );
    assertStringIncludes(
      err.message,
      "val evaluation after epoch 1 is not finite (loss = NaN, acc = NaN",
    );
    assertStringIncludes(err.message, "no checkpoint was written yet");
    assert(!err.message.includes("last good checkpoint"), err.message);
    const d = JSON.parse(await Deno.readTextFile(`${dir}/diverged.json`));
    assertEquals([d.lastGoodEpoch, d.checkpointKept, d.history.length], [0, false, 0]);
    assertEquals(await Deno.stat(`${dir}/checkpoint.json`).catch(() => null), null);
  });
  await withTempDir("robust-eval2", async (dir) => {
    // 160 samples / 16 = 10 steps an epoch: evaluation after epoch 2 is the first to see NaN
    const err = await assertRejects(
      () => train({ ...base, model: faulty("eval", 11), method: "joint", epochs: 3, outDir: dir }),
      TrainingDivergedError,
    );
    assertStringIncludes(err.message, "val evaluation after epoch 2 is not finite");
    assertStringIncludes(err.message, `the last good checkpoint (epoch 1) is kept in ${dir}`);
    const d = JSON.parse(await Deno.readTextFile(`${dir}/diverged.json`));
    assertEquals([d.lastGoodEpoch, d.checkpointKept], [1, true]);
  });
  // without a run folder nothing is written and the message says so
  const err = await assertRejects(
    () => train({ ...base, model: faulty("eval", 1), method: "joint", epochs: 1 }),
    TrainingDivergedError,
  );
  assertStringIncludes(err.message, "no checkpoint is written (no outDir)");
});

Deno.test("a NaN uni-modal prediction or infinite feature in a step is a divergence before the method's transformation runs", async () => {
  for (
    const [kind, what] of [
      ["unimodal", 'the uni-modal prediction of "visual": value 0 of 64 is NaN'],
      ["features", 'the features of "audio": value 0 of 128 is Infinity'],
    ] as const
  ) {
    for (const method of ["amss", "amss+", "joint"] as const) {
      const err = await assertRejects(
        () => train({ ...base, model: faulty(kind, 11), method, epochs: 2 }),
        TrainingDivergedError,
        undefined,
        `${kind} ${method}`,
      );
      assertStringIncludes(err.message, `${what} at epoch 2, step 11`, `${kind} ${method}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 5. the checkpoint of the selected epoch, 6. final metrics and the collapse verdict

Deno.test("checkpoints sharing a folder never delete each other's tensor files", async () => {
  await withTempDir("robust-ckpt", async (dir) => {
    const t = { x: tf.tensor1d([1, 2]) };
    try {
      await saveCheckpoint(dir, "checkpoint", "e1", t);
      await saveCheckpoint(dir, "best", "e1", t);
      await saveCheckpoint(dir, "a", "e1", t);
      await saveCheckpoint(dir, "a-b", "e1", t);
      await saveCheckpoint(dir, "checkpoint", "e2", t);
      await saveCheckpoint(dir, "a", "e2", t);
      const bins = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".bin"));
      assertEquals(bins.sort(), ["a-b-e1.bin", "a-e2.bin", "best-e1.bin", "checkpoint-e2.bin"]);
      await assertRejects(() => saveCheckpoint(dir, "a", "x-1", t), TypeError, 'no "-"');
    } finally {
      tf.dispose(t.x);
    }
  });
});

Deno.test("the selected epoch's weights are kept as `best`, the summary records the final epoch and flags the collapse, and a resumed run ends the same", async () => {
  // lr 0.05 for 3 epochs, then x60: epochs 4-5 wreck the model (loss up x1e4, test acc to chance)
  const opts = {
    ...base,
    method: "joint" as const,
    epochs: 5,
    optimizer: { kind: "sgd" as const, lr: 0.05, milestones: [3], gamma: 60 },
  };
  await withTempDir("robust-best", async (dir) => {
    const s = await train({ ...opts, model: model(), outDir: dir });
    assertEquals(s.bestEpoch, 3);
    const last = s.history[4];
    assertEquals(s.final, { epoch: 5, test: last.test, val: last.val, trainLoss: last.trainLoss });
    assertEquals(s.test, s.history[2].test, "the selected-epoch fields are unchanged");
    assertEquals(s.minTrainLoss, Math.min(...s.history.map((r) => r.trainLoss)));
    assertEquals(s.collapsed, true);
    assertEquals(s.collapseRule, { lossFactor: 10, accDrop: 0.05 });
    assert(
      /^final training loss [\d.]+ is more than 10 x its minimum [\d.]+; final test accuracy [\d.]+% is [\d.]+ points below the selected epoch 3's [\d.]+% \(more than 5\)$/
        .test(s.collapseReason!),
      s.collapseReason!,
    );
    const onDisk = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
    assertEquals([onDisk.collapsed, onDisk.final.epoch], [true, 5]);
    // best.json holds epoch 3 next to the resume checkpoint of epoch 5
    const best = JSON.parse(await Deno.readTextFile(`${dir}/best.json`));
    assertEquals([best.bin, best.tree.epoch], ["best-e3.bin", 3]);
    const bins = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".bin"));
    assertEquals(bins.sort(), ["best-e3.bin", "checkpoint-e5.bin"]);
    // its weights reproduce the selected epoch's test metrics
    const m = model();
    const { params, state } = m.init(99);
    try {
      const got = await loadCheckpoint(dir, "best", { epoch: 0, valAcc: 0, params, bn: state });
      assertEquals(got.epoch, 3);
      assertEquals(await evaluate(m, params, state, ds.test, ds, 128), s.test);
    } finally {
      tf.dispose([...Object.values(params), ...Object.values(state)]);
    }
    // a run killed after epoch 2 (before the best epoch) and resumed ends with the same files
    await withTempDir("robust-best-resume", async (dir2) => {
      const part = await train({ ...opts, model: model(), outDir: dir2, stopAfterEpoch: 2 });
      assertEquals(JSON.parse(await Deno.readTextFile(`${dir2}/best.json`)).tree.epoch, 2);
      assert(part.stoppedEarly);
      const r = await train({ ...opts, model: model(), outDir: dir2, resume: true });
      const strip = ({ msPerStep: _m, history, ...x }: typeof r) => ({
        ...x,
        history: history.map(({ msPerStep: _n, ...h }) => h),
      });
      assertEquals(strip(r), strip(s));
      assertEquals(
        await Deno.readFile(`${dir2}/best-e3.bin`),
        await Deno.readFile(`${dir}/best-e3.bin`),
      );
      assertEquals(
        JSON.parse(await Deno.readTextFile(`${dir2}/best.json`)),
        JSON.parse(await Deno.readTextFile(`${dir}/best.json`)),
      );
    });
  });
  // the rule is configurable and checked before anything runs
  const one = await train({ ...opts, model: model(), epochs: 1, collapse: { accDrop: 0.2 } });
  assertEquals([one.collapsed, one.collapseReason], [false, null]);
  assertEquals(one.collapseRule, { lossFactor: 10, accDrop: 0.2 });
  await assertRejects(
    () => train({ ...opts, model: model(), collapse: { lossFactor: 0.5 } }),
    AmssArgumentError,
    "collapse.lossFactor must be in [1,",
  );
});

Deno.test("collapseOf: the loss criterion, the accuracy criterion, both or neither", () => {
  const h = (losses: number[], accs: number[]) =>
    losses.map((trainLoss, i) => ({ epoch: i + 1, trainLoss, test: { acc: accs[i] } }));
  assertEquals(DEFAULT_COLLAPSE_RULE, { lossFactor: 10, accDrop: 0.05 });
  const none = collapseOf(h([1, 0.5, 0.4], [0.6, 0.8, 0.79]), 2);
  assertEquals(none, {
    collapsed: false,
    reason: null,
    minTrainLoss: 0.4,
    rule: { lossFactor: 10, accDrop: 0.05 },
  });
  const loss = collapseOf(h([1, 0.1036, 1529.8], [0.6, 0.8, 0.8]), 2);
  assertEquals(loss.collapsed, true);
  assertEquals(loss.reason, "final training loss 1529.8 is more than 10 x its minimum 0.1036");
  // exactly 10x is not more than 10x
  assertEquals(collapseOf(h([1, 0.1, 1], [0.6, 0.8, 0.8]), 2).collapsed, false);
  const acc = collapseOf(h([1, 0.5, 0.5], [0.6, 0.9, 0.8]), 2);
  assertEquals(
    acc.reason,
    "final test accuracy 80.00% is 10.00 points below the selected epoch 2's 90.00% (more than 5)",
  );
  // a drop of exactly 5 points (0.9 - 0.85 is 0.05000000000000004 in float64) is not a collapse
  assertEquals(collapseOf(h([1, 0.5, 0.5], [0.6, 0.9, 0.85]), 2).collapsed, false);
  assertEquals(collapseOf(h([1, 0.5, 0.5], [0.6, 0.9, 0.8]), 2, { accDrop: 0.1 }).collapsed, false);
  const both = collapseOf(h([1, 0.5, 50], [0.6, 0.9, 0.3]), 2);
  assertEquals(both.reason!.split("; ").length, 2);
  // a minimum at or below 0 bounds nothing: only the accuracy criterion applies
  assertEquals(collapseOf(h([-0.2, -0.1, 3], [0.6, 0.8, 0.8]), 2).collapsed, false);
  // the selected epoch need not be the last; the final one is
  assertEquals(collapseOf(h([0.5], [0.7]), 1).collapsed, false);
  assertThrows(() => collapseOf([], 1), AmssArgumentError, "the history is empty");
  assertThrows(
    () => collapseOf(h([1], [0.5]), 4),
    AmssArgumentError,
    "bestEpoch 4 is not in the history (epochs 1)",
  );
  assertThrows(
    () => collapseOf(h([NaN], [0.5]), 1),
    AmssArgumentError,
    "epoch 1 has trainLoss NaN",
  );
  assertThrows(
    () => collapseOf(h([1], [0.5]), 1, { accDrop: 2 }),
    AmssArgumentError,
    "collapse.accDrop",
  );
});
