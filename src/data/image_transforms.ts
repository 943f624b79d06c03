/**
 * The torchvision-style transforms the reference loaders apply to a decoded image
 * ({@link FloatImage}, HWC floats): bilinear resize, random resized crop, centre crop, horizontal
 * flip, grey conversion and mean/std normalisation, and {@link prepareFrame}, which decodes a frame
 * file (./image_codec.ts) and applies the reference loaders' whole frame transform. The ImageNet
 * mean/std here are the normalisation the video datasets' loaders use; a dataset with its own
 * values keeps them in its loader module (./text_image.ts).
 *
 * Differences from torchvision (PIL images or tensors), by design or by necessity:
 * - {@link resizeBilinear} does not antialias when it shrinks (see there).
 * - {@link toGray} keeps float luma where PIL rounds it to 8 bits.
 * - {@link crop} rejects a box outside the image where torchvision's `F.crop` zero-pads.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { encodeJpeg } from "./image_codec.ts";
 * import { IMAGENET_MEAN, IMAGENET_STD, prepareFrame } from "./image_transforms.ts";
 * import { Rng } from "@amss-ts/amss";
 * // a 64 x 48 RGB gradient as JPEG bytes (a frame file such as Image-01-FPS/<clip>/00001.jpg)
 * const data = Float32Array.from({ length: 48 * 64 * 3 }, (_, i) => (i % 192) / 192);
 * const bytes = encodeJpeg({ width: 64, height: 48, data });
 * const x = prepareFrame(bytes, "00001.jpg", {
 *   size: 32, train: true, rng: new Rng(1), channels: 1, mean: IMAGENET_MEAN, std: IMAGENET_STD,
 * });
 * assert(x.length === 32 * 32 * 1);
 * ```
 * @module
 */
import type { Rng } from "../rng.ts";
import { AmssArgumentError, requireFinite, requireInt, requirePositive } from "../validate.ts";
import { decodeImage } from "./image_codec.ts";
import { checkImage, type FloatImage } from "./image_types.ts";

/** A crop rectangle in pixels: rows `top .. top + height - 1`, columns `left .. left + width - 1`. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

// Exported constants are frozen so that no caller can change them for everyone else; their type
// stays `number[]` so that they can be passed where a plain array is expected.
const frozen = (xs: number[]): number[] => Object.freeze(xs) as number[];

/**
 * ImageNet RGB mean (torchvision's `Normalize` values, which the reference CREMA-D and
 * Kinetics-Sounds loaders use for their frames).
 */
export const IMAGENET_MEAN: number[] = frozen([0.485, 0.456, 0.406]);
/** ImageNet RGB standard deviation (torchvision's `Normalize` values). */
export const IMAGENET_STD: number[] = frozen([0.229, 0.224, 0.225]);

/** ITU-R BT.601 luma weights of R, G, B (PIL's "L" conversion). */
export const LUMA_WEIGHTS: readonly [number, number, number] = Object.freeze(
  [0.299, 0.587, 0.114] as const,
);

/** Source index and weight of every output position along one axis (torch's linear rule). */
function linearAxis(inSize: number, outSize: number) {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w1 = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    // half-pixel centres (align_corners=False); torch clamps negative source positions to 0
    const src = Math.max((d + 0.5) * scale - 0.5, 0);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, inSize - 1);
    w1[d] = src - lo;
  }
  return { i0, i1, w1 };
}

/**
 * Bilinear resize with half-pixel centres: output pixel `d` samples the input at
 * `(d + 0.5) * in / out - 0.5`, clamped to the edge pixels; the rule of torch's
 * `F.interpolate(mode="bilinear", align_corners=False, antialias=False)`, which torchvision's
 * `Resize` applies to tensors. Any channel count.
 *
 * Upscaling matches PIL's BILINEAR (its triangle filter has support 1 when enlarging; measured
 * equal to float precision). Downscaling does NOT antialias: PIL (and torchvision >= 0.17 with
 * antialias=True) widens the filter to the scale factor so that every input pixel counts, whereas
 * this reads only the 2 x 2 nearest ones. Measured against PIL 9.4 on a 720 x 477 photograph (float
 * "F" images, values in [0, 1]): to 224 x 224 (factors 3.2 and 2.1) mean |diff| 0.028, 99th
 * percentile 0.14, max 0.27; to 400 x 600 (factor 1.2) mean 0.005, max 0.07. For the frames here
 * (random resized crops of 0.08..1 of a ~480 x 360 frame, factors 0.5..1.9) the difference is
 * small next to the augmentation itself, but it shows as aliasing on fine texture, and a model
 * trained with one resize sees slightly different inputs under the other.
 */
