/**
 * In-memory multi-modal datasets and seeded mini-batching. A dataset is a few splits; a split holds
 * one float32 array per modality (samples stacked along the first axis) and integer labels.
 * Nothing here knows about models or AMSS: data flows one way, a batch in, a step record out.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../rng.ts";
import { AmssArgumentError, requireInRange, requireInt } from "../validate.ts";

/**
 * How a modality's samples are shaped: `image` [H, W, C], `frames` [T, H, W, C], `vector` [D],
 * `sequence` [L, D], `tokens` [L] (integer token ids stored as floats).
 */
export type ModalityKind = "image" | "frames" | "vector" | "sequence" | "tokens";

/** One modality of a dataset. */
export interface ModalitySpec {
  /** Modality name (the key of its inputs). */
  name: string;
  /** How its samples are shaped. */
  kind: ModalityKind;
  /** Shape of ONE sample (without the batch axis). */
  shape: number[];
}

/** One split held in memory: `n` samples. `inputs[m]` has n * prod(shape) floats, sample-major. */
export interface Split {
  /** Number of samples. */
  n: number;
  /** Class id of each sample. */
  labels: Int32Array;
  /** Per modality, the n samples stacked along the first axis. */
  inputs: Record<string, Float32Array>;
}

/**
 * One split read from disk sample by sample (real datasets: decode, then augment when training).
 * It is plain data (loader name, items, options) so that a worker can rebuild it: `loader` names an
 * entry of the sample-loader registry (./loaders.ts), which turns `items[i]` into one sample.
 */
export interface LazySplit {
  /** Number of samples. */
  n: number;
  /** Class id of each sample. */
  labels: Int32Array;
  /** Registry name of the sample loader. */
  loader: string;
  /** One JSON-able descriptor per sample (file paths, frame lists, ...). */
  items: unknown[];
  /** Loader options shared by all samples (sizes, normalisation, train/test transform). */
  options: Record<string, unknown>;
  /**
   * Per-modality sample shapes that differ from the dataset's (frame count at evaluation, e.g.
   * NVGesture tests on all 80 frames of the clips it trains on 64 of).
   */
  shapes?: Record<string, number[]>;
}

/** A split of either kind. */
export type AnySplit = Split | LazySplit;

/** True for a split read from disk per sample. */
export function isLazy(split: AnySplit): split is LazySplit {
  return (split as LazySplit).loader !== undefined;
}

/** A dataset with train/val/test splits (in memory: `Dataset<Split>`; read from disk: lazy). */
export interface Dataset<S extends AnySplit = AnySplit> {
  /** Dataset name, for reports. */
  name: string;
  /** The modalities, in input order. */
  modalities: ModalitySpec[];
  /** Class names; a label is an index into them. */
  classes: string[];
  /** Training split. */
  train: S;
  /** Validation split (model selection). */
  val: S;
  /** Test split (reported, never used for selection). */
  test: S;
  /** Where val came from: a split of its own, or a seeded hold-out of train. */
  valSource: "split" | "held-out";
  /** Free-form description of how the data was made (generator config, source folder). */
  meta: Record<string, unknown>;
}

