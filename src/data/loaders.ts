/**
 * Reading real datasets sample by sample: the sample-loader registry, a pool of decode workers and
 * the prefetching batch stream the trainer consumes.
 *
 * - A {@link LazySplit} is plain data (loader name, one descriptor per sample, shared options), so
 *   the same sample can be decoded on the main thread or in a worker that rebuilt the registry.
 * - Augmentation randomness is a function of (augmentation seed, sample index) only, never of the
 *   order in which samples are decoded: prefetching, worker count and resuming do not change what a
 *   sample looks like in a given epoch.
 * - A sample that fails to decode mid-epoch (corrupt file, wrong sample rate) is dropped from its
 *   batch with one log line naming the file, and counted; `strict` turns that into an error. Bad
 *   data is thus a counted skip, never a crash that loses the epoch. In training passes
 *   (`mergeSingleton`), a batch left with one readable sample is dropped the same way (counted,
 *   with a reason saying so): training-mode batch norm cannot normalise a batch of one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../rng.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import {
  type AnySplit,
  type Batch,
  batches,
  type BatchPlanOptions,
  batchRanges,
  isLazy,
  type ModalitySpec,
} from "./dataset.ts";
import type { LazySplit } from "./dataset.ts";

/** Turns one sample descriptor into the sample's arrays (one per modality, shape of the spec). */
export type SampleLoader = (
  item: unknown,
  options: Record<string, unknown>,
  rng: Rng | null,
) => Promise<Record<string, Float32Array>>;

const REGISTRY = new Map<string, SampleLoader>();

/** Registers a sample loader under `name` (dataset modules do this when imported). */
export function registerSampleLoader(name: string, loader: SampleLoader): void {
  REGISTRY.set(name, loader);
}

/** The loader registered under `name`; an error lists the known ones. */
export function sampleLoader(name: string): SampleLoader {
  const l = REGISTRY.get(name);
  if (!l) {
    throw new AmssArgumentError(
      `no sample loader ${JSON.stringify(name)} (known: ${[...REGISTRY.keys()].join(", ")})`,
    );
  }
  return l;
}

/** A sample that could not be read; the message names the file. */
export class SampleLoadError extends Error {
  /** An error whose `message` names the file and why it could not be read. */
  constructor(message: string) {
    super(message);
    this.name = "SampleLoadError";
  }
}

/** Seed of sample `index`'s augmentation in an epoch whose augmentation seed is `seed`. */
export function sampleSeed(seed: number, index: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
}

/** Loads sample `i` of a lazy split on this thread (`augmentSeed` null: no augmentation). */
export function loadSample(
  split: LazySplit,
  i: number,
  augmentSeed: number | null,
): Promise<Record<string, Float32Array>> {
  const rng = augmentSeed === null ? null : new Rng(sampleSeed(augmentSeed, i));
  return sampleLoader(split.loader)(split.items[i], split.options, rng);
}

/** Something that loads samples: the main thread ({@link loadSample}) or a {@link WorkerPool}. */
export interface SampleReader {
  /** Sample `i` of `split`, augmented with `augmentSeed` (null: the test-time transform). */
  load(
    split: LazySplit,
    i: number,
    augmentSeed: number | null,
  ): Promise<Record<string, Float32Array>>;
}

const mainThread: SampleReader = { load: loadSample };

interface Pending {
  resolve: (v: Record<string, Float32Array>) => void;
  reject: (e: Error) => void;
}

/**
 * Decode workers (Deno Workers running ./sample_worker.ts, which imports every dataset module).
 * JPEG/WAV decoding is plain JavaScript: on the main thread it would stall the training step, in a
 * worker it runs on another core while the step runs. Requests go round-robin; results come back
 * as transferred buffers.
 */
export class WorkerPool implements SampleReader {
  #workers: Worker[] = [];
  #pending = new Map<number, Pending>();
  #next = 0;
  #id = 0;
  #splits = new WeakMap<LazySplit, number>();
  #splitId = 0;

