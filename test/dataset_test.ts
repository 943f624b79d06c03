import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import {
  batches,
  batchRanges,
  disposeBatch,
  holdOut,
  mergesSingleton,
  subset,
  validateSplit,
} from "../src/data/dataset.ts";
import {
  DEFAULT_SYNTHETIC,
  generateSynthetic,
  type SyntheticConfig,
} from "../src/data/synthetic.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";

await tf.setBackend("cpu");

const small: SyntheticConfig = { ...DEFAULT_SYNTHETIC, nTrain: 120, nVal: 30, nTest: 60, seed: 5 };

Deno.test("the synthetic generator is deterministic in its seed and valid in every split", () => {
  const a = generateSynthetic(small);
  const b = generateSynthetic(small);
  const c = generateSynthetic({ ...small, seed: 6 });
  assertEquals(a.train.inputs.audio, b.train.inputs.audio);
  assertEquals(a.test.labels, b.test.labels);
  assertNotEquals(a.train.inputs.visual, c.train.inputs.visual);
  for (const s of ["train", "val", "test"] as const) {
    validateSplit(s, a[s], a.modalities, a.classes.length);
  }
  assertEquals(a.modalities.map((m) => m.shape), [[16, 16, 1], [24]]);
  // balanced labels: i % C before a shuffle
  const counts = new Array(6).fill(0);
  for (const y of a.train.labels) counts[y]++;
  assertEquals(counts, new Array(6).fill(20));
});

Deno.test("a sample is signal * prototype + noise: class means separate by the configured SNR, confusable pairs do not", () => {
  // With noise 1 and prototypes of unit RMS, the class-mean difference of two distinct classes has
  // RMS about signal * sqrt(2) (random prototypes); a confusable pair shares its prototype, so its
  // class means differ only by noise: RMS about sqrt(2/m) for m samples per class.
  const cfg: SyntheticConfig = {
    ...small,
    nTrain: 6000,
    modalities: [
      { name: "a", kind: "vector", shape: [64], signal: 1, noise: 1, confusablePairs: 1 },
      { name: "b", kind: "vector", shape: [64], signal: 1, noise: 1 },
    ],
  };
  const ds = generateSynthetic(cfg);
  const mean = (mod: string, cls: number) => {
    const out = new Float64Array(64);
    let n = 0;
    for (let i = 0; i < ds.train.n; i++) {
      if (ds.train.labels[i] !== cls) continue;
      n++;
      for (let j = 0; j < 64; j++) out[j] += ds.train.inputs[mod][i * 64 + j];
    }
    return out.map((v) => v / n);
  };
  const rmsDiff = (x: Float64Array, y: Float64Array) =>
    Math.sqrt(x.reduce((s, v, j) => s + (v - y[j]) ** 2, 0) / 64);
  const m = 1000; // samples per class
  const noiseOnly = Math.sqrt(2 / m); // ~0.045
  assert(
    rmsDiff(mean("a", 0), mean("a", 1)) < 3 * noiseOnly,
    "confusable pair (0, 1) shares its prototype",
  );
  assert(rmsDiff(mean("b", 0), mean("b", 1)) > 0.5, "distinct prototypes separate the class means");
  assert(rmsDiff(mean("a", 2), mean("a", 3)) > 0.5, "only the first pair is confusable");
});

Deno.test("holdOut takes a seeded, stratified slice of train and keeps the rest disjoint", () => {
  const ds = generateSynthetic(small);
  const { train, val } = holdOut(ds.train, 0.25, 9, ds.modalities);
  assertEquals(train.n + val.n, ds.train.n);
  assertEquals(val.n, 30); // 20 per class * 0.25 rounded = 5 per class * 6
  const again = holdOut(ds.train, 0.25, 9, ds.modalities);
  assertEquals(again.val.labels, val.labels);
  assertEquals(again.val.inputs.audio, val.inputs.audio);
  const counts = new Array(6).fill(0);
  for (const y of val.labels) counts[y]++;
  assertEquals(counts, new Array(6).fill(5));
});

Deno.test("batches cover every sample exactly once per epoch, in a seeded order, with the right shapes", () => {
  const ds = generateSynthetic(small);
  const seen = new Array(ds.train.n).fill(0);
  const order: number[] = [];
  for (const b of batches(ds.train, ds.modalities, 32, { rng: new Rng(1) })) {
    assertEquals(b.inputs.audio.shape.slice(1), [16, 16, 1]);
    assertEquals(b.inputs.visual.shape, [b.labels.length, 24]);
    const first = b.inputs.visual.dataSync()[0];
    assertAlmostEquals(first, ds.train.inputs.visual[b.index[0] * 24], 0);
    b.index.forEach((i, j) => {
      seen[i]++;
      order.push(i);
      assertEquals(b.labels[j], ds.train.labels[i]);
    });
    disposeBatch(b);
  }
  assert(seen.every((c) => c === 1));
  const again: number[] = [];
  for (const b of batches(ds.train, ds.modalities, 32, { rng: new Rng(1) })) {
    again.push(...b.index);
    disposeBatch(b);
  }
  assertEquals(again, order);
  let count = 0;
  for (const b of batches(ds.train, ds.modalities, 50, { dropLast: true })) {
    count++;
    assertEquals(b.labels.length, 50);
    disposeBatch(b);
  }
  assertEquals(count, 2);
});

