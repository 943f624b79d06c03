import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertInstanceOf,
  assertLess,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { encode as pngEncode } from "fast-png";
import {
  centerCrop,
  crop,
  decodeImage,
  encodeJpeg,
  encodePng,
  flipHorizontal,
  type FloatImage,
  grayMeanStd,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  prepareFrame,
  randomResizedCrop,
  randomResizedCropBox,
  resizeBilinear,
  SARCASM_MEAN,
  toGray,
  TWITTER15_STD,
} from "../src/data/image.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";

/** R = x ramp, G = y ramp, B = a slow sine: smooth, so JPEG error stays small. */
function gradient(W: number, H: number): FloatImage {
  const data = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      data[i] = x / (W - 1);
      data[i + 1] = y / (H - 1);
      data[i + 2] = 0.5 + 0.25 * Math.sin((x + y) / 12);
    }
  }
  return { width: W, height: H, channels: 3, data };
}

/** Values k / maxValue, k uniform on 0..maxValue, from a seeded generator. */
function randomLevels(n: number, maxValue: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(maxValue + 1) / maxValue;
  return out;
}

function constant(W: number, H: number, rgb: number[]): FloatImage {
  const data = new Float32Array(W * H * 3);
  for (let i = 0; i < W * H; i++) data.set(rgb, 3 * i);
  return { width: W, height: H, channels: 3, data };
}

/** Asserts `fn` throws AmssArgumentError whose message names `source` and contains `includes`. */
function assertBadImage(fn: () => unknown, source: string, includes: string): void {
  const e = assertThrows(fn, AmssArgumentError);
  assertStringIncludes(e.message, source);
  assertStringIncludes(e.message, includes);
}

/** Byte offset of the first SOF0 segment's marker, found by walking the segments. */
function sof0Offset(jpg: Uint8Array): number {
  let p = 2;
  while (p < jpg.length) {
    const m = jpg[p + 1];
    if (m === 0xc0) return p;
    p += 2 + ((jpg[p + 2] << 8) | jpg[p + 3]);
  }
  throw new Error("no SOF0");
}

// ---------------------------------------------------------------- decoding

Deno.test("decodeImage: JPEG round trip of a smooth gradient stays within the measured error", () => {
  const g = gradient(64, 48);
  const jpg = encodeJpeg(g, 90);
  assertEquals([jpg[0], jpg[1], jpg[jpg.length - 2], jpg[jpg.length - 1]], [
    0xff,
    0xd8,
    0xff,
    0xd9,
  ]);
  const d = decodeImage(jpg, "gradient.jpg");
  assertEquals([d.width, d.height, d.channels, d.data.length], [64, 48, 3, 64 * 48 * 3]);
  let max = 0, sum = 0;
  for (let i = 0; i < d.data.length; i++) {
    const e = Math.abs(d.data[i] - g.data[i]);
    max = Math.max(max, e);
    sum += e;
  }
  // jpeg-js 0.4.4 at quality 90 (deterministic): measured max 7.2/255, mean 1.0/255. Bounds with
  // margin for other encoder versions; quality 75 measured max 9.2/255, so a wrong quality or a
  // colour/scale bug (errors of tens of levels) fails.
  assertLess(max, 10 / 255);
  assertLess(sum / d.data.length, 1.5 / 255);
});

Deno.test("decodeImage: grey JPEG-encoded image comes back with three equal channels", () => {
  const grey: FloatImage = { width: 16, height: 16, channels: 1, data: new Float32Array(256) };
  grey.data.fill(0.5);
  const d = decodeImage(encodeJpeg(grey), "grey.jpg");
  for (let i = 0; i < 256; i++) {
    assertAlmostEquals(d.data[3 * i], 0.5, 2 / 255);
    assertEquals(d.data[3 * i], d.data[3 * i + 1]);
    assertEquals(d.data[3 * i], d.data[3 * i + 2]);
  }
});

Deno.test("decodeImage: 8-bit RGB PNG round trip is exact (odd sizes)", () => {
  const img = { width: 7, height: 5, channels: 3, data: randomLevels(7 * 5 * 3, 255, 1) };
  const d = decodeImage(encodePng(img), "rgb.png");
  assertEquals([d.width, d.height, d.channels], [7, 5, 3]);
  assertEquals(d.data, img.data);
});

