/**
 * In-memory multi-modal datasets and seeded mini-batching. A dataset is a few splits; a split holds
 * one float32 array per modality (samples stacked along the first axis) and integer labels.
 * Nothing here knows about models or AMSS (design.md: data flows one way, batch in, record out).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../rng.ts";
import { AmssArgumentError, requireInRange, requireInt } from "../validate.ts";

/** How a modality's samples are shaped: `image` [H, W, C], `frames` [T, H, W, C], `vector` [D], `sequence` [L, D]. */
export type ModalityKind = "image" | "frames" | "vector" | "sequence";

/** One modality of a dataset. */
export interface ModalitySpec {
  name: string;
  kind: ModalityKind;
  /** Shape of ONE sample (without the batch axis). */
  shape: number[];
}

/** One split: `n` samples. `inputs[m]` has n * prod(shape) floats, sample-major. */
export interface Split {
  n: number;
  labels: Int32Array;
  inputs: Record<string, Float32Array>;
}

/** A dataset with train/val/test splits. */
export interface Dataset {
  name: string;
  modalities: ModalitySpec[];
  classes: string[];
  train: Split;
  val: Split;
  test: Split;
  /** Where val came from: a split of its own, or a seeded hold-out of train. */
  valSource: "split" | "held-out";
  /** Free-form description of how the data was made (generator config, source folder). */
  meta: Record<string, unknown>;
}

/** One mini-batch, as tensors (the caller disposes them, e.g. with {@link disposeBatch}). */
export interface Batch {
  inputs: Record<string, tf.Tensor>;
  labels: Int32Array;
  /** Indices of the samples in their split. */
  index: Int32Array;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Checks a split against the modality specs; errors name the split, modality and what is wrong. */
export function validateSplit(
  name: string,
  split: Split,
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

/**
 * Holds out a seeded, stratified `fraction` of `train` as validation (used when a dataset has no val
 * split: model selection must never look at test). Returns the remaining train and the val split.
 */
export function holdOut(
  train: Split,
  fraction: number,
  seed: number,
  modalities: readonly ModalitySpec[],
): { train: Split; val: Split } {
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
  for (const [, list] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    rng.shuffle(list);
    const k = Math.round(list.length * fraction);
    val.push(...list.slice(0, k));
    rest.push(...list.slice(k));
  }
  val.sort((a, b) => a - b);
  rest.sort((a, b) => a - b);
  return { train: subset(train, rest, modalities), val: subset(train, val, modalities) };
}

/**
 * Mini-batches of a split in a seeded order (`shuffle`), as tensors shaped `[B, ...shape]`.
 * The last partial batch is kept unless `dropLast`.
 */
export function* batches(
  split: Split,
  modalities: readonly ModalitySpec[],
  batchSize: number,
  opts: { rng?: Rng; dropLast?: boolean } = {},
): Generator<Batch> {
  requireInt("batchSize", batchSize, 1);
  const order = Int32Array.from({ length: split.n }, (_, i) => i);
  if (opts.rng) opts.rng.shuffle(order);
  for (let start = 0; start < split.n; start += batchSize) {
    const end = Math.min(split.n, start + batchSize);
    if (opts.dropLast && end - start < batchSize) break;
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
export function flattenModality(ds: Dataset, name: string): Dataset {
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
