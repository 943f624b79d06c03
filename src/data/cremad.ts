/**
 * CREMA-D (6 emotions; audio + one video frame) in the layout its PyTorch reference code reads:
 *
 * ```
 * ROOT/annotations/train.csv, test.csv   no header, rows "<clip>,<EMO>" (UTF-8, BOM allowed)
 * ROOT/AudioWAV/<clip>.wav
 * ROOT/Image-01-FPS/<clip>/00001.jpg ...  one frame per second of the video
 * ```
 *
 * - Labels NEU 0, HAP 1, SAD 2, FEA 3, DIS 4, ANG 5. A label outside the map is an error naming the
 *   file and line (a malformed list); a row whose WAV or frame folder is missing is skipped and
 *   counted in the log.
 * - Audio: the CREMA-D front end {@link cremadSpectrogram} (22,050 Hz mono, tiled to 3 s, STFT
 *   512/353, log magnitude): `[257, 188, 1]`. `sampleRate` (option) makes a WAV at another rate a
 *   skipped sample instead of being resampled (parity runs against data known to be 16 kHz).
 * - Visual: one frame `[1, size, size, C]`; train: random resized crop + horizontal flip; test:
 *   resize; ImageNet normalisation. `frameMode: "sampled"` picks the training frame uniformly among
 *   the sorted files (seeded per sample and epoch) and the middle sorted frame at test time;
 *   `"first"` reproduces the reference loader, which draws a random index, ignores it and takes the
 *   first file in directory order.
 * - No val split exists: a seeded, stratified slice of train is held out (RealDatasetOptions).
 *
 * @module
 */