Deno.test("decodeImage: 16-bit RGB PNG round trip is exact at k/65535", () => {
  const img = { width: 5, height: 3, channels: 3, data: randomLevels(5 * 3 * 3, 65535, 2) };
  const png = encodePng(img, { depth: 16 });
  assertEquals(png[24], 16); // IHDR bit depth
  assertEquals(decodeImage(png, "rgb16.png").data, img.data);
});

Deno.test("decodeImage: RGBA and grey+alpha PNG drop alpha (as PIL's convert('RGB'))", () => {
  const rgba = { width: 3, height: 2, channels: 4, data: randomLevels(24, 255, 3) };
  const d = decodeImage(encodePng(rgba), "rgba.png");
  for (let i = 0; i < 6; i++) {
    for (let k = 0; k < 3; k++) assertEquals(d.data[3 * i + k], rgba.data[4 * i + k]);
  }
  const ga = { width: 3, height: 2, channels: 2, data: randomLevels(12, 255, 4) };
  const g = decodeImage(encodePng(ga), "ga.png");
  for (let i = 0; i < 6; i++) {
    for (let k = 0; k < 3; k++) assertEquals(g.data[3 * i + k], ga.data[2 * i]);
  }
});

Deno.test("decodeImage: grey PNG at 8, 16, 4 and 1 bits is replicated to RGB", () => {
  const grey8 = { width: 4, height: 3, channels: 1, data: randomLevels(12, 255, 5) };
  const d8 = decodeImage(encodePng(grey8), "grey8.png");
  for (let i = 0; i < 12; i++) {
    for (let k = 0; k < 3; k++) assertEquals(d8.data[3 * i + k], grey8.data[i]);
  }
  const grey16 = { width: 4, height: 3, channels: 1, data: randomLevels(12, 65535, 6) };
  const d16 = decodeImage(encodePng(grey16, { depth: 16 }), "grey16.png");
  for (let i = 0; i < 12; i++) assertEquals(d16.data[3 * i], grey16.data[i]);
  // 4-bit grey, width 3: rows are 2 bytes, the low nibble of the second byte is padding
  const p4 = pngEncode({
    width: 3,
    height: 2,
    channels: 1,
    depth: 4,
    data: new Uint8Array([0x0f, 0x70, 0x31, 0x20]),
  });
  assertEquals(
    Array.from(decodeImage(p4, "g4.png").data.filter((_, i) => i % 3 === 0)),
    [
      0,
      1,
      7 / 15,
      3 / 15,
      1 / 15,
      2 / 15,
    ].map(Math.fround),
  );
  // 1-bit grey, width 10: rows are 2 bytes, pixels are bits from the most significant one
  const p1 = pngEncode({
    width: 10,
    height: 1,
    channels: 1,
    depth: 1,
    data: new Uint8Array([0b10110000, 0b01000000]),
  });
  const d1 = decodeImage(p1, "g1.png");
  assertEquals(Array.from(d1.data.filter((_, i) => i % 3 === 0)), [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
});

Deno.test("decodeImage: palette PNG at 8 and 2 bits, with and without transparency", () => {
  const palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]];
  const expectRgb = (idx: number[]) =>
    Float32Array.from(idx.flatMap((i) => palette[i].map((v) => v / 255)));
  const p8 = pngEncode({
    width: 3,
    height: 2,
    channels: 1,
    depth: 8,
    palette,
    data: new Uint8Array([0, 1, 2, 3, 0, 2]),
  });
  assertEquals(p8[25], 3); // IHDR colour type: indexed
  assertEquals(decodeImage(p8, "pal8.png").data, expectRgb([0, 1, 2, 3, 0, 2]));
  // 2-bit indices, width 5: rows are 2 bytes (indices 3 2 1 0 | 1 + padding)
  const p2 = pngEncode({
    width: 5,
    height: 1,
    channels: 1,
    depth: 2,
    palette,
    data: new Uint8Array([0b11100100, 0b01000000]),
  });
  assertEquals(decodeImage(p2, "pal2.png").data, expectRgb([3, 2, 1, 0, 1]));
  // a tRNS chunk (palette entries with alpha) changes nothing: alpha is dropped
  const withAlpha = palette.map((c, i) => [...c, i * 60]);
  const pa = pngEncode({
    width: 3,
    height: 2,
    channels: 1,
    depth: 8,
    palette: withAlpha,
    data: new Uint8Array([0, 1, 2, 3, 0, 2]),
  });
  assertEquals(decodeImage(pa, "pal_trns.png").data, expectRgb([0, 1, 2, 3, 0, 2]));
});