/** One mini-batch, as tensors (the caller disposes them, e.g. with {@link disposeBatch}). */
export interface Batch {
  /** Per modality, the samples `[B, ...shape]`. */
  inputs: Record<string, tf.Tensor>;
  /** Class id of each sample. */
  labels: Int32Array;
  /** Indices of the samples in their split. */
  index: Int32Array;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Checks a split against the modality specs; errors name the split, modality and what is wrong. */
export function validateSplit(
  name: string,
  split: AnySplit,
  modalities: readonly ModalitySpec[],
  numClasses: number,
): void {
  requireInt(`${name}.n`, split.n, 0);
  if (split.labels.length !== split.n) {
    throw new AmssArgumentError(
      `${name}.labels has ${split.labels.length} entries, expected n = ${split.n}`,
    );
  }
  for (let i = 0; i < split.n; i++) {
    const y = split.labels[i];
    if (!(y >= 0 && y < numClasses)) {
      throw new AmssArgumentError(
        `${name}.labels[${i}] = ${y} is not a class id in [0, ${numClasses})`,
      );
    }
  }
  if (isLazy(split)) {
    if (split.items.length !== split.n) {
      throw new AmssArgumentError(
        `${name} lists ${split.items.length} samples, expected n = ${split.n}`,
      );
    }
    return;
  }
  for (const m of modalities) {
    const data = split.inputs[m.name];
    if (!data) {
      throw new AmssArgumentError(`${name} has no input for modality ${JSON.stringify(m.name)}`);
    }
    const expected = split.n * sizeOf(m.shape);
    if (data.length !== expected) {
      throw new AmssArgumentError(
        `${name}.inputs.${m.name} has ${data.length} values, expected n * ${
          JSON.stringify(m.shape)
        } = ${expected}`,
      );
    }
  }
}

/** Picks samples `idx` of a split into a new split (copies). */
export function subset(
  split: Split,
  idx: ArrayLike<number>,
  modalities: readonly ModalitySpec[],
): Split {
  const n = idx.length;
  const inputs: Record<string, Float32Array> = {};
  for (const m of modalities) {
    const s = sizeOf(m.shape);
    const src = split.inputs[m.name];
    const dst = new Float32Array(n * s);
    for (let i = 0; i < n; i++) dst.set(src.subarray(idx[i] * s, idx[i] * s + s), i * s);
    inputs[m.name] = dst;
  }
  return { n, labels: Int32Array.from(idx, (i) => split.labels[i]), inputs };
}

/** Picks samples `idx` of a split of either kind (lazy splits share their items and options). */
export function subsetAny<S extends AnySplit>(
  split: S,
  idx: ArrayLike<number>,
  modalities: readonly ModalitySpec[],
): S {
  if (!isLazy(split)) return subset(split, idx, modalities) as S;
  return {
    ...split,
    n: idx.length,
    labels: Int32Array.from(idx, (i) => split.labels[i]),
    items: Array.from(idx, (i) => split.items[i]),
  };
}

/** The first `limit` samples of a split (smoke runs: `--limit`); the split itself when shorter. */
export function limitSplit<S extends AnySplit>(
  split: S,
  limit: number,
  modalities: readonly ModalitySpec[],
): S {
  requireInt("limit", limit, 1);
  if (split.n <= limit) return split;
  return subsetAny(split, Int32Array.from({ length: limit }, (_, i) => i), modalities);
}

/**
 * Holds out a seeded, stratified `fraction` of `train` as validation (used when a dataset has no val
 * split: model selection must never look at test). Returns the remaining train and the val split.
 */
export function holdOut<S extends AnySplit>(
  train: S,
  fraction: number,
  seed: number,
  modalities: readonly ModalitySpec[],
): { train: S; val: S } {
  requireInRange("fraction", fraction, 0, 1, true);
  const rng = new Rng(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < train.n; i++) {
    const list = byClass.get(train.labels[i]) ?? [];
    list.push(i);
    byClass.set(train.labels[i], list);
  }
  const val: number[] = [];
  const rest: number[] = [];
  const classes = [...byClass.entries()].sort((a, b) => a[0] - b[0]);
  // per-class quotas by the largest-remainder rule, so that the total is round(n * fraction) (at
  // least 1 when train has 2 samples or more) also when every class is small
  const total = train.n >= 2 ? Math.max(1, Math.round(train.n * fraction)) : 0;
  const exact = classes.map(([, l]) => l.length * fraction);
  const quota = exact.map(Math.floor);
  const order = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) =>
    b[0] - a[0] || a[1] - b[1]
  );
  for (let j = 0, left = total - quota.reduce((a, b) => a + b, 0); left > 0; j++) {
    const i = order[j % order.length][1];
    if (quota[i] < classes[i][1].length - 1 || classes.length === 1) {
      quota[i]++;
      left--;
    } else if (j > 4 * order.length) break;
  }
  classes.forEach(([, list], c) => {
    rng.shuffle(list);
    val.push(...list.slice(0, quota[c]));
    rest.push(...list.slice(quota[c]));
  });
  val.sort((a, b) => a - b);
  rest.sort((a, b) => a - b);
  return { train: subsetAny(train, rest, modalities), val: subsetAny(train, val, modalities) };
}