export function resizeBilinear(img: FloatImage, outH: number, outW: number): FloatImage {
  checkImage("resizeBilinear img", img);
  requireInt("resizeBilinear outH", outH, 1);
  requireInt("resizeBilinear outW", outW, 1);
  const { width: W, height: H, channels: C, data: src } = img;
  if (outH === H && outW === W) {
    return { width: W, height: H, channels: C, data: src.slice() };
  }
  const ys = linearAxis(H, outH);
  const xs = linearAxis(W, outW);
  const out = new Float32Array(outH * outW * C);
  for (let y = 0; y < outH; y++) {
    const r0 = ys.i0[y] * W;
    const r1 = ys.i1[y] * W;
    const wy = ys.w1[y];
    for (let x = 0; x < outW; x++) {
      const c0 = xs.i0[x];
      const c1 = xs.i1[x];
      const wx = xs.w1[x];
      const a = (r0 + c0) * C, b = (r0 + c1) * C, c = (r1 + c0) * C, d = (r1 + c1) * C;
      const o = (y * outW + x) * C;
      for (let k = 0; k < C; k++) {
        const top = src[a + k] + (src[b + k] - src[a + k]) * wx;
        const bottom = src[c + k] + (src[d + k] - src[c + k]) * wx;
        out[o + k] = top + (bottom - top) * wy;
      }
    }
  }
  return { width: outW, height: outH, channels: C, data: out };
}

/**
 * The `h x w` rectangle whose top-left pixel is (`top`, `left`), copied out. The box must lie
 * inside the image (torchvision's `F.crop` would zero-pad instead; we treat that as a caller bug).
 */
export function crop(img: FloatImage, top: number, left: number, h: number, w: number): FloatImage {
  checkImage("crop img", img);
  requireInt("crop h", h, 1, img.height);
  requireInt("crop w", w, 1, img.width);
  requireInt("crop top", top, 0, img.height - h);
  requireInt("crop left", left, 0, img.width - w);
  const C = img.channels;
  const out = new Float32Array(h * w * C);
  for (let y = 0; y < h; y++) {
    const from = ((top + y) * img.width + left) * C;
    out.set(img.data.subarray(from, from + w * C), y * w * C);
  }
  return { width: w, height: h, channels: C, data: out };
}

/** Python's `round` (half to even), which torchvision's crop arithmetic uses. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The centred `h x w` crop, placed as torchvision's `center_crop`:
 * `top = round((H - h) / 2)`, `left = round((W - w) / 2)` with Python's half-to-even `round`.
 * The crop must fit inside the image.
 */
export function centerCrop(img: FloatImage, h: number, w: number = h): FloatImage {
  checkImage("centerCrop img", img);
  requireInt("centerCrop h", h, 1, img.height);
  requireInt("centerCrop w", w, 1, img.width);
  return crop(img, roundHalfEven((img.height - h) / 2), roundHalfEven((img.width - w) / 2), h, w);
}

/** Mirror image left to right (torchvision's `hflip`). */
export function flipHorizontal(img: FloatImage): FloatImage {
  checkImage("flipHorizontal img", img);
  const { width: W, height: H, channels: C, data: src } = img;
  const out = new Float32Array(src.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const from = (y * W + x) * C;
      const to = (y * W + (W - 1 - x)) * C;
      for (let k = 0; k < C; k++) out[to + k] = src[from + k];
    }
  }
  return { width: W, height: H, channels: C, data: out };
}

/** Options of {@link randomResizedCrop}: torchvision's defaults. */
export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's. Default [0.08, 1]. */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio width / height. Default [3/4, 4/3]. */
  ratio?: readonly [number, number];
}

function checkRange(
  name: string,
  r: readonly [number, number] | undefined,
  def: readonly [number, number],
): readonly [number, number] {
  const pair = r ?? def;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new AmssArgumentError(`${name} must be a pair [lo, hi], got ${JSON.stringify(r)}`);
  }
  const lo = requirePositive(`${name}[0]`, pair[0]);
  const hi = requirePositive(`${name}[1]`, pair[1]);
  if (lo > hi) throw new AmssArgumentError(`${name} must have lo <= hi, got [${lo}, ${hi}]`);
  return [lo, hi];
}