Deno.test("decodeImage: Adam7-interlaced 8-bit PNG decodes exactly; below 8 bits is refused", () => {
  const img = { width: 11, height: 9, channels: 3, data: randomLevels(11 * 9 * 3, 255, 7) };
  const data = Uint8Array.from(img.data, (v) => Math.round(v * 255));
  const inter = pngEncode({ width: 11, height: 9, channels: 3, depth: 8, data }, {
    interlace: "Adam7",
  });
  assertEquals(inter[28], 1); // IHDR interlace method
  assertEquals(decodeImage(inter, "adam7.png").data, img.data);
  const p1 = pngEncode({ width: 8, height: 1, channels: 1, depth: 1, data: new Uint8Array([5]) });
  p1[28] = 1; // mark interlaced: refused from the header, before any decoding
  assertBadImage(() => decodeImage(p1, "adam7_1bit.png"), "adam7_1bit.png", "interlaced");
});

Deno.test("decodeImage: each bad input is an AmssArgumentError naming the file", () => {
  const jpg = encodeJpeg(gradient(40, 30));
  const png = encodePng(gradient(40, 30));
  assertBadImage(() => decodeImage(new Uint8Array(0), "empty.jpg"), "empty.jpg", "empty file");
  const rng = new Rng(11);
  const noise = Uint8Array.from({ length: 1000 }, () => rng.int(256));
  noise[0] = 0x42; // fix the first byte so no magic number can match by chance
  assertBadImage(() => decodeImage(noise, "noise.bin"), "noise.bin", "unknown image format");
  assertBadImage(
    () => decodeImage(new TextEncoder().encode("GIF89a......"), "a.gif"),
    "a.gif",
    "GIF images are not supported",
  );
  // truncated JPEG: cut inside the scan, and cut just before the end-of-image marker
  assertBadImage(
    () => decodeImage(jpg.slice(0, jpg.length >> 1), "half.jpg"),
    "half.jpg",
    "truncated",
  );
  assertBadImage(
    () => decodeImage(jpg.slice(0, jpg.length - 2), "noeoi.jpg"),
    "noeoi.jpg",
    "truncated",
  );
  assertBadImage(() => decodeImage(jpg.slice(0, 20), "head.jpg"), "head.jpg", "truncated");
  // zero bytes instead of the tail, no EOI: still caught
  const zeroTail = jpg.slice();
  zeroTail.fill(0, jpg.length >> 1);
  assertBadImage(() => decodeImage(zeroTail, "zeros.jpg"), "zeros.jpg", "truncated");
  // corrupt scan data (a marker inside the entropy-coded segment): the decoder's error, wrapped
  const sos = jpg.lastIndexOf(0xda) - 1;
  const bad = jpg.slice();
  bad[sos + 40] = 0xff;
  bad[sos + 41] = 0xc4;
  assertBadImage(() => decodeImage(bad, "bad.jpg"), "bad.jpg", "corrupt JPEG");
  // zero-size JPEG (SOF0 width 0)
  const zw = jpg.slice();
  const sof = sof0Offset(zw);
  zw[sof + 7] = 0;
  zw[sof + 8] = 0;
  assertBadImage(() => decodeImage(zw, "zerow.jpg"), "zerow.jpg", "zero-size");
  // truncated PNG, PNG with a flipped data byte (CRC), zero-size PNG
  assertBadImage(
    () => decodeImage(png.slice(0, png.length >> 1), "half.png"),
    "half.png",
    "truncated PNG",
  );
  const flipped = png.slice();
  flipped[png.length - 20] ^= 0x55;
  assertBadImage(() => decodeImage(flipped, "crc.png"), "crc.png", "corrupt PNG");
  const zp = png.slice();
  zp.fill(0, 16, 20); // IHDR width
  assertBadImage(() => decodeImage(zp, "zerow.png"), "zerow.png", "zero-size");
  assertBadImage(() => decodeImage(png.slice(0, 10), "short.png"), "short.png", "truncated");
  // pixel limit (decompression-bomb guard), both formats
  assertBadImage(() => decodeImage(jpg, "big.jpg", { maxPixels: 1199 }), "big.jpg", "maxPixels");
  assertBadImage(() => decodeImage(png, "big.png", { maxPixels: 1199 }), "big.png", "maxPixels");
  assertEquals(decodeImage(png, "ok.png", { maxPixels: 1200 }).width, 40);
});

