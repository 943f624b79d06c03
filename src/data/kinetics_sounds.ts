/**
 * Kinetics-Sounds (31 classes; audio + 3 frames) in the layout its PyTorch reference code reads:
 *
 * ```
 * ROOT/annotations/train.csv, test.csv      header row; columns youtube_id, label (others ignored)
 * ROOT/train_wav_pkl/<id>.npy (or .pkl)     257 x 1004 log spectrogram, or 1024 x 128 log-mel fbank
 * ROOT/test_wav_pkl/<id>.npy
 * ROOT/train_img/Image-01-FPS/<id>/*.jpg    one frame per second
 * ROOT/test_img/Image-01-FPS/<id>/*.jpg
 * ```
 *
 * - Class index = order of first appearance in the train list; a test label outside that set is an
 *   error naming the file and line.
 * - Audio: Python pickles cannot be read safely here, so the spectrogram must be there as `.npy`
 *   (`<id>.npy` beside or instead of `<id>.pkl`). When only `.pkl` files exist the loader stops with
 *   the one-line conversion to run; a clip with neither is skipped and counted. All clips must share
 *   one shape (the first clip's: [257, 1004] or [1024, 128]); input `[F, T, 1]`. A spectrogram
 *   holding a NaN or infinite value is a sample that fails to decode (skipped and counted).
 * - Frames: a clip needs more than 3 frames (else skipped and counted); 3 frames are taken. Training:
 *   3 distinct indices drawn uniformly (seeded per sample and epoch) and sorted, as the reference
 *   draws them; evaluation: 3 equally spaced frames (deterministic). Each frame as in CREMA-D
 *   (random resized crop + flip when training, resize otherwise, ImageNet normalisation).
 *
 * @module
 */
import type { Dataset, ModalitySpec } from "./dataset.ts";
import {
  asSampleError,
  exists,
  finishDataset,
  lazySplit,
  listFiles,
  parseDelimited,
  readSampleFile,
  readText,
  type RealDatasetOptions,
  requireUsableRows,
  SkipCounter,
} from "./files.ts";
import { IMAGENET_MEAN, IMAGENET_STD, prepareFrame } from "./image_transforms.ts";
import { registerSampleLoader, SampleLoadError } from "./loaders.ts";
import { firstNonFinite, readNpy, readSampleNpy } from "./npy.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import type { Rng } from "../rng.ts";

/** Shape [bins, frames] of the Kinetics-Sounds spectrogram pickles of the reference layout. */
export const KS_SPEC_SHAPE: readonly [number, number] = Object.freeze([257, 1004]) as readonly [
  number,
  number,
];
/**
 * An input length that gives {@link KS_SPEC_SHAPE} with nperseg 512 / noverlap 353 (scipy's
 * spectrogram, `spectrogramScipy` in ./signal.ts): 10 s at 16 kHz. 1004 frames =
 * 1 + floor((N - 512) / 159) need N in [159989, 160147]; 10 s at 22,050 Hz (220,500 samples) gives
 * 1384 frames, so 22,050 Hz audio cannot give the pickles' 257 x 1004. Our inference from the
 * shape, not read from the reference code.
 */
export const KS_SAMPLES = 160000;

/** Options of {@link loadKineticsSounds}. */
export interface KineticsSoundsOptions extends RealDatasetOptions {
  /** Visual frame side. Default 224. */
  imageSize?: number;
  /** Visual channels: 1 or 3. Default 1. */
  channels?: 1 | 3;
  /** Frames per clip. Default 3. */
  frames?: number;
}

interface KsItem {
  audio: string;
  frames: string[];
}

interface KsSampleOptions extends Record<string, unknown> {
  imageSize: number;
  channels: 1 | 3;
  frames: number;
  audioShape: number[];
}

/** Indices of `k` frames out of `n`: sorted distinct uniform draws (rng) or equally spaced. */
export function frameIndices(n: number, k: number, rng: Rng | null): number[] {
  if (k > n) throw new AmssArgumentError(`cannot take ${k} frames from ${n}`);
  if (rng) {
    const idx = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(n - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, k).sort((a, b) => a - b);
  }
  // centres of k equal segments
  return Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * n) / k));
}

async function loadKsSample(
  item: unknown,
  options: Record<string, unknown>,
  rng: Rng | null,
): Promise<Record<string, Float32Array>> {
  const it = item as KsItem;
  const o = options as KsSampleOptions;
  const audio = await asSampleError(it.audio, async () => {
    // a NaN or infinite value is a SampleLoadError naming the file and the value's index
    const a = await readSampleNpy(it.audio);
    const size = o.audioShape[0] * o.audioShape[1];
    if (a.data.length !== size) {
      throw new SampleLoadError(
        `${it.audio}: shape [${a.shape}], expected [${o.audioShape}] like the first clip`,
      );
    }
    const out = Float32Array.from(a.data);
    const bad = firstNonFinite(out); // float64 values beyond the float32 range
    if (bad >= 0) {
      throw new SampleLoadError(
        `${it.audio}: value ${bad} (${
          a.data[bad]
        }) is outside the float32 range; expected finite numbers`,
      );
    }
    return out;
  });
  const S = o.imageSize * o.imageSize * o.channels;
  const visual = new Float32Array(o.frames * S);
  const picks = frameIndices(it.frames.length, o.frames, rng);
  for (let f = 0; f < picks.length; f++) {
    const path = it.frames[picks[f]];
    const bytes = await readSampleFile(path);
    const frame = await asSampleError(path, () =>
      prepareFrame(bytes, path, {
        size: o.imageSize,
        train: rng !== null,
        rng: rng ?? undefined,
        channels: o.channels,
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
      }));
    visual.set(frame, f * S);
  }
  return { audio, visual };
}