/**
 * The crop box of torchvision's `RandomResizedCrop.get_params` for an image of `height x width`:
 * up to 10 attempts, each drawing an area fraction uniform in `scale` and an aspect ratio
 * log-uniform in `ratio`, giving `w = round(sqrt(area * ratio))`, `h = round(sqrt(area / ratio))`;
 * the first attempt that fits is placed uniformly at random. If none fits, the fallback is the
 * centred crop of the whole image with its aspect ratio clamped to `ratio`. Rounding is Python's
 * (half to even), as in torchvision. Draws from `rng` in the same order (area, ratio, top, left).
 */
export function randomResizedCropBox(
  height: number,
  width: number,
  rng: Rng,
  opts: RandomResizedCropOptions = {},
): CropBox {
  requireInt("randomResizedCropBox height", height, 1);
  requireInt("randomResizedCropBox width", width, 1);
  const [s0, s1] = checkRange("randomResizedCrop scale", opts.scale, [0.08, 1]);
  const [r0, r1] = checkRange("randomResizedCrop ratio", opts.ratio, [3 / 4, 4 / 3]);
  const area = height * width;
  const logR0 = Math.log(r0), logR1 = Math.log(r1);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (s0 + (s1 - s0) * rng.float());
    const aspect = Math.exp(logR0 + (logR1 - logR0) * rng.float());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width, h = height;
  if (inRatio < r0) h = roundHalfEven(w / r0);
  else if (inRatio > r1) w = roundHalfEven(h * r1);
  // max(1, ...) only guards degenerate ratio ranges; torchvision would produce an empty crop
  h = Math.min(Math.max(h, 1), height);
  w = Math.min(Math.max(w, 1), width);
  return { top: (height - h) >> 1, left: (width - w) >> 1, height: h, width: w };
}

/**
 * torchvision's `RandomResizedCrop(size)`: a crop box from {@link randomResizedCropBox}, then a
 * bilinear resize of that crop to `size x size` ({@link resizeBilinear}, no antialiasing).
 */
export function randomResizedCrop(
  img: FloatImage,
  size: number,
  rng: Rng,
  opts: RandomResizedCropOptions = {},
): FloatImage {
  checkImage("randomResizedCrop img", img);
  requireInt("randomResizedCrop size", size, 1);
  const box = randomResizedCropBox(img.height, img.width, rng, opts);
  return resizeBilinear(crop(img, box.top, box.left, box.height, box.width), size, size);
}

/**
 * RGB to one luma channel, `0.299 R + 0.587 G + 0.114 B` (ITU-R 601-2, PIL's "L" mode). PIL
 * rounds to 8 bits on the way; we keep floats. Requires 3 channels.
 */
export function toGray(img: FloatImage): FloatImage {
  checkImage("toGray img", img);
  if (img.channels !== 3) {
    throw new AmssArgumentError(`toGray img must have 3 channels (RGB), got ${img.channels}`);
  }
  const n = img.width * img.height;
  const src = img.data;
  const out = new Float32Array(n);
  const [wr, wg, wb] = LUMA_WEIGHTS;
  for (let i = 0; i < n; i++) out[i] = wr * src[3 * i] + wg * src[3 * i + 1] + wb * src[3 * i + 2];
  return { width: img.width, height: img.height, channels: 1, data: out };
}

/**
 * The mean and standard deviation to normalise a grey ({@link toGray}) image with, given the RGB
 * ones: both luma-weighted. The mean is then exact (luma is linear, so the mean of the grey image
 * is the luma of the RGB mean); the std is exact when the three channels are perfectly correlated
 * and an upper bound otherwise (Minkowski), close for natural images whose channels correlate
 * strongly. ImageNet gives mean 0.4590, std 0.2256.
 */
export function grayMeanStd(
  mean: readonly number[],
  std: readonly number[],
): { mean: number[]; std: number[] } {
  if (mean.length !== 3 || std.length !== 3) {
    throw new AmssArgumentError(
      `grayMeanStd needs the 3 RGB means and stds, got ${mean.length} and ${std.length} values`,
    );
  }
  const dot = (v: readonly number[], name: string) =>
    v.reduce((s, x, i) => s + LUMA_WEIGHTS[i] * requireFinite(`${name}[${i}]`, x), 0);
  return { mean: [dot(mean, "grayMeanStd mean")], std: [dot(std, "grayMeanStd std")] };
}