Deno.test("decodeImage: bytes after the end-of-image marker are accepted", () => {
  const jpg = encodeJpeg(gradient(16, 16));
  const padded = new Uint8Array(jpg.length + 5);
  padded.set(jpg);
  assertEquals(decodeImage(padded, "trailing.jpg").data, decodeImage(jpg, "plain.jpg").data);
});

// ---------------------------------------------------------------- geometry

/** 2 channels: c0 = 3x + 1 (a ramp along x), c1 = 5 - 2y (a ramp along y). */
function ramp(W: number, H: number): FloatImage {
  const data = new Float32Array(W * H * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      data[(y * W + x) * 2] = 3 * x + 1;
      data[(y * W + x) * 2 + 1] = 5 - 2 * y;
    }
  }
  return { width: W, height: H, channels: 2, data };
}

Deno.test("resizeBilinear: a linear ramp is exact at interior pixels, edge-clamped outside", () => {
  for (const [inW, inH, outW, outH] of [[8, 6, 20, 13], [9, 7, 4, 3], [8, 6, 5, 11]]) {
    const r = resizeBilinear(ramp(inW, inH), outH, outW);
    assertEquals([r.width, r.height, r.channels], [outW, outH, 2]);
    let interior = 0;
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        // half-pixel centres: output d samples input (d + 0.5) * in / out - 0.5, clamped
        const sx = Math.min(Math.max((x + 0.5) * inW / outW - 0.5, 0), inW - 1);
        const sy = Math.min(Math.max((y + 0.5) * inH / outH - 0.5, 0), inH - 1);
        assertAlmostEquals(r.data[(y * outW + x) * 2], 3 * sx + 1, 1e-5);
        assertAlmostEquals(r.data[(y * outW + x) * 2 + 1], 5 - 2 * sy, 1e-5);
        if (sx > 0 && sx < inW - 1 && sy > 0 && sy < inH - 1) interior++;
      }
    }
    assert(interior > 0);
  }
});

Deno.test("resizeBilinear: hand-worked up- and downscale, same size is the identity", () => {
  const up = resizeBilinear(
    { width: 2, height: 1, channels: 1, data: new Float32Array([0, 1]) },
    1,
    4,
  );
  // samples at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1): torch gives the same
  assertEquals(Array.from(up.data), [0, 0.25, 0.75, 1]);
  const down = resizeBilinear(
    { width: 4, height: 1, channels: 1, data: new Float32Array([0, 1, 2, 3]) },
    1,
    2,
  );
  assertEquals(Array.from(down.data), [0.5, 2.5]); // samples at 0.5 and 2.5
  const g = gradient(13, 9);
  const same = resizeBilinear(g, 9, 13);
  assertEquals(same.data, g.data);
  assert(same.data !== g.data, "a copy, not the same buffer");
  assertThrows(() => resizeBilinear(g, 0, 5), AmssArgumentError, "outH");
  assertThrows(
    () => resizeBilinear({ width: 2, height: 2, channels: 3, data: new Float32Array(5) }, 4, 4),
    AmssArgumentError,
    "width * height * channels",
  );
});

Deno.test("crop, centerCrop and flipHorizontal: hand-worked cases and errors", () => {
  // value = 10 * y + x, one channel, 7 x 7
  const idx: FloatImage = {
    width: 7,
    height: 7,
    channels: 1,
    data: Float32Array.from({ length: 49 }, (_, i) => 10 * Math.floor(i / 7) + (i % 7)),
  };
  assertEquals(Array.from(crop(idx, 1, 2, 2, 3).data), [12, 13, 14, 22, 23, 24]);
  assertThrows(() => crop(idx, 6, 0, 2, 2), AmssArgumentError, "crop top");
  assertThrows(() => crop(idx, 0, 0, 8, 1), AmssArgumentError, "crop h");
  // torchvision: top = round((7 - 2) / 2) = round(2.5) = 2 (Python rounds half to even)
  assertEquals(Array.from(centerCrop(idx, 2).data), [22, 23, 32, 33]);
  // round((7 - 4) / 2) = round(1.5) = 2 rows down, round((7 - 3) / 2) = 2 columns in
  assertEquals(Array.from(centerCrop(idx, 4, 3).data.slice(0, 3)), [22, 23, 24]);
  assertThrows(() => centerCrop(idx, 8), AmssArgumentError, "centerCrop h");

  const two: FloatImage = {
    width: 3,
    height: 1,
    channels: 2,
    data: new Float32Array([1, 2, 3, 4, 5, 6]),
  };
  assertEquals(Array.from(flipHorizontal(two).data), [5, 6, 3, 4, 1, 2]); // channel order kept
  const g = gradient(10, 7);
  assertEquals(flipHorizontal(flipHorizontal(g)).data, g.data);
  assertNotEquals(flipHorizontal(g).data, g.data);
});