/** How a split is cut into mini-batches (see {@link batchRanges}). */
export interface BatchPlanOptions {
  /** Drops the last batch when it is shorter than `batchSize`. */
  dropLast?: boolean;
  /**
   * Training passes: when `batchSize > 1`, `n > 1` and `n % batchSize === 1`, the lone last sample
   * joins the batch before it (which then has `batchSize + 1` samples) instead of forming a batch
   * of one, which training-mode batch norm cannot normalise (one value per channel). Ignored with
   * `dropLast`, which drops that sample anyway.
   */
  mergeSingleton?: boolean;
}

/** True when {@link batchRanges} merges a lone last sample into the batch before it. */
export function mergesSingleton(
  n: number,
  batchSize: number,
  opts: BatchPlanOptions = {},
): boolean {
  return !!opts.mergeSingleton && !opts.dropLast && batchSize > 1 && n > 1 &&
    n % batchSize === 1;
}

/**
 * The `[start, end)` positions of each mini-batch of `n` samples (positions in the pass's order):
 * consecutive runs of `batchSize`, the last one shorter unless `dropLast` drops it, or one longer
 * when `mergeSingleton` merges a lone last sample into it. Its length is the number of steps.
 */
export function batchRanges(
  n: number,
  batchSize: number,
  opts: BatchPlanOptions = {},
): [number, number][] {
  requireInt("n", n, 0);
  requireInt("batchSize", batchSize, 1);
  const out: [number, number][] = [];
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    if (opts.dropLast && end - start < batchSize) break;
    out.push([start, end]);
  }
  if (mergesSingleton(n, batchSize, opts)) {
    out.pop();
    out[out.length - 1][1] = n;
  }
  return out;
}

/**
 * Mini-batches of a split in a seeded order (`shuffle`), as tensors shaped `[B, ...shape]`.
 * The last partial batch is kept unless `dropLast`; `mergeSingleton` (training) merges a last batch
 * of one sample into the batch before it ({@link BatchPlanOptions}).
 */
export function* batches(
  split: Split,
  modalities: readonly ModalitySpec[],
  batchSize: number,
  opts: { rng?: Rng } & BatchPlanOptions = {},
): Generator<Batch> {
  requireInt("batchSize", batchSize, 1);
  const order = Int32Array.from({ length: split.n }, (_, i) => i);
  if (opts.rng) opts.rng.shuffle(order);
  for (const [start, end] of batchRanges(split.n, batchSize, opts)) {
    const index = order.slice(start, end);
    const picked = subset(split, index, modalities);
    const inputs: Record<string, tf.Tensor> = {};
    for (const m of modalities) {
      inputs[m.name] = tf.tensor(picked.inputs[m.name], [index.length, ...m.shape]);
    }
    yield { inputs, labels: picked.labels, index };
  }
}

/** Disposes a batch's tensors. */
export function disposeBatch(b: Batch): void {
  tf.dispose(Object.values(b.inputs));
}

/**
 * Views an image-like modality as a vector `[prod(shape)]` (the stored values are already flat, so
 * nothing is copied): lets MLP encoders take small images.
 */
export function flattenModality<S extends AnySplit>(ds: Dataset<S>, name: string): Dataset<S> {
  const i = ds.modalities.findIndex((m) => m.name === name);
  if (i < 0) {
    throw new AmssArgumentError(
      `flattenModality: no modality ${JSON.stringify(name)} in ${ds.name}`,
    );
  }
  const modalities = ds.modalities.map((m, j) =>
    j === i
      ? { name: m.name, kind: "vector" as const, shape: [m.shape.reduce((a, b) => a * b, 1)] }
      : m
  );
  return { ...ds, modalities };
}
