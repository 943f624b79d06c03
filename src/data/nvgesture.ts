/**
 * NVGesture (25 classes; RGB + depth + optical flow: the K = 3 dataset) in the layout its PyTorch
 * reference code reads, with frames already extracted from the videos:
 *
 * ```
 * ROOT/nvgesture_train_correct_v2.lst, nvgesture_test_correct_v2.lst
 *     one clip per line: "path:<dir> depth:<name>:<start>:<end> color:<name>:<start>:<end> ...
 *     label:<1..25>" (whitespace-separated key:value tokens; other keys ignored)
 * ROOT/<dir>/<name>/00001.jpg ...     frames of the video <name> (sk_color, sk_depth)
 * ROOT/flow_data/<train|test>/<i>.npy  optical flow of the i-th clip of the list (0-based)
 * ```
 *
 * Decoding `.avi` in TypeScript is out of scope: extract frames first (e.g.
 * `ffmpeg -i sk_color.avi <dir>/sk_color/%05d.jpg`).
 *
 * Choices the reference layout leaves open (options, documented here):
 * - Clip frames: file k (1-based, sorted by name) is video frame k-1; a clip is video frames
 *   [start, end). When the folder holds exactly end - start files (already cut to the gesture), all
 *   of them are the clip.
 * - 80-frame container: the clip is resampled uniformly in time to `container` frames (index
 *   floor(i * n / container): frames repeat when the clip is shorter, are skipped when longer).
 * - Space: each frame resized to `resize` x `resize` (256); training takes one random `size` crop
 *   (224) and `clipFrames` (64) consecutive frames at a random offset, the same crop and offset for
 *   the three modalities; evaluation takes the centre crop and all `container` frames.
 * - Depth: the JPEG's luma, 1 channel, normalised with mean 0.5 / std 0.5 (no reference values);
 *   RGB: ImageNet mean/std.
 * - Flow `.npy`: `[T, H, W, 2]` or `[2, T, H, W]` float; resampled in time to the container and
 *   resized/cropped like the frames; values as stored (no normalisation). A flow array holding a
 *   NaN or infinite value is a sample that fails to decode (skipped and counted).
 * - Labels 1..25 in the list become 0..24; a label outside that range is an error naming the line.
 *
 * @module
 */
import type { Dataset, LazySplit, ModalitySpec } from "./dataset.ts";
import {
  asSampleError,
  exists,
  finishDataset,
  listFiles,
  readSampleFile,
  readText,
  type RealDatasetOptions,
  requireUsableRows,
  SkipCounter,
} from "./files.ts";
import { decodeImage } from "./image_codec.ts";
import {
  crop,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  resizeBilinear,
  toGray,
} from "./image_transforms.ts";
import { registerSampleLoader, SampleLoadError } from "./loaders.ts";
import { readSampleNpy } from "./npy.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import type { Rng } from "../rng.ts";

/** Number of NVGesture classes. */
export const NVGESTURE_CLASSES = 25;

/** Options of {@link loadNvGesture}. */
export interface NvGestureOptions extends RealDatasetOptions {
  /** Frames of the time container. Default 80. */
  container?: number;
  /** Consecutive frames of a training clip. Default 64. */
  clipFrames?: number;
  /** Side frames are resized to before cropping. Default 256. */
  resize?: number;
  /** Crop side. Default 224. */
  size?: number;
}

/** One parsed line of an NVGesture list file. */
export interface NvGestureEntry {
  path: string;
  streams: Record<string, { name: string; start: number; end: number }>;
  label: number;
  line: number;
}