// ---------------------------------------------------------------- random resized crop

Deno.test("randomResizedCrop: deterministic for a seed, right size, box inside the image", () => {
  const g = gradient(48, 36);
  const a = randomResizedCrop(g, 24, new Rng(5));
  const b = randomResizedCrop(g, 24, new Rng(5));
  assertEquals([a.width, a.height, a.channels, a.data.length], [24, 24, 3, 24 * 24 * 3]);
  assertEquals(a.data, b.data);
  assertNotEquals(randomResizedCrop(g, 24, new Rng(6)).data, a.data);

  const rng = new Rng(9);
  for (const [H, W] of [[36, 48], [360, 480], [1, 1], [7, 300], [300, 7], [1000, 1000]]) {
    for (let i = 0; i < 500; i++) {
      const box = randomResizedCropBox(H, W, rng);
      assert(box.height >= 1 && box.width >= 1, `empty box ${JSON.stringify(box)}`);
      assert(box.top >= 0 && box.left >= 0, `box ${JSON.stringify(box)} starts outside`);
      assert(box.top + box.height <= H && box.left + box.width <= W, `box ${JSON.stringify(box)}`);
    }
  }
});

Deno.test("randomResizedCropBox: torchvision's fallback centre crop, clamped to the ratio range", () => {
  // scale >= 0.9 on a 10 x 1000 strip: h = sqrt(s * A / r) >= sqrt(9000 * 3/4) = 82 > 10 on every
  // attempt, so all 10 fail. Wide image: h = 10, w = round(10 * 4/3) = 13, left = (1000 - 13) // 2.
  const opts = { scale: [0.9, 1] as [number, number] };
  assertEquals(randomResizedCropBox(10, 1000, new Rng(1), opts), {
    top: 0,
    left: 493,
    height: 10,
    width: 13,
  });
  // tall image: w = 10, h = round(10 / (3/4)) = 13, top = (1000 - 13) // 2 = 493
  assertEquals(randomResizedCropBox(1000, 10, new Rng(1), opts), {
    top: 493,
    left: 0,
    height: 13,
    width: 10,
  });
  // ratio range containing the image's: the whole image
  assertEquals(randomResizedCropBox(10, 1000, new Rng(1), { scale: [2, 3], ratio: [50, 200] }), {
    top: 0,
    left: 0,
    height: 10,
    width: 1000,
  });
  assertThrows(
    () => randomResizedCropBox(10, 10, new Rng(1), { scale: [1, 0.5] }),
    AmssArgumentError,
    "lo <= hi",
  );
  assertThrows(
    () => randomResizedCropBox(10, 10, new Rng(1), { ratio: [0, 1] }),
    AmssArgumentError,
    "ratio[0]",
  );
});

