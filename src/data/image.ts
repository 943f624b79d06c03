/**
 * Image front end of the dataset loaders: decode a JPEG or PNG file
 * to RGB floats in [0, 1], then the torchvision-style transforms the reference loaders apply
 * (resize, random resized crop, centre crop, horizontal flip, grey conversion, mean/std
 * normalisation).
 *
 * Every image here is a {@link FloatImage}: `height * width * channels` float32 values, HWC
 * row-major (`data[(y * width + x) * channels + c]`), as a `[H, W, C]` tfjs tensor expects.
 *
 * Decoding goes through the pinned npm decoders: `jpeg-js` (baseline and progressive JPEG; grey,
 * YCbCr and Adobe CMYK) and `fast-png` (every PNG colour type and bit depth). Around them we add
 * what they do not check: the format is detected by magic bytes, the size is checked against a
 * pixel limit before anything is allocated, a JPEG without an end-of-image marker after its last
 * scan or a PNG without an IEND chunk is rejected as truncated, the CRC of every PNG chunk is
 * verified (stricter than PIL, which checks the header chunks but loads a file whose IDAT CRC is
 * wrong), and every failure becomes an {@link AmssArgumentError} naming the file.
 *
 * Differences from the PyTorch reference pipeline (PIL + torchvision), by design or by necessity:
 * - Alpha is dropped, not composited, and EXIF orientation is ignored: both as PIL's
 *   `Image.open(path).convert("RGB")` (torchvision's default loader) does.
 * - 16-bit PNG samples are scaled by 1/65535. PIL reduces 16-bit RGB to its high byte (a difference
 *   below 1/255) and clips 16-bit grey ("I;16") at 255 when converting to RGB (near-white images);
 *   we do not mirror that clipping.
 * - JPEG pixels come from jpeg-js, not libjpeg-turbo: the IDCT and the chroma upsampling differ
 *   (jpeg-js replicates subsampled chroma, libjpeg interpolates). Measured against PIL 9.4 on two
 *   720 x 477 photographs: 4:4:4 sampling, mean 0.5 and max 3 steps of 1/255; 4:2:2 progressive,
 *   mean 1.9 and max 25 steps, the large ones at sharp colour edges.
 * - {@link resizeBilinear} does not antialias (see there).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { encodeJpeg, IMAGENET_MEAN, IMAGENET_STD, prepareFrame } from "./image.ts";
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
import jpeg from "jpeg-js";
import { decode as decodePngFile, encode as encodePngFile } from "fast-png";
import type { Rng } from "../rng.ts";
import { AmssArgumentError, requireFinite, requireInt, requirePositive } from "../validate.ts";

/** An image of float samples, HWC row-major: `data[(y * width + x) * channels + c]`. */
export interface FloatImage {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

/** A decoded image: always 3 channels (RGB), values in [0, 1]. */
export interface RgbImage extends FloatImage {
  channels: 3;
}

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
/** Sarcasm RGB mean (the reference loader's value). */
export const SARCASM_MEAN: number[] = frozen([0.48456, 0.49888, 0.53066]);
/** Sarcasm RGB standard deviation (the reference loader's value). */
export const SARCASM_STD: number[] = frozen([0.24399, 0.24868, 0.25736]);
/** Twitter-15 RGB mean (the reference loader's value). */
export const TWITTER15_MEAN: number[] = frozen([0.42455, 0.44051, 0.47076]);
/** Twitter-15 RGB standard deviation (the reference loader's value). */
export const TWITTER15_STD: number[] = frozen([0.24485, 0.24617, 0.25451]);

/** ITU-R BT.601 luma weights of R, G, B (PIL's "L" conversion). */
export const LUMA_WEIGHTS: readonly [number, number, number] = Object.freeze(
  [0.299, 0.587, 0.114] as const,
);

/**
 * Default pixel limit of {@link decodeImage}: 40 megapixels. The largest images our datasets hold
 * are tweet images (Twitter caps uploads at 4096 x 4096 = 16.8 MP); video frames are well under
 * 1 MP. A 40 MP decode needs about 0.9 GB inside jpeg-js plus 0.5 GB for the float output.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** Options of {@link decodeImage}. */
export interface DecodeImageOptions {
  /** Largest width * height accepted (decompression-bomb guard). Default {@link DEFAULT_MAX_PIXELS}. */
  maxPixels?: number;
}

// jpeg-js counts its own allocations: 256 bytes per 8x8 coefficient block (= 4 B per sample per
// component), one byte per sample per component for the output lines, and the 3-byte RGB output.
// A 2000 x 2000 4:4:4 JPEG needs 81 MB by that count, 21 B per pixel; 24 B per pixel plus 16 MB
// for tables leaves margin, so the memory cap never binds before the pixel limit does.
const JPEG_BYTES_PER_PIXEL = 24;

const fail = (source: string, what: string): never => {
  throw new AmssArgumentError(`${source}: ${what}`);
};

function describeHead(bytes: Uint8Array): string {
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0"));
  return head.join(" ");
}

function startsWith(bytes: Uint8Array, sig: number[], at = 0): boolean {
  if (bytes.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (bytes[at + i] !== sig[i]) return false;
  return true;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

function checkSize(source: string, width: number, height: number, maxPixels: number): void {
  if (width === 0 || height === 0) fail(source, `zero-size image (${width} x ${height})`);
  if (width * height > maxPixels) {
    fail(
      source,
      `image is ${width} x ${height} = ${
        width * height
      } pixels, more than maxPixels = ${maxPixels}`,
    );
  }
}

/**
 * Decodes a JPEG or PNG file (detected by its magic bytes, not its name) to RGB in [0, 1], HWC
 * row-major. Grey images are replicated to three channels and alpha is dropped (as PIL's
 * `.convert("RGB")`). Throws {@link AmssArgumentError} naming `source` for an empty, truncated or
 * corrupt file, an unsupported format, a zero-size image or one over `maxPixels`.
 *
 * @param bytes the whole file.
 * @param source a name for error messages (normally the file path).
 */
export function decodeImage(
  bytes: Uint8Array,
  source: string,
  opts: DecodeImageOptions = {},
): RgbImage {
  const maxPixels = requireInt("decodeImage maxPixels", opts.maxPixels ?? DEFAULT_MAX_PIXELS, 1);
  if (!(bytes instanceof Uint8Array)) fail(source, "image bytes must be a Uint8Array");
  if (bytes.length === 0) fail(source, "empty file, expected a JPEG or PNG image");
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return decodeJpeg(bytes, source, maxPixels);
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes, source, maxPixels);
  let known = "";
  if (startsWith(bytes, ascii("GIF8"))) known = "GIF";
  else if (startsWith(bytes, ascii("BM"))) known = "BMP";
  else if (startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)) known = "WebP";
  else if (startsWith(bytes, [0x49, 0x49, 0x2a, 0]) || startsWith(bytes, [0x4d, 0x4d, 0, 0x2a])) {
    known = "TIFF";
  }
  return fail(
    source,
    known
      ? `${known} images are not supported; convert the file to JPEG or PNG`
      : `unknown image format (first bytes ${describeHead(bytes)}), expected a JPEG or PNG file`,
  );
}

/**
 * Walks the JPEG marker segments up to the first frame header and returns its size. Written here
 * (jpeg-js has no header-only mode) so that the pixel limit is checked before jpeg-js allocates
 * and a truncated header gets a clear message.
 */
function jpegFrameSize(bytes: Uint8Array, source: string): { width: number; height: number } {
  const n = bytes.length;
  let p = 2; // after SOI (FF D8)
  while (p < n) {
    if (bytes[p] !== 0xff) { // junk between segments: skipped, as libjpeg and PIL do
      p++;
      continue;
    }
    while (p < n && bytes[p] === 0xff) p++; // fill bytes
    if (p >= n) break;
    const m = bytes[p++];
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; // TEM, RSTn: no length
    if (m === 0xd9 || m === 0xda) {
      fail(source, `corrupt JPEG: ${m === 0xd9 ? "end of image" : "scan"} before any frame header`);
    }
    if (p + 2 > n) break;
    const len = (bytes[p] << 8) | bytes[p + 1];
    if (len < 2 || p + len > n) break;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (len < 8) fail(source, "corrupt JPEG: frame header too short");
      return {
        height: (bytes[p + 3] << 8) | bytes[p + 4],
        width: (bytes[p + 5] << 8) | bytes[p + 6],
      };
    }
    p += len;
  }
  return fail(source, "truncated JPEG: the file ends before the frame header");
}