/** Parses the list-file grammar (module comment); errors name the file and line. */
export function parseNvGestureList(text: string, source: string): NvGestureEntry[] {
  const out: NvGestureEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    const entry: NvGestureEntry = { path: "", streams: {}, label: -1, line };
    for (const tok of raw.trim().split(/\s+/)) {
      const parts = tok.split(":");
      const key = parts[0];
      if (key === "path") entry.path = parts.slice(1).join(":");
      else if (key === "label") {
        const y = Number(parts[1]);
        if (!Number.isInteger(y) || y < 1 || y > NVGESTURE_CLASSES) {
          throw new AmssArgumentError(
            `${source}:${line}: label ${
              JSON.stringify(parts[1])
            } is not in 1..${NVGESTURE_CLASSES}`,
          );
        }
        entry.label = y - 1;
      } else if (parts.length === 4) {
        const [start, end] = [Number(parts[2]), Number(parts[3])];
        if (!Number.isInteger(start) || !Number.isInteger(end) || end <= start || start < 0) {
          throw new AmssArgumentError(
            `${source}:${line}: ${key} needs <name>:<start>:<end> with 0 <= start < end, got ${tok}`,
          );
        }
        entry.streams[key] = { name: parts[1], start, end };
      }
    }
    if (!entry.path || entry.label < 0) {
      throw new AmssArgumentError(`${source}:${line}: a line needs path:<dir> and label:<1..25>`);
    }
    for (const s of ["color", "depth"]) {
      if (!entry.streams[s]) {
        throw new AmssArgumentError(`${source}:${line}: missing ${s}:<name>:<start>:<end>`);
      }
    }
    out.push(entry);
  });
  return out;
}

interface NvItem {
  rgb: string[];
  depth: string[];
  flow: string;
}

interface NvSampleOptions extends Record<string, unknown> {
  container: number;
  clipFrames: number;
  resize: number;
  size: number;
}

/** Indices of a uniform time resampling of `n` frames to `m` (module comment). */
export function containerIndices(n: number, m: number): number[] {
  return Array.from({ length: m }, (_, i) => Math.floor((i * n) / m));
}

/** The clip's files: video frames [start, end) of the sorted folder (module comment). */
export function clipFiles(sorted: string[], start: number, end: number): string[] | null {
  if (sorted.length === end - start) return sorted;
  if (sorted.length < end) return null;
  return sorted.slice(start, end);
}

interface Window {
  t0: number;
  T: number;
  top: number;
  left: number;
}

function window(o: NvSampleOptions, rng: Rng | null): Window {
  const margin = o.resize - o.size;
  if (rng) {
    return {
      t0: rng.int(o.container - o.clipFrames + 1),
      T: o.clipFrames,
      top: rng.int(margin + 1),
      left: rng.int(margin + 1),
    };
  }
  return { t0: 0, T: o.container, top: margin >> 1, left: margin >> 1 };
}

async function frameStack(
  files: string[],
  o: NvSampleOptions,
  w: Window,
  gray: boolean,
): Promise<Float32Array> {
  const C = gray ? 1 : 3;
  const S = o.size * o.size * C;
  const out = new Float32Array(w.T * S);
  const idx = containerIndices(files.length, o.container).slice(w.t0, w.t0 + w.T);
  const cache = new Map<number, Float32Array>();
  for (let t = 0; t < idx.length; t++) {
    let f = cache.get(idx[t]);
    if (!f) {
      const path = files[idx[t]];
      const bytes = await readSampleFile(path);
      f = await asSampleError(path, () => {
        let img = resizeBilinear(decodeImage(bytes, path), o.resize, o.resize);
        img = crop(img, w.top, w.left, o.size, o.size);
        if (gray) return normalize(toGray(img), [0.5], [0.5]).data;
        return normalize(img, IMAGENET_MEAN, IMAGENET_STD).data;
      });
      cache.set(idx[t], f);
    }
    out.set(f, t * S);
  }
  return out;
}

async function flowStack(path: string, o: NvSampleOptions, w: Window): Promise<Float32Array> {
  return await asSampleError(path, async () => {
    // a NaN or infinite value is a SampleLoadError naming the file and the value's index
    const a = await readSampleNpy(path);
    if (a.shape.length !== 4 || (a.shape[3] !== 2 && a.shape[0] !== 2)) {
      throw new SampleLoadError(
        `${path}: flow shape [${a.shape}], expected [T, H, W, 2] or [2, T, H, W]`,
      );
    }
    const channelsLast = a.shape[3] === 2;
    const [T, H, W] = channelsLast ? a.shape.slice(0, 3) : a.shape.slice(1);
    const src = a.data;
    const S = o.size * o.size * 2;
    const out = new Float32Array(w.T * S);
    const idx = containerIndices(T, o.container).slice(w.t0, w.t0 + w.T);
    for (let t = 0; t < idx.length; t++) {
      const frame = new Float32Array(H * W * 2);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          for (let c = 0; c < 2; c++) {
            frame[(y * W + x) * 2 + c] = channelsLast
              ? src[((idx[t] * H + y) * W + x) * 2 + c]
              : src[((c * T + idx[t]) * H + y) * W + x];
          }
        }
      }
      const img = resizeBilinear(
        { width: W, height: H, channels: 2, data: frame },
        o.resize,
        o.resize,
      );
      out.set(crop(img, w.top, w.left, o.size, o.size).data, t * S);
    }
    return out;
  });
}

