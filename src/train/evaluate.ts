/**
 * Evaluation of a model on one split in inference mode: accuracy, mAP and macro F1 of the fused
 * prediction, the fused cross-entropy, and each modality's uni-modal (branch) accuracy and
 * cross-entropy inside the joint model; samples that fail to decode are skipped and counted.
 * Metrics of NaN or infinite outputs are NaN, never an exception: {@link nonFiniteMetrics} names
 * them and the trainer (./trainer.ts) decides that the run diverged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type AnySplit, type Dataset, disposeBatch } from "../data/dataset.ts";
import { batchStream, type SampleReader } from "../data/loaders.ts";
import { firstNonFinite } from "../data/npy.ts";
import { sumCrossEntropy } from "../rebalance/registry.ts";
import { AmssArgumentError } from "../validate.ts";
import { accuracy, macroF1, meanAveragePrecision } from "./metrics.ts";
import type { TrainableModel } from "./trainable.ts";
import type { SplitMetrics } from "./types.ts";

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Name of the split in error messages (default "split"). */
  split?: string;
  /** Datasets read from disk: a sample that fails to decode is an error instead of a skip. */
  strict?: boolean;
  /** Datasets read from disk: called once per skipped sample with its index and the reason. */
  onSkip?: (index: number, reason: string) => void;
}

/**
 * Evaluates the model on a split (inference mode). A sample that fails to decode
 * (`SampleLoadError`, datasets read from disk) is skipped and counted in `skipped` unless
 * `opts.strict`; the metrics are over the samples read, and a split none of whose samples can be
 * read is an error. A metric computed from NaN or infinite outputs is NaN (the trainer turns that
 * into a {@link TrainingDivergedError}).
 */
export async function evaluate(
  model: TrainableModel,
  params: Record<string, tf.Variable>,
  state: Record<string, tf.Variable>,
  data: AnySplit,
  ds: Dataset,
  batchSize: number,
  reader?: SampleReader,
  opts: EvaluateOptions = {},
): Promise<SplitMetrics> {
  const C = model.numClasses;
  const K = model.modalities.length;
  const probs = new Float32Array(data.n * C);
  const uni = Array.from({ length: K }, () => new Float32Array(data.n * C));
  const labels = new Int32Array(data.n);
  let fusedCE = 0;
  let off = 0;
  let skipped = 0;
  const stream = batchStream(data, ds.modalities, batchSize, {
    reader,
    strict: opts.strict,
    onSkip: (i, reason) => {
      skipped++;
      opts.onSkip?.(i, reason);
    },
  });
  for await (const b of stream) {
    const [p, f, ...u] = tf.tidy(() => {
      const out = model.forward(params, state, b.inputs, { training: false });
      return [tf.softmax(out.logits), out.logits, ...out.unimodal];
    });
    probs.set(await p.data(), off * C);
    fusedCE += sumCrossEntropy(await f.data(), b.labels, C);
    for (let k = 0; k < K; k++) uni[k].set(await u[k].data(), off * C);
    tf.dispose([p, f, ...u]);
    labels.set(b.labels, off);
    off += b.labels.length;
    disposeBatch(b);
  }
  const split = opts.split ?? "split";
  if (off === 0) {
    throw new AmssArgumentError(
      `${split}: none of its ${data.n} samples could be read (${skipped} skipped); expected at least 1 readable sample to evaluate`,
    );
  }
  // the samples read, in the order read (all of them, in split order, when none was skipped)
  const n = off;
  const y = labels.subarray(0, n);
  const scoresOf = (a: Float32Array) => a.subarray(0, n * C);
  // metrics of NaN/Inf scores are NaN, never an exception: divergence is the caller's call
  const metric = (a: Float32Array, f: (s: Float32Array, y: Int32Array, C: number) => number) =>
    firstNonFinite(scoresOf(a)) >= 0 ? NaN : f(scoresOf(a), y, C);
  return {
    acc: metric(probs, accuracy),
    mAP: metric(probs, meanAveragePrecision),
    macroF1: metric(probs, macroF1),
    branchAcc: Object.fromEntries(
      model.modalities.map((m, k) => [m, metric(uni[k], accuracy)]),
    ),
    loss: fusedCE / n,
    branchLoss: Object.fromEntries(
      model.modalities.map((m, k) => [m, sumCrossEntropy(scoresOf(uni[k]), y, C) / n]),
    ),
    skipped,
  };
}

/** Names of the NaN or infinite numbers of split metrics (e.g. `loss = NaN`), empty when none. */
export function nonFiniteMetrics(m: SplitMetrics): string[] {
  const out: string[] = [];
  const look = (name: string, v: number | undefined) => {
    if (v !== undefined && !Number.isFinite(v)) out.push(`${name} = ${v}`);
  };
  look("loss", m.loss);
  look("acc", m.acc);
  look("mAP", m.mAP);
  look("macroF1", m.macroF1);
  for (const [k, v] of Object.entries(m.branchAcc)) look(`branchAcc.${k}`, v);
  for (const [k, v] of Object.entries(m.branchLoss ?? {})) look(`branchLoss.${k}`, v);
  return out;
}