Deno.test("batchRanges: a lone last sample joins the batch before it only with mergeSingleton", () => {
  const merge = { mergeSingleton: true };
  assertEquals(batchRanges(33, 16), [[0, 16], [16, 32], [32, 33]]);
  assertEquals(batchRanges(33, 16, merge), [[0, 16], [16, 33]]);
  assertEquals(batchRanges(17, 16, merge), [[0, 17]]);
  // nothing to merge: other remainders, a batch size of 1, a single sample, dropLast
  assertEquals(batchRanges(34, 16, merge), [[0, 16], [16, 32], [32, 34]]);
  assertEquals(batchRanges(32, 16, merge), [[0, 16], [16, 32]]);
  assertEquals(batchRanges(3, 1, merge), [[0, 1], [1, 2], [2, 3]]);
  assertEquals(batchRanges(1, 16, merge), [[0, 1]]);
  assertEquals(batchRanges(33, 16, { ...merge, dropLast: true }), [[0, 16], [16, 32]]);
  assertEquals(batchRanges(0, 16, merge), []);
  assertEquals(
    [[33, 16], [17, 16], [34, 16], [3, 1], [1, 16]].map(([n, b]) => mergesSingleton(n, b, merge)),
    [true, true, false, false, false],
  );
  assertEquals(mergesSingleton(33, 16), false);
  // the default bench: 2400 training samples in batches of 32 are cut as before
  assertEquals(batchRanges(2400, 32, merge), batchRanges(2400, 32));
});

Deno.test("batches with mergeSingleton: same order, every sample once, no batch of one", () => {
  const ds = generateSynthetic(small);
  const split = subset(ds.train, Int32Array.from({ length: 33 }, (_, i) => i), ds.modalities);
  const run = (mergeSingleton: boolean) => {
    const sizes: number[] = [];
    const order: number[] = [];
    for (const b of batches(split, ds.modalities, 16, { rng: new Rng(4), mergeSingleton })) {
      sizes.push(b.labels.length);
      assertEquals(b.inputs.visual.shape, [b.labels.length, 24]);
      b.index.forEach((i, j) => {
        order.push(i);
        assertEquals(b.labels[j], split.labels[i]);
      });
      disposeBatch(b);
    }
    return { sizes, order };
  };
  const plain = run(false), merged = run(true);
  assertEquals(plain.sizes, [16, 16, 1]);
  assertEquals(merged.sizes, [16, 17]);
  assertEquals(merged.order, plain.order, "the seeded order is unchanged");
  assertEquals([...merged.order].sort((a, b) => a - b), Array.from({ length: 33 }, (_, i) => i));
});

Deno.test("bad generator configs and malformed splits give errors naming the field", () => {
  assertThrows(
    () => generateSynthetic({ ...small, numClasses: 1 }),
    AmssArgumentError,
    "numClasses",
  );
  assertThrows(
    () => generateSynthetic({ ...small, modalities: [small.modalities[0]] }),
    AmssArgumentError,
    "at least 2 modalities",
  );
  assertThrows(
    () =>
      generateSynthetic({
        ...small,
        modalities: [{ ...small.modalities[0], shape: [16, 16] }, small.modalities[1]],
      }),
    AmssArgumentError,
    "modalities[0].shape must be [H, W, C]",
  );
  assertThrows(
    () =>
      generateSynthetic({
        ...small,
        modalities: [small.modalities[0], { ...small.modalities[1], noise: 0 }],
      }),
    AmssArgumentError,
    "modalities[1].noise must be > 0",
  );
  const ds = generateSynthetic(small);
  assertThrows(
    () =>
      validateSplit("test", { ...ds.test, labels: ds.test.labels.map(() => 9) }, ds.modalities, 6),
    AmssArgumentError,
    "test.labels[0] = 9 is not a class id in [0, 6)",
  );
  assertThrows(
    () =>
      validateSplit(
        "val",
        { ...ds.val, inputs: { ...ds.val.inputs, visual: new Float32Array(3) } },
        ds.modalities,
        6,
      ),
    AmssArgumentError,
    "val.inputs.visual has 3 values, expected n * [24] = 720",
  );
});