import type { Dataset, ModalitySpec } from "./dataset.ts";
import {
  asSampleError,
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
import { requireFiniteSamples, resample, stft, toMono } from "./signal.ts";
import { decodeWav } from "./wav.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import type { Rng } from "../rng.ts";

/** CREMA-D class names in the reference label order. */
export const CREMAD_CLASSES = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"];

// ------------------------------------------------------------------------------------------------
// Audio front end

/** Sample rate of the CREMA-D audio front end (the reference loader's). */
export const CREMAD_SAMPLE_RATE = 22050;
/** Samples fed to the CREMA-D STFT: 3 s at 22,050 Hz. */
export const CREMAD_SAMPLES = 66150;
/** CREMA-D spectrogram shape [bins, frames]: 257 = 512/2 + 1, 188 = 1 + floor(66150 / 353). */
export const CREMAD_SPEC_SHAPE: readonly [number, number] = Object.freeze([257, 188]) as readonly [
  number,
  number,
];
const CREMAD_N_FFT = 512;
const CREMAD_HOP = 353;
const LOG_EPS = 1e-7;

/**
 * The CREMA-D STFT input: mono `samples` resampled to 22,050 Hz (when `sampleRate` differs),
 * repeated end to end to fill 3 s and cut at 66,150 samples, clipped to [-1, 1]
 * (the reference CREMA-D loader's input). The reference tiles with np.tile(clip, 3)[:66150]; we
 * repeat as often as needed, which is the same for every clip of at least 1 s (all CREMA-D clips)
 * and still fills 3 s for shorter ones. An empty clip is an error.
 */
export function cremadWaveform(samples: Float32Array, sampleRate: number): Float32Array {
  requireInt("sampleRate", sampleRate, 1);
  if (samples.length === 0) throw new AmssArgumentError("cremad: the audio clip is empty");
  const y = sampleRate === CREMAD_SAMPLE_RATE
    ? samples
    : resample(samples, sampleRate, CREMAD_SAMPLE_RATE);
  if (y.length === 0) throw new AmssArgumentError("cremad: the audio clip is empty");
  requireFiniteSamples("cremad: samples", y);
  const out = new Float32Array(CREMAD_SAMPLES);
  for (let i = 0; i < CREMAD_SAMPLES; i++) {
    const v = y[i % y.length];
    out[i] = v > 1 ? 1 : v < -1 ? -1 : v;
  }
  return out;
}

/**
 * The CREMA-D audio front end of the reference loader: {@link cremadWaveform}, then STFT n_fft 512,
 * hop 353, periodic Hann 512, centred with zero padding, and log(|S| + 1e-7) without
 * normalisation. librosa.stft's default pad mode was "reflect" before librosa 0.10 and is
 * "constant" (zeros) since; we pad with zeros ({@link stft} offers both). Returns 257 x 188 floats, row-major [bins, frames].
 */
export function cremadSpectrogram(samples: Float32Array, sampleRate: number): Float32Array {
  const y = cremadWaveform(samples, sampleRate);
  const s = stft(y, { nFft: CREMAD_N_FFT, hop: CREMAD_HOP, center: true, padMode: "constant" });
  const out = new Float32Array(s.re.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(Math.hypot(s.re[i], s.im[i]) + LOG_EPS);
  return out;
}

// ------------------------------------------------------------------------------------------------
// Loader

/** Options of {@link loadCremad}. */
export interface CremadOptions extends RealDatasetOptions {
  /** Visual frame side. Default 224. */
  imageSize?: number;
  /** Visual channels: 1 (the paper) or 3. Default 1. */
  channels?: 1 | 3;
  /** "sampled" (default) or "first" (the reference loader's behaviour, for parity runs). */
  frameMode?: "sampled" | "first";
  /** Frame folder name. Default "Image-01-FPS". */
  frameDir?: string;
  /** When set, a WAV at another sample rate is skipped rather than resampled. */
  sampleRate?: number;
}

interface CremadItem {
  wav: string;
  /** Frame paths sorted by name, and the first one in directory order. */
  frames: string[];
  firstListed: string;
}

interface CremadSampleOptions extends Record<string, unknown> {
  imageSize: number;
  channels: 1 | 3;
  frameMode: "sampled" | "first";
  sampleRate: number | null;
}

/** Which frame of a clip a sample uses (see the module comment). */
export function pickFrame(
  item: { frames: string[]; firstListed: string },
  mode: "sampled" | "first",
  rng: Rng | null,
): string {
  if (mode === "first") return item.firstListed;
  if (rng) return item.frames[rng.int(item.frames.length)];
  return item.frames[(item.frames.length - 1) >> 1];
}

async function loadCremadSample(
  item: unknown,
  options: Record<string, unknown>,
  rng: Rng | null,
): Promise<Record<string, Float32Array>> {
  const it = item as CremadItem;
  const o = options as CremadSampleOptions;
  const wavBytes = await readSampleFile(it.wav);
  const audio = await asSampleError(it.wav, () => {
    const wav = decodeWav(wavBytes, it.wav);
    if (o.sampleRate !== null && wav.sampleRate !== o.sampleRate) {
      throw new SampleLoadError(
        `${it.wav}: sample rate ${wav.sampleRate} Hz, expected ${o.sampleRate} Hz`,
      );
    }
    return cremadSpectrogram(toMono(wav.channels), wav.sampleRate);
  });
  // augmentation (training) iff an rng is given: evaluation passes none, also on held-out val
  const frame = pickFrame(it, o.frameMode, rng);
  const bytes = await readSampleFile(frame);
  const visual = await asSampleError(frame, () =>
    prepareFrame(bytes, frame, {
      size: o.imageSize,
      train: rng !== null,
      rng: rng ?? undefined,
      channels: o.channels,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    }));
  return { audio, visual };
}

registerSampleLoader("cremad", loadCremadSample);

/** Reads CREMA-D from `root` (layout in the module comment) as lazily decoded splits. */
export async function loadCremad(root: string, opts: CremadOptions = {}): Promise<Dataset> {
  const log = opts.log ?? console.log;
  const imageSize = requireInt("imageSize", opts.imageSize ?? 224, 8);
  const channels = opts.channels ?? 1;
  if (channels !== 1 && channels !== 3) {
    throw new AmssArgumentError(`channels must be 1 or 3, got ${channels}`);
  }
  const frameMode = opts.frameMode ?? "sampled";
  if (frameMode !== "sampled" && frameMode !== "first") {
    throw new AmssArgumentError(`frameMode must be "sampled" or "first", got ${frameMode}`);
  }
  const frameDir = opts.frameDir ?? "Image-01-FPS";
  const labelOf = new Map(CREMAD_CLASSES.map((c, i) => [c, i]));
  const modalities: ModalitySpec[] = [
    { name: "audio", kind: "image", shape: [257, 188, 1] },
    { name: "visual", kind: "frames", shape: [1, imageSize, imageSize, channels] },
  ];
  const splits: Record<string, ReturnType<typeof lazySplit>> = {};
  const skipped: Record<string, Record<string, number>> = {};
  // list file of each split: errors about an empty split name it
  const lists: Record<string, string> = {};
  for (const split of ["train", "test"] as const) {
    const list = `${root}/annotations/${split}.csv`;
    const rows = parseDelimited(await readText(list, `CREMA-D ${split} list`), ",", list);
    if (rows.length === 0) throw new AmssArgumentError(`${list}: the list is empty`);
    const skips = new SkipCounter();
    const items: CremadItem[] = [];
    const labels: number[] = [];
    for (const { fields, line } of rows) {
      if (fields.length < 2) {
        throw new AmssArgumentError(
          `${list}:${line}: expected "<clip>,<EMO>", got ${JSON.stringify(fields.join(","))}`,
        );
      }
      const clip = fields[0].trim();
      const emo = fields[1].trim();
      const y = labelOf.get(emo);
      if (y === undefined) {
        throw new AmssArgumentError(
          `${list}:${line}: label ${JSON.stringify(emo)} is not one of ${
            CREMAD_CLASSES.join(", ")
          }`,
        );
      }
      const wav = `${root}/AudioWAV/${clip}.wav`;
      try {
        await Deno.stat(wav);
      } catch {
        skips.add("WAV missing", wav);
        continue;
      }
      const dir = `${root}/${frameDir}/${clip}`;
      const frames = await listFiles(dir);
      if (!frames || frames.sorted.length === 0) {
        skips.add("frame folder missing or empty", dir);
        continue;
      }
      items.push({
        wav,
        frames: frames.sorted.map((f) => `${dir}/${f}`),
        firstListed: `${dir}/${frames.listed[0]}`,
      });
      labels.push(y);
    }
    for (const l of skips.summary(list)) log(l);
    requireUsableRows(list, items.length, skips);
    lists[split] = list;
    skipped[split] = skips.counts();
    splits[split] = lazySplit(
      "cremad",
      items,
      labels,
      {
        imageSize,
        channels,
        frameMode,
        sampleRate: opts.sampleRate ?? null,
      } satisfies CremadSampleOptions,
    );
  }
  return finishDataset(
    "cremad",
    modalities,
    CREMAD_CLASSES,
    {
      train: splits.train,
      test: splits.test,
    },
    opts,
    { root, frameMode, skipped, imageSize, channels },
    lists,
  );
}