  /** Starts `size` decode workers (1 to 64). */
  constructor(size: number) {
    requireInt("workers", size, 1, 64);
    for (let w = 0; w < size; w++) {
      const worker = new Worker(new URL("./sample_worker.ts", import.meta.url).href, {
        type: "module",
      });
      worker.onmessage = (e: MessageEvent) => {
        const { id, sample, error } = e.data as {
          id: number;
          sample?: Record<string, Float32Array>;
          error?: { name: string; message: string };
        };
        const p = this.#pending.get(id);
        if (!p) return;
        this.#pending.delete(id);
        if (sample) p.resolve(sample);
        else {
          p.reject(
            error?.name === "SampleLoadError"
              ? new SampleLoadError(error.message)
              : new Error(error?.message ?? "sample worker failed"),
          );
        }
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        const err = new Error(`sample worker crashed: ${e.message}`);
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      };
      this.#workers.push(worker);
    }
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /** Sample `i` of `split`, decoded by the next worker in turn. */
  load(
    split: LazySplit,
    i: number,
    augmentSeed: number | null,
  ): Promise<Record<string, Float32Array>> {
    let sid = this.#splits.get(split);
    const w = this.#workers[this.#next++ % this.#workers.length];
    if (sid === undefined) {
      sid = ++this.#splitId;
      this.#splits.set(split, sid);
      // every worker learns the split once (items can be long lists)
      for (const wk of this.#workers) {
        wk.postMessage({
          kind: "split",
          sid,
          split: { loader: split.loader, items: split.items, options: split.options },
        });
      }
    }
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ kind: "load", id, sid, index: i, augmentSeed });
    });
  }

  /** Stops the workers; pending loads fail. */
  close(): void {
    for (const w of this.#workers) w.terminate();
    const err = new Error("worker pool closed");
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#workers = [];
  }
}

/** Options of {@link batchStream}; `dropLast` and `mergeSingleton` as in {@link batches}. */
export interface BatchStreamOptions extends BatchPlanOptions {
  /** Shuffles the order (training). */
  rng?: Rng;
  /** Lazy splits: augmentation seed of this pass (null/absent: test-time transform). */
  augmentSeed?: number | null;
  /** Lazy splits: batches decoded ahead of the one being consumed. Default 2. */
  prefetch?: number;
  /** Lazy splits: who decodes (default the main thread). */
  reader?: SampleReader;
  /** Lazy splits: a failed sample throws instead of being skipped. */
  strict?: boolean;
  /** Lazy splits: called once per skipped sample with the reason. */
  onSkip?: (index: number, reason: string) => void;
}

interface Assembled {
  inputs: Record<string, Float32Array>;
  labels: Int32Array;
  index: Int32Array;
}

async function assemble(
  split: LazySplit,
  modalities: readonly ModalitySpec[],
  index: Int32Array,
  opts: BatchStreamOptions,
): Promise<Assembled> {
  const reader = opts.reader ?? mainThread;
  const seed = opts.augmentSeed ?? null;
  const results = await Promise.allSettled(
    Array.from(index, (i) => reader.load(split, i, seed)),
  );
  const ok: number[] = [];
  results.forEach((r, j) => {
    if (r.status === "fulfilled") ok.push(j);
    else {
      const reason = r.reason instanceof Error ? r.reason.message : String(r.reason);
      if (opts.strict || !(r.reason instanceof SampleLoadError)) {
        throw r.reason instanceof Error ? r.reason : new Error(reason);
      }
      opts.onSkip?.(index[j], reason);
    }
  });
  const inputs: Record<string, Float32Array> = {};
  for (const m of modalities) {
    const shape = split.shapes?.[m.name] ?? m.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const dst = new Float32Array(ok.length * size);
    ok.forEach((j, row) => {
      const s = (results[j] as PromiseFulfilledResult<Record<string, Float32Array>>).value[m.name];
      if (!s || s.length !== size) {
        throw new AmssArgumentError(
          `sample ${index[j]} (${split.loader}): modality ${m.name} has ${
            s?.length ?? 0
          } values, expected ${JSON.stringify(shape)} = ${size}`,
        );
      }
      dst.set(s, row * size);
    });
    inputs[m.name] = dst;
  }
  return {
    inputs,
    labels: Int32Array.from(ok, (j) => split.labels[index[j]]),
    index: Int32Array.from(ok, (j) => index[j]),
  };
}