/**
 * True when an EOI marker (FF D9) follows the last SOS marker (FF DA). Inside entropy-coded data
 * every FF byte is followed by 00 or an RSTn marker, so neither pair can occur there: a file cut
 * anywhere inside or after its last scan has no EOI after that scan. Bytes after EOI are allowed.
 */
function jpegHasEoiAfterLastScan(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 2; i >= 2; i--) {
    if (bytes[i] !== 0xff) continue;
    if (bytes[i + 1] === 0xd9) return true;
    if (bytes[i + 1] === 0xda) return false;
  }
  return false;
}

function decodeJpeg(bytes: Uint8Array, source: string, maxPixels: number): RgbImage {
  const { width, height } = jpegFrameSize(bytes, source);
  checkSize(source, width, height, maxPixels);
  // Truncation: we require the EOI explicitly, as PIL raises "image file is truncated" unless
  // LOAD_TRUNCATED_IMAGES is set. jpeg-js 0.4.4 usually throws on a plain truncation too (it reads
  // past the end as zero bits, then finds no marker), but that is not part of its contract and its
  // message ("marker was not found") does not say what is wrong. Not detectable here: a
  // file whose tail was overwritten with zero bytes and that still ends in EOI; zeros are valid
  // entropy-coded data and jpeg-js decodes such a file to an image with a flat tail.
  if (!jpegHasEoiAfterLastScan(bytes)) {
    fail(source, "truncated JPEG: no end-of-image marker (FF D9) after the last scan");
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // the pixel limit above is the real guard; these two only back it up inside jpeg-js
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.ceil((maxPixels * JPEG_BYTES_PER_PIXEL) / 2 ** 20) + 16,
    });
  } catch (e) {
    return fail(source, `corrupt JPEG (${errorText(e)})`);
  }
  if (decoded.width !== width || decoded.height !== height) {
    fail(
      source,
      `corrupt JPEG: header says ${width} x ${height}, decoder gave ${decoded.width} x ${decoded.height}`,
    );
  }
  const src = decoded.data;
  if (src.length !== width * height * 3) fail(source, "corrupt JPEG: wrong decoded data size");
  const data = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = src[i] / 255;
  return { width, height, channels: 3, data };
}

interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Reads IHDR (always the first chunk, PNG spec 5.6) before fast-png decodes anything. */
function pngHeader(bytes: Uint8Array, source: string): PngHeader {
  if (bytes.length < 33) fail(source, "truncated PNG: the file ends inside the header");
  if (!startsWith(bytes, ascii("IHDR"), 12)) fail(source, "corrupt PNG: first chunk is not IHDR");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    width: dv.getUint32(16),
    height: dv.getUint32(20),
    depth: bytes[24],
    colorType: bytes[25],
    interlace: bytes[28],
  };
}

/** True when the chunk type "IEND" (PNG spec 11.2.5) occurs after the IHDR; later bytes are allowed. */
function pngHasIend(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 4; i >= 33; i--) {
    if (
      bytes[i] === 0x49 && bytes[i + 1] === 0x45 && bytes[i + 2] === 0x4e && bytes[i + 3] === 0x44
    ) {
      return true;
    }
  }
  return false;
}

/** An error's message with its causes ("Error while decompressing the data: unexpected EOF"). */
function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && depth < 4; depth++) {
    const msg = c instanceof Error ? c.message : String(c);
    if (msg) parts.push(msg.replace(/:\s*$/, ""));
    c = c instanceof Error ? c.cause : undefined;
  }
  return parts.join(": ");
}