Deno.test("randomResizedCropBox: area fraction and log aspect ratio match the sampling law", () => {
  // Square 1000 x 1000 image, defaults scale [a, b] = [0.08, 1], ratio [3/4, 4/3]. An attempt draws
  // s ~ U[a, b] and u = log r ~ U[-c, c], c = log(4/3); it fits iff s r <= 1 and s / r <= 1, i.e.
  // s <= m(u) = exp(-|u|) (up to rounding). The first fitting attempt is a draw from the law of s
  // given s <= m(u) (the fallback needs 10 failures: probability (1 - P)^10 = 3e-9). With
  // E_u[m^k] = (1 - exp(-k c)) / (k c):
  //   P = (E[m] - a) / (b - a),  E[s 1{fit}] = (E[m^2] - a^2) / (2 (b - a)),
  //   E[s^2 1{fit}] = (E[m^3] - a^3) / (3 (b - a)),
  // mean = E[s 1{fit}] / P = 0.4778, sd = 0.233. Tolerance: 5 standard errors for N draws, plus
  // 0.002 for rounding w and h to whole pixels (|w h / A - s| <= (w + h) / (2 A) <= 0.001, and the
  // fit boundary moves by about as much).
  const a = 0.08, b = 1, c = Math.log(4 / 3);
  const Em = (k: number) => (1 - Math.exp(-k * c)) / (k * c);
  const P = (Em(1) - a) / (b - a);
  const mean = (Em(2) - a * a) / (2 * (b - a)) / P;
  const second = (Em(3) - a ** 3) / (3 * (b - a)) / P;
  const sd = Math.sqrt(second - mean * mean);
  assertAlmostEquals(mean, 0.4778, 1e-4); // the closed form, worked by hand
  const N = 20000;
  const rng = new Rng(2024);
  let sumArea = 0, sumLogRatio = 0;
  for (let i = 0; i < N; i++) {
    const box = randomResizedCropBox(1000, 1000, rng);
    sumArea += (box.width * box.height) / 1e6;
    sumLogRatio += Math.log(box.width / box.height);
  }
  assertAlmostEquals(sumArea / N, mean, 5 * sd / Math.sqrt(N) + 0.002);
  // u given a fit is symmetric about 0 with |u| <= c, so sd <= c; rounding moves log(w / h) by at
  // most 1 / 245 (sides >= sqrt(0.08e6 * 3/4) = 245 pixels) = 0.004
  assertAlmostEquals(sumLogRatio / N, 0, 5 * c / Math.sqrt(N) + 0.004);
});

// ---------------------------------------------------------------- grey and normalisation

Deno.test("toGray: ITU-R 601-2 luma of pure colours", () => {
  const px = (rgb: number[]) => toGray(constant(2, 1, rgb)).data;
  assertEquals(px([1, 0, 0]), new Float32Array([0.299, 0.299]));
  assertEquals(px([0, 1, 0])[0], Math.fround(0.587));
  assertEquals(px([0, 0, 1])[0], Math.fround(0.114));
  assertAlmostEquals(px([1, 1, 1])[0], 1, 1e-7);
  assertEquals(toGray(constant(3, 2, [0, 0, 0])).channels, 1);
  assertThrows(() => toGray(ramp(2, 2)), AmssArgumentError, "3 channels");
});

Deno.test("normalize: per-channel (x - mean) / std and its errors", () => {
  const img = constant(2, 1, [0.5, 0.25, 1]);
  const n = normalize(img, IMAGENET_MEAN, IMAGENET_STD);
  const expected = [(0.5 - 0.485) / 0.229, (0.25 - 0.456) / 0.224, (1 - 0.406) / 0.225];
  for (let i = 0; i < 6; i++) assertAlmostEquals(n.data[i], expected[i % 3], 1e-6);
  assertEquals(img.data[0], 0.5); // input untouched
  assertThrows(() => normalize(img, [0.5], [0.5]), AmssArgumentError, "one value per channel");
  assertThrows(() => normalize(img, [0, 0, 0], [1, 0, 1]), AmssArgumentError, "std[1]");
  assertThrows(() => normalize(img, [0, NaN, 0], [1, 1, 1]), AmssArgumentError, "mean[1]");
  // the dataset constants are the reference loaders' values, and frozen
  assertEquals(SARCASM_MEAN, [0.48456, 0.49888, 0.53066]);
  assertEquals(TWITTER15_STD, [0.24485, 0.24617, 0.25451]);
  assertThrows(() => (IMAGENET_MEAN as number[]).push(1));
});

Deno.test("grayMeanStd: luma-weighted ImageNet statistics", () => {
  const g = grayMeanStd(IMAGENET_MEAN, IMAGENET_STD);
  // 0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406 and the same for the stds, by hand
  assertAlmostEquals(g.mean[0], 0.458971, 1e-9);
  assertAlmostEquals(g.std[0], 0.225609, 1e-9);
  assertThrows(() => grayMeanStd([0.5], [0.5]), AmssArgumentError, "3 RGB");
});

// ---------------------------------------------------------------- prepareFrame

