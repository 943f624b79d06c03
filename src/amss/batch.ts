/**
 * From a forward pass to the {@link ModalBatch} that AMSS's significance reads, keyed by modality
 * name: {@link modalBatch} downloads the labels, each modality's uni-modal prediction and its
 * encoder features in one `await data()` (so it runs on webgpu too, where `dataSync` cannot) and
 * lays them out in the plan's modality order, checking every name.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { AmssArgumentError } from "../validate.ts";
import type { ModalBatch, ModalOutputs } from "../types.ts";

export type { ModalOutputs } from "../types.ts";

function namesOf(keys: readonly string[]): string {
  return keys.length === 0 ? "(none)" : keys.join(", ");
}

/** Throws unless `got` has exactly the keys `expected`, listing both. */
function requireKeys(what: string, got: readonly string[], expected: readonly string[]): void {
  const missing = expected.filter((m) => !got.includes(m));
  const extra = got.filter((m) => !expected.includes(m));
  if (missing.length || extra.length) {
    throw new AmssArgumentError(
      `${what} is keyed ${namesOf(got)}, expected the plan's modalities ${namesOf(expected)}` +
        (missing.length ? `; missing ${namesOf(missing)}` : "") +
        (extra.length ? `; unknown ${namesOf(extra)}` : ""),
    );
  }
}

/**
 * Builds the per-step {@link ModalBatch} of {@link amss} from tensors keyed by modality name.
 * `modalities` is the plan (or its modality list): the batch holds one prediction (and feature
 * matrix) per modality in the plan's order, whatever order the keys came in, and records that
 * order in `batch.modalities`, which `amss` checks against its plan. A missing or unknown name
 * throws {@link AmssArgumentError} listing the names it got and the names it expected.
 *
 * Everything is downloaded in one `await data()` (labels, predictions and features concatenated
 * on the backend; float32, so labels must be integers below 2^24). The caller keeps ownership of
 * the tensors.
 *
 * @example Keyed by name: the order of the keys does not matter
 * ```ts
 * import { assert, assertRejects } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { modalBatch } from "@amss-ts/amss";
 *
 * await tf.setBackend("cpu");
 * const audio = tf.tensor2d([[2, 0], [0, 2]]), visual = tf.zeros([2, 2]);
 * const batch = await modalBatch(
 *   { labels: [0, 1], predictions: { visual, audio }, features: { audio, visual } },
 *   ["audio", "visual"],
 * );
 * assert(batch.modalities?.join() === "audio,visual" && batch.predictions[0][0] === 2);
 * await assertRejects(
 *   () => modalBatch({ labels: [0, 1], predictions: { audio, vision: visual } }, ["audio", "visual"]),
 *   Error,
 *   "missing visual; unknown vision",
 * );
 * ```
 */
export async function modalBatch(
  outputs: ModalOutputs,
  modalities: readonly string[] | { readonly modalities: readonly string[] },
): Promise<ModalBatch> {
  const names = Array.isArray(modalities)
    ? [...modalities as readonly string[]]
    : [...(modalities as { modalities: readonly string[] }).modalities];
  if (names.length < 2) {
    throw new AmssArgumentError(`modalBatch: needs >= 2 modalities, got ${namesOf(names)}`);
  }
  const { predictions, features, labels } = outputs;
  requireKeys("predictions", Object.keys(predictions ?? {}), names);
  if (features !== undefined) requireKeys("features", Object.keys(features), names);
  const preds = names.map((m) => predictions[m]);
  const first = preds[0];
  if (!(first instanceof tf.Tensor) || first.rank !== 2) {
    throw new AmssArgumentError(
      `predictions.${names[0]} must be a [B, C] tensor, got ${
        first instanceof tf.Tensor ? `shape [${first.shape}]` : typeof first
      }`,
    );
  }
  const [B, C] = first.shape;
  if (C < 2) throw new AmssArgumentError(`predictions must have C >= 2 classes, got ${C}`);
  preds.forEach((p, k) => {
    if (!(p instanceof tf.Tensor) || p.rank !== 2 || p.shape[0] !== B || p.shape[1] !== C) {
      throw new AmssArgumentError(
        `predictions.${names[k]} must be [${B}, ${C}] like predictions.${names[0]}, got ${
          p instanceof tf.Tensor ? `[${p.shape}]` : typeof p
        }`,
      );
    }
  });
  const feats = features === undefined ? [] : names.map((m) => features[m]);
  feats.forEach((f, k) => {
    if (!(f instanceof tf.Tensor) || f.rank !== 2 || f.shape[0] !== B) {
      throw new AmssArgumentError(
        `features.${names[k]} must be [${B}, D] (B from the predictions), got ${
          f instanceof tf.Tensor ? `[${f.shape}]` : typeof f
        }`,
      );
    }
  });
  const labelTensor = labels instanceof tf.Tensor;
  if (labelTensor && labels.size !== B) {
    throw new AmssArgumentError(`labels has ${labels.size} entries, expected ${B}`);
  }
  if (!labelTensor && labels.length !== B) {
    throw new AmssArgumentError(`labels has ${labels.length} entries, expected ${B}`);
  }
  const all = tf.tidy(() =>
    tf.concat([
      ...(labelTensor ? [tf.cast(labels.reshape([-1]), "float32")] : []),
      ...[...preds, ...feats].map((t) => tf.cast(t.reshape([-1]), "float32")),
    ])
  );
  let data: Float32Array;
  try {
    data = await all.data() as Float32Array;
  } finally {
    all.dispose();
  }
  let at = 0;
  const take = (n: number) => data.subarray(at, at += n);
  const labelData = labelTensor ? Array.from(take(B)) : Array.from(labels);
  const predData = preds.map(() => take(B * C));
  return {
    modalities: names,
    labels: labelData,
    numClasses: C,
    predictionKind: outputs.predictionKind ?? "logits",
    predictions: predData,
    ...(feats.length
      ? { features: feats.map((f) => ({ data: take(f.size), dim: f.shape[1] as number })) }
      : {}),
  };
}