/**
 * Mini-batches of any split as tensors `[B, ...shape]`, in a seeded order when `rng` is given.
 * In-memory splits go through {@link batches}; lazy splits are decoded `prefetch` batches ahead of
 * the consumer (by `reader`: the main thread or a {@link WorkerPool}). A batch whose samples all
 * failed is skipped. With `mergeSingleton` (training passes), a batch planned with more than one
 * sample of which only one could be read is dropped too, and that sample is reported to `onSkip`:
 * training-mode batch norm cannot normalise a batch of one. The caller disposes each batch's
 * tensors.
 */
export async function* batchStream(
  split: AnySplit,
  modalities: readonly ModalitySpec[],
  batchSize: number,
  opts: BatchStreamOptions = {},
): AsyncGenerator<Batch> {
  if (!isLazy(split)) {
    yield* batches(split, modalities, batchSize, opts);
    return;
  }
  requireInt("batchSize", batchSize, 1);
  const prefetch = requireInt("prefetch", opts.prefetch ?? 2, 0, 64);
  const order = Int32Array.from({ length: split.n }, (_, i) => i);
  if (opts.rng) opts.rng.shuffle(order);
  const ranges = batchRanges(split.n, batchSize, opts);
  const queue: Promise<Assembled>[] = [];
  const launch = (k: number) => {
    const p = assemble(split, modalities, order.slice(ranges[k][0], ranges[k][1]), opts);
    p.catch(() => {}); // observed when awaited; avoids an unhandled rejection while queued
    queue.push(p);
  };
  let launched = 0;
  while (launched < Math.min(ranges.length, prefetch + 1)) launch(launched++);
  for (let k = 0; k < ranges.length; k++) {
    const a = await queue.shift()!;
    if (launched < ranges.length) launch(launched++);
    if (a.labels.length === 0) continue;
    const planned = ranges[k][1] - ranges[k][0];
    if (opts.mergeSingleton && planned > 1 && a.labels.length === 1) {
      opts.onSkip?.(
        a.index[0],
        `the only readable sample of its training batch (${
          planned - 1
        } of ${planned} failed to decode); a training batch of one sample is dropped`,
      );
      continue;
    }
    const inputs: Record<string, tf.Tensor> = {};
    for (const m of modalities) {
      const shape = split.shapes?.[m.name] ?? m.shape;
      inputs[m.name] = tf.tensor(a.inputs[m.name], [a.labels.length, ...shape]);
    }
    yield { inputs, labels: a.labels, index: a.index };
  }
}

/**
 * Throughput of the input pipeline alone (decode + augment + assemble, no training): samples/s
 * over up to `maxBatches` batches of a lazy split.
 */
export async function measurePipeline(
  split: AnySplit,
  modalities: readonly ModalitySpec[],
  batchSize: number,
  opts: BatchStreamOptions & { maxBatches?: number } = {},
): Promise<{ samples: number; seconds: number; samplesPerSecond: number }> {
  const t0 = performance.now();
  let samples = 0, k = 0;
  for await (const b of batchStream(split, modalities, batchSize, opts)) {
    samples += b.labels.length;
    tf.dispose(Object.values(b.inputs));
    if (++k >= (opts.maxBatches ?? Infinity)) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { samples, seconds, samplesPerSecond: samples / Math.max(seconds, 1e-9) };
}