async function loadNvSample(
  item: unknown,
  options: Record<string, unknown>,
  rng: Rng | null,
): Promise<Record<string, Float32Array>> {
  const it = item as NvItem;
  const o = options as NvSampleOptions;
  const w = window(o, rng);
  return {
    rgb: await frameStack(it.rgb, o, w, false),
    depth: await frameStack(it.depth, o, w, true),
    flow: await flowStack(it.flow, o, w),
  };
}

registerSampleLoader("nvgesture", loadNvSample);

/** Reads NVGesture from `root` (layout and choices in the module comment). */
export async function loadNvGesture(root: string, opts: NvGestureOptions = {}): Promise<Dataset> {
  const log = opts.log ?? console.log;
  const container = requireInt("container", opts.container ?? 80, 1);
  const clipFrames = requireInt("clipFrames", opts.clipFrames ?? 64, 1, container);
  const resize = requireInt("resize", opts.resize ?? 256, 8);
  const size = requireInt("size", opts.size ?? 224, 8, resize);
  const options: NvSampleOptions = { container, clipFrames, resize, size };
  const splits: Record<string, LazySplit> = {};
  const skipped: Record<string, Record<string, number>> = {};
  // list file of each split: errors about an empty split name it
  const lists: Record<string, string> = {};
  for (const split of ["train", "test"] as const) {
    const list = `${root}/nvgesture_${split}_correct_v2.lst`;
    const entries = parseNvGestureList(await readText(list, `NVGesture ${split} list`), list);
    if (entries.length === 0) throw new AmssArgumentError(`${list}: the list is empty`);
    const skips = new SkipCounter();
    const items: NvItem[] = [];
    const labels: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const dir = `${root}/${e.path.replace(/^\.\//, "")}`;
      const streams: Record<string, string[]> = {};
      let ok = true;
      for (const s of ["color", "depth"] as const) {
        const { name, start, end } = e.streams[s];
        const files = await listFiles(`${dir}/${name}`);
        const clip = files ? clipFiles(files.sorted, start, end) : null;
        if (!clip) {
          skips.add(`${s} frames missing or fewer than the clip's end`, `${dir}/${name}`);
          ok = false;
          break;
        }
        streams[s] = clip.map((f) => `${dir}/${name}/${f}`);
      }
      const flow = `${root}/flow_data/${split}/${i}.npy`;
      if (ok && !(await exists(flow))) {
        skips.add("flow .npy missing", flow);
        ok = false;
      }
      if (!ok) continue;
      items.push({ rgb: streams.color, depth: streams.depth, flow });
      labels.push(e.label);
    }
    for (const l of skips.summary(list)) log(l);
    requireUsableRows(list, items.length, skips);
    lists[split] = list;
    skipped[split] = skips.counts();
    splits[split] = {
      n: items.length,
      labels: Int32Array.from(labels),
      loader: "nvgesture",
      items,
      options,
    };
  }
  const modalities: ModalitySpec[] = [
    { name: "rgb", kind: "frames", shape: [clipFrames, size, size, 3] },
    { name: "depth", kind: "frames", shape: [clipFrames, size, size, 1] },
    { name: "flow", kind: "frames", shape: [clipFrames, size, size, 2] },
  ];
  // evaluation sees the whole container
  const evalShapes = Object.fromEntries(
    modalities.map((m) => [m.name, [container, ...m.shape.slice(1)]]),
  );
  const ds = finishDataset(
    "nvgesture",
    modalities,
    Array.from({ length: NVGESTURE_CLASSES }, (_, i) => `class_${String(i + 1).padStart(2, "0")}`),
    { train: splits.train, test: { ...splits.test, shapes: evalShapes } },
    opts,
    { root, skipped, container, clipFrames, resize, size, frames: "extracted JPEGs" },
    lists,
  );
  // the held-out val split (20% of train, as the paper) is evaluated like test
  return { ...ds, val: { ...(ds.val as LazySplit), shapes: evalShapes } };
}