function decodePng(bytes: Uint8Array, source: string, maxPixels: number): RgbImage {
  const h = pngHeader(bytes, source);
  const { width, height, depth, colorType } = h;
  checkSize(source, width, height, maxPixels);
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined) fail(source, `corrupt PNG: unknown colour type ${colorType}`);
  const allowed = colorType === 0 ? [1, 2, 4, 8, 16] : colorType === 3 ? [1, 2, 4, 8] : [8, 16];
  if (!allowed.includes(depth)) {
    fail(source, `corrupt PNG: bit depth ${depth} is not allowed for colour type ${colorType}`);
  }
  if (h.interlace === 1 && depth < 8) {
    // fast-png 8.0.0's Adam7 path treats every packed byte as one pixel when depth < 8
    fail(source, `interlaced PNG with bit depth ${depth} is not supported; save it non-interlaced`);
  }
  if (!pngHasIend(bytes)) fail(source, "truncated PNG: no IEND chunk (the file ends early)");
  let png: ReturnType<typeof decodePngFile>;
  try {
    png = decodePngFile(bytes, { checkCrc: true });
  } catch (e) {
    return fail(source, `corrupt PNG (${errorText(e)})`);
  }
  if (png.width !== width || png.height !== height || png.channels !== channels) {
    fail(source, "corrupt PNG: decoder disagrees with the header");
  }
  const src = png.data;
  const n = width * height;
  const out = new Float32Array(n * 3);
  if (depth < 8) {
    // Sub-byte samples stay packed in fast-png's output (rows padded to whole bytes, PNG spec 7.2).
    // We unpack them here for grey and palette alike (rather than fast-png's convertIndexedToRgb,
    // which covers only the palette case).
    const rowBytes = Math.ceil((width * depth) / 8);
    if (src.length < rowBytes * height) fail(source, "truncated PNG: too little image data");
    const mask = (1 << depth) - 1;
    const palette = colorType === 3 ? png.palette ?? fail(source, "corrupt PNG: no palette") : null;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = x * depth;
        const v = (src[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
        writePaletteOrGrey(out, y * width + x, v, palette, mask, source);
      }
    }
    return { width, height, channels: 3, data: out };
  }
  if (src.length !== n * channels) fail(source, "truncated PNG: too little image data");
  if (colorType === 3) {
    const palette = png.palette ?? fail(source, "corrupt PNG: indexed colour without a palette");
    for (let i = 0; i < n; i++) writePaletteOrGrey(out, i, src[i], palette, 255, source);
    return { width, height, channels: 3, data: out };
  }
  const maxValue = depth === 16 ? 65535 : 255; // divide (not multiply) so k/255 round-trips exactly
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    if (channels <= 2) { // grey, grey + alpha: replicate grey, drop alpha
      const g = src[s] / maxValue;
      out[3 * i] = g;
      out[3 * i + 1] = g;
      out[3 * i + 2] = g;
    } else { // RGB, RGBA: drop alpha
      out[3 * i] = src[s] / maxValue;
      out[3 * i + 1] = src[s + 1] / maxValue;
      out[3 * i + 2] = src[s + 2] / maxValue;
    }
  }
  return { width, height, channels: 3, data: out };
}