/**
 * Per-channel `(x - mean[c]) / std[c]` (torchvision's `Normalize`). `mean` and `std` need one
 * entry per channel; every std must be > 0. Returns a new image.
 */
export function normalize(
  img: FloatImage,
  mean: readonly number[],
  std: readonly number[],
): FloatImage {
  checkImage("normalize img", img);
  const C = img.channels;
  if (mean.length !== C || std.length !== C) {
    throw new AmssArgumentError(
      `normalize: mean and std need one value per channel (${C}), got ${mean.length} and ${std.length}`,
    );
  }
  const m = mean.map((v, i) => requireFinite(`normalize mean[${i}]`, v));
  const inv = std.map((v, i) => 1 / requirePositive(`normalize std[${i}]`, v));
  const src = img.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i += C) {
    for (let k = 0; k < C; k++) out[i + k] = (src[i + k] - m[k]) * inv[k];
  }
  return { width: img.width, height: img.height, channels: C, data: out };
}

/** Options of {@link prepareFrame}. */
export interface PrepareFrameOptions {
  /** Output side: the result is `size x size`. */
  size: number;
  /** Training augmentation (random resized crop + horizontal flip) when true. */
  train: boolean;
  /** Generator for the augmentation; required when `train`. */
  rng?: Rng;
  /** 3 = RGB, 1 = luma ({@link toGray}). */
  channels: 1 | 3;
  /**
   * Mean and std per channel. With `channels: 1`, either one value each or the three RGB values,
   * which are then reduced by {@link grayMeanStd} (luma-weighted).
   */
  mean: readonly number[];
  /** See `mean`. */
  std: readonly number[];
  /**
   * Evaluation only: resize to `resize x resize` first, then take the centred `size x size` crop
   * (the Resize + CenterCrop recipe). Default: resize straight to `size x size`
   * (the reference loaders' evaluation transform). Must be >= size.
   */
  resize?: number;
  /** Random resized crop ranges for training (torchvision defaults). */
  scale?: readonly [number, number];
  /** See `scale`. */
  ratio?: readonly [number, number];
}

/**
 * Decodes one image file and applies the reference loaders' frame transform (CREMA-D's visual
 * frame): training = random resized crop to `size`, then a horizontal flip with
 * probability 0.5 (torchvision's `RandomHorizontalFlip`: flip when a uniform draw is < 0.5);
 * evaluation = resize to `size x size` (or to `resize x resize` and a centred crop). Then luma
 * when `channels` is 1, then mean/std normalisation. Returns `size * size * channels` floats,
 * HWC. A file that cannot be decoded throws a `DecodeError` naming `source`; bad options throw an
 * {@link AmssArgumentError}.
 */
export function prepareFrame(
  bytes: Uint8Array,
  source: string,
  opts: PrepareFrameOptions,
): Float32Array {
  const size = requireInt("prepareFrame size", opts.size, 1);
  const channels = opts.channels;
  if (channels !== 1 && channels !== 3) {
    throw new AmssArgumentError(`prepareFrame channels must be 1 or 3, got ${channels}`);
  }
  let mean = opts.mean, std = opts.std;
  if (channels === 1 && mean.length === 3 && std.length === 3) {
    ({ mean, std } = grayMeanStd(mean, std));
  }
  if (mean.length !== channels || std.length !== channels) {
    throw new AmssArgumentError(
      `prepareFrame mean/std need ${
        channels === 1 ? "1 or 3" : "3"
      } values each, got ${mean.length} and ${std.length}`,
    );
  }
  if (opts.train && !opts.rng) {
    throw new AmssArgumentError("prepareFrame rng is required when train is true");
  }
  if (opts.resize !== undefined) requireInt("prepareFrame resize", opts.resize, size);
  const img = decodeImage(bytes, source);
  let out: FloatImage;
  if (opts.train) {
    const rng = opts.rng!;
    out = randomResizedCrop(img, size, rng, { scale: opts.scale, ratio: opts.ratio });
    if (rng.float() < 0.5) out = flipHorizontal(out);
  } else if (opts.resize !== undefined && opts.resize !== size) {
    out = centerCrop(resizeBilinear(img, opts.resize, opts.resize), size, size);
  } else {
    out = resizeBilinear(img, size, size);
  }
  if (channels === 1) out = toGray(out);
  return normalize(out, mean, std).data;
}