Deno.test("prepareFrame: test mode on a constant image gives the normalised constant", () => {
  const rgb = [0.2, 0.4, 0.6].map((v) => Math.round(v * 255) / 255);
  const png = encodePng(constant(30, 20, rgb));
  const x = prepareFrame(png, "c.png", {
    size: 8,
    train: false,
    channels: 3,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  });
  assertEquals(x.length, 8 * 8 * 3);
  for (let i = 0; i < x.length; i++) {
    assertAlmostEquals(x[i], (rgb[i % 3] - IMAGENET_MEAN[i % 3]) / IMAGENET_STD[i % 3], 1e-5);
  }
  // 1 channel with the RGB constants: luma, normalised with the luma-weighted mean and std
  const y = prepareFrame(png, "c.png", {
    size: 8,
    train: false,
    channels: 1,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  });
  assertEquals(y.length, 64);
  const luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
  for (const v of y) assertAlmostEquals(v, (luma - 0.458971) / 0.225609, 1e-5);
  // training on a constant image: any crop and flip give the same constant
  const z = prepareFrame(png, "c.png", {
    size: 8,
    train: true,
    rng: new Rng(3),
    channels: 1,
    mean: [0.5],
    std: [0.25],
  });
  for (const v of z) assertAlmostEquals(v, (luma - 0.5) / 0.25, 1e-5);
});

Deno.test("prepareFrame: composition, determinism and errors", () => {
  const jpg = encodeJpeg(gradient(40, 30));
  const base = { size: 16, channels: 3 as const, mean: [0, 0, 0], std: [1, 1, 1] };
  const decoded = decodeImage(jpg, "g.jpg");
  // evaluation: straight resize, or resize then centre crop
  assertEquals(
    prepareFrame(jpg, "g.jpg", { ...base, train: false }),
    resizeBilinear(decoded, 16, 16).data,
  );
  assertEquals(
    prepareFrame(jpg, "g.jpg", { ...base, train: false, resize: 20 }),
    centerCrop(resizeBilinear(decoded, 20, 20), 16).data,
  );
  // training: random resized crop, then a flip iff the next draw is < 0.5 (same draw order)
  for (const seed of [1, 2, 3, 4]) {
    const rng = new Rng(seed);
    let expected = randomResizedCrop(decoded, 16, rng);
    if (rng.float() < 0.5) expected = flipHorizontal(expected);
    const got = prepareFrame(jpg, "g.jpg", { ...base, train: true, rng: new Rng(seed) });
    assertEquals(got, expected.data);
  }
  assertThrows(
    () => prepareFrame(jpg, "g.jpg", { ...base, train: true }),
    AmssArgumentError,
    "rng is required",
  );
  assertThrows(
    () => prepareFrame(jpg, "g.jpg", { ...base, train: false, mean: [0, 0] }),
    AmssArgumentError,
    "mean/std",
  );
  assertThrows(
    () => prepareFrame(jpg, "g.jpg", { ...base, train: false, resize: 8 }),
    AmssArgumentError,
    "resize",
  );
  const e = assertThrows(
    () => prepareFrame(jpg.slice(0, 100), "frames/00001.jpg", { ...base, train: false }),
    AmssArgumentError,
  );
  assertStringIncludes(e.message, "frames/00001.jpg");
});

Deno.test("encodeJpeg / encodePng: input checks", () => {
  const bad = { width: 2, height: 1, channels: 3, data: new Float32Array([0, 0, 0, 0, NaN, 0]) };
  assertThrows(() => encodePng(bad), AmssArgumentError, "data[4]");
  assertThrows(() => encodeJpeg(bad), AmssArgumentError, "data[4]");
  assertThrows(() => encodeJpeg(gradient(4, 4), 0), AmssArgumentError, "quality");
  assertThrows(
    () => encodePng({ width: 2, height: 2, data: new Float32Array(3) }),
    AmssArgumentError,
    "width * height * channels",
  );
  // values are clamped to [0, 1] before rounding
  const clamped = { width: 2, height: 1, channels: 1, data: new Float32Array([-0.5, 1.5]) };
  assertEquals(Array.from(decodeImage(encodePng(clamped), "c.png").data), [0, 0, 0, 1, 1, 1]);
  assertInstanceOf(encodeJpeg(gradient(4, 4)), Uint8Array);
});