registerSampleLoader("kinetics-sounds", loadKsSample);

/** Reads Kinetics-Sounds from `root` (layout in the module comment) as lazily decoded splits. */
export async function loadKineticsSounds(
  root: string,
  opts: KineticsSoundsOptions = {},
): Promise<Dataset> {
  const log = opts.log ?? console.log;
  const imageSize = requireInt("imageSize", opts.imageSize ?? 224, 8);
  const channels = opts.channels ?? 1;
  if (channels !== 1 && channels !== 3) {
    throw new AmssArgumentError(`channels must be 1 or 3, got ${channels}`);
  }
  const nFrames = requireInt("frames", opts.frames ?? 3, 1);
  const classes: string[] = [];
  const classOf = new Map<string, number>();
  const parsed: Record<string, { items: KsItem[]; labels: number[] }> = {};
  const skipped: Record<string, Record<string, number>> = {};
  // list file of each split: errors about an empty split name it
  const lists: Record<string, string> = {};
  let audioShape: number[] | null = null;
  for (const split of ["train", "test"] as const) {
    const list = `${root}/annotations/${split}.csv`;
    const rows = parseDelimited(await readText(list, `Kinetics-Sounds ${split} list`), ",", list);
    if (rows.length < 2) throw new AmssArgumentError(`${list}: no rows after the header`);
    const header = rows[0].fields.map((f) => f.trim());
    const idCol = header.indexOf("youtube_id"), labelCol = header.indexOf("label");
    if (idCol < 0 || labelCol < 0) {
      throw new AmssArgumentError(
        `${list}: the header must name columns youtube_id and label, got ${header.join(",")}`,
      );
    }
    const skips = new SkipCounter();
    const items: KsItem[] = [];
    const labels: number[] = [];
    let pklOnly = 0;
    for (const { fields, line } of rows.slice(1)) {
      const id = fields[idCol]?.trim(), label = fields[labelCol]?.trim();
      if (!id || label === undefined || label === "") {
        throw new AmssArgumentError(`${list}:${line}: missing youtube_id or label`);
      }
      let y = classOf.get(label);
      if (y === undefined) {
        if (split === "test") {
          throw new AmssArgumentError(
            `${list}:${line}: label ${JSON.stringify(label)} does not occur in the train list`,
          );
        }
        y = classes.length;
        classes.push(label);
        classOf.set(label, y);
      }
      const base = `${root}/${split}_wav_pkl/${id}`;
      if (!(await exists(`${base}.npy`))) {
        if (await exists(`${base}.pkl`)) pklOnly++;
        skips.add("audio .npy missing", `${base}.npy`);
        continue;
      }
      const dir = `${root}/${split}_img/Image-01-FPS/${id}`;
      const frames = await listFiles(dir);
      if (!frames || frames.sorted.length <= nFrames) {
        skips.add(`frame folder missing or with ${nFrames} frames or fewer`, dir);
        continue;
      }
      if (!audioShape) {
        const first = await readNpy(`${base}.npy`);
        const shape = first.shape.filter((d, i) => !(d === 1 && i === 0 && first.shape.length > 2));
        if (shape.length !== 2) {
          throw new AmssArgumentError(
            `${base}.npy: spectrogram shape [${first.shape}], expected [257, 1004] or [1024, 128]`,
          );
        }
        audioShape = shape;
      }
      items.push({ audio: `${base}.npy`, frames: frames.sorted.map((f) => `${dir}/${f}`) });
      labels.push(y);
    }
    if (items.length === 0 && pklOnly > 0) {
      throw new AmssArgumentError(
        `${root}/${split}_wav_pkl holds .pkl spectrograms only; Python pickles cannot be read ` +
          `safely here. Convert them once with: python3 -c "import pickle,numpy,glob;[numpy.save(` +
          `p[:-4]+'.npy',numpy.asarray(pickle.load(open(p,'rb')),dtype='float32')) for p in ` +
          `glob.glob('${root}/${split}_wav_pkl/*.pkl')]"`,
      );
    }
    for (const l of skips.summary(list)) log(l);
    requireUsableRows(list, items.length, skips);
    lists[split] = list;
    skipped[split] = skips.counts();
    parsed[split] = { items, labels };
  }
  if (!audioShape) throw new AmssArgumentError(`${root}: no usable Kinetics-Sounds clip`);
  const modalities: ModalitySpec[] = [
    { name: "audio", kind: "image", shape: [audioShape[0], audioShape[1], 1] },
    { name: "visual", kind: "frames", shape: [nFrames, imageSize, imageSize, channels] },
  ];
  const options: KsSampleOptions = { imageSize, channels, frames: nFrames, audioShape };
  return finishDataset(
    "kinetics-sounds",
    modalities,
    classes,
    {
      train: lazySplit("kinetics-sounds", parsed.train.items, parsed.train.labels, options),
      test: lazySplit("kinetics-sounds", parsed.test.items, parsed.test.labels, options),
    },
    opts,
    { root, skipped, imageSize, channels, audioShape },
    lists,
  );
}
