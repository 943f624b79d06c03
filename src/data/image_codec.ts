/**
 * JPEG and PNG files to RGB floats in [0, 1] ({@link decodeImage}), and the encoders that write the
 * test fixtures ({@link encodeJpeg}, {@link encodePng}).
 *
 * Decoding goes through the pinned npm decoders: `jpeg-js` (baseline and progressive JPEG; grey,
 * YCbCr and Adobe CMYK) and `fast-png` (every PNG colour type and bit depth). Around them we add
 * what they do not check: the format is detected by magic bytes, the size is checked against a
 * pixel limit before anything is allocated, a JPEG without an end-of-image marker after its last
 * scan or a PNG without an IEND chunk is rejected as truncated, the CRC of every PNG chunk is
 * verified (stricter than PIL, which checks the header chunks but loads a file whose IDAT CRC is
 * wrong), and every failure of the file's content becomes a {@link DecodeError} naming the file
 * (a bad argument from the caller, such as `maxPixels`, stays an `AmssArgumentError`).
 *
 * Differences from the PyTorch reference loader (PIL's `Image.open(path).convert("RGB")`,
 * torchvision's default), by design or by necessity:
 * - Alpha is dropped, not composited, and EXIF orientation is ignored: both as PIL does.
 * - 16-bit PNG samples are scaled by 1/65535. PIL reduces 16-bit RGB to its high byte (a difference
 *   below 1/255) and clips 16-bit grey ("I;16") at 255 when converting to RGB (near-white images);
 *   we do not mirror that clipping.
 * - JPEG pixels come from jpeg-js, not libjpeg-turbo: the IDCT and the chroma upsampling differ
 *   (jpeg-js replicates subsampled chroma, libjpeg interpolates). Measured against PIL 9.4 on two
 *   720 x 477 photographs: 4:4:4 sampling, mean 0.5 and max 3 steps of 1/255; 4:2:2 progressive,
 *   mean 1.9 and max 25 steps, the large ones at sharp colour edges.
 *
 * @example Round-trip a PNG; a truncated file is a DecodeError naming it
 * ```ts
 * import { assert, assertThrows } from "@std/assert";
 * import { DecodeError } from "./decode_error.ts";
 * import { decodeImage, encodePng } from "./image_codec.ts";
 * const data = Float32Array.from({ length: 4 * 3 * 3 }, (_, i) => (i % 256) / 255);
 * const bytes = encodePng({ width: 4, height: 3, data });
 * const img = decodeImage(bytes, "tile.png");
 * assert(img.width === 4 && img.height === 3 && img.data[5] === data[5]);
 * assertThrows(() => decodeImage(bytes.slice(0, 40), "cut.png"), DecodeError, "cut.png: truncated");
 * ```
 * @module
 */
import jpeg from "jpeg-js";
import { decode as decodePngFile, encode as encodePngFile } from "fast-png";
import { AmssArgumentError, requireInt } from "../validate.ts";
import { DecodeError } from "./decode_error.ts";
import { checkImage, type FloatImage, type RgbImage } from "./image_types.ts";

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

/** Throws the {@link DecodeError} `<source>: <what>`. */
const fail = (source: string, what: string): never => {
  throw new DecodeError(`${source}: ${what}`);
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
 * `.convert("RGB")`). Throws {@link DecodeError} naming `source` for an empty, truncated or
 * corrupt file, an unsupported format, a zero-size image or one over `maxPixels`; an
 * `AmssArgumentError` when `bytes` is not a Uint8Array or `maxPixels` is not a positive integer.
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
  if (!(bytes instanceof Uint8Array)) {
    throw new AmssArgumentError(`${source}: image bytes must be a Uint8Array`);
  }
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