function writePaletteOrGrey(
  out: Float32Array,
  i: number,
  v: number,
  palette: number[][] | null,
  maxValue: number,
  source: string,
): void {
  if (palette) {
    const rgb = palette[v];
    if (rgb === undefined) {
      fail(source, `corrupt PNG: palette index ${v} out of range (${palette.length} entries)`);
    }
    out[3 * i] = rgb[0] / 255;
    out[3 * i + 1] = rgb[1] / 255;
    out[3 * i + 2] = rgb[2] / 255;
  } else {
    const g = v / maxValue; // 1/2/4-bit grey scaled to [0, 1] (PNG spec 13.12)
    out[3 * i] = g;
    out[3 * i + 1] = g;
    out[3 * i + 2] = g;
  }
}

function checkImage(name: string, img: FloatImage): void {
  if (img === null || typeof img !== "object" || !(img.data instanceof Float32Array)) {
    throw new AmssArgumentError(`${name} must be an image {width, height, channels, data}`);
  }
  requireInt(`${name}.width`, img.width, 1);
  requireInt(`${name}.height`, img.height, 1);
  requireInt(`${name}.channels`, img.channels, 1);
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new AmssArgumentError(
      `${name}.data has ${img.data.length} values, expected width * height * channels = ${
        img.width * img.height * img.channels
      }`,
    );
  }
}

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
 * HWC. Errors name `source`.
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

function toBytes(name: string, img: FloatImage, maxValue: number): Uint8Array | Uint16Array {
  const out = maxValue === 255 ? new Uint8Array(img.data.length) : new Uint16Array(img.data.length);
  for (let i = 0; i < img.data.length; i++) {
    const v = img.data[i];
    if (!Number.isFinite(v)) {
      throw new AmssArgumentError(`${name}.data[${i}] is ${v}, expected a finite number`);
    }
    out[i] = Math.round(Math.min(Math.max(v, 0), 1) * maxValue);
  }
  return out;
}

/** Input of {@link encodeJpeg} and {@link encodePng}: `channels` defaults to 3. */
export interface EncodableImage {
  width: number;
  height: number;
  channels?: number;
  data: Float32Array;
}

function asImage(name: string, img: EncodableImage): FloatImage {
  const full = { ...img, channels: img.channels ?? 3 };
  checkImage(name, full);
  return full;
}

/**
 * Encodes an RGB (or grey, replicated) image with values in [0, 1] as a baseline JPEG with
 * jpeg-js (values clamped, then rounded to 8 bits). `quality` 1..100. For test fixtures.
 */
export function encodeJpeg(img: EncodableImage, quality = 90): Uint8Array {
  const im = asImage("encodeJpeg img", img);
  requireInt("encodeJpeg quality", quality, 1, 100);
  if (im.channels !== 3 && im.channels !== 1) {
    throw new AmssArgumentError(`encodeJpeg img must have 1 or 3 channels, got ${im.channels}`);
  }
  const v = toBytes("encodeJpeg img", im, 255);
  const n = im.width * im.height;
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) rgba[4 * i + k] = v[im.channels === 3 ? 3 * i + k : i];
    rgba[4 * i + 3] = 255;
  }
  const enc = jpeg.encode({ width: im.width, height: im.height, data: rgba }, quality);
  return new Uint8Array(enc.data.buffer, enc.data.byteOffset, enc.data.byteLength).slice();
}

/**
 * Encodes an image with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels and values in
 * [0, 1] as a PNG with fast-png, 8-bit (default) or 16-bit samples (clamped, then rounded).
 * For test fixtures.
 */
export function encodePng(img: EncodableImage, opts: { depth?: 8 | 16 } = {}): Uint8Array {
  const im = asImage("encodePng img", img);
  const depth = opts.depth ?? 8;
  if (depth !== 8 && depth !== 16) {
    throw new AmssArgumentError(`encodePng depth must be 8 or 16, got ${depth}`);
  }
  if (im.channels > 4) {
    throw new AmssArgumentError(`encodePng img must have 1 to 4 channels, got ${im.channels}`);
  }
  const data = toBytes("encodePng img", im, depth === 8 ? 255 : 65535);
  return encodePngFile({ width: im.width, height: im.height, channels: im.channels, depth, data });
}
