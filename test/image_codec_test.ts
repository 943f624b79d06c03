import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertInstanceOf,
  assertLess,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { encode as pngEncode } from "fast-png";
import { DecodeError } from "../src/data/decode_error.ts";
import { decodeImage, encodeJpeg, encodePng } from "../src/data/image_codec.ts";
import type { FloatImage } from "../src/data/image_types.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { gradient } from "./_image_fixtures.ts";

/** Values k / maxValue, k uniform on 0..maxValue, from a seeded generator. */
function randomLevels(n: number, maxValue: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(maxValue + 1) / maxValue;
  return out;
}

/** Asserts `fn` throws DecodeError whose message names `source` and contains `includes`. */
function assertBadImage(fn: () => unknown, source: string, includes: string): void {
  const e = assertThrows(fn, DecodeError);
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

Deno.test("decodeImage: each bad file is a DecodeError naming the file", () => {
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

Deno.test("decodeImage: bad file content is a DecodeError, a bad argument an AmssArgumentError", () => {
  const jpg = encodeJpeg(gradient(24, 16));
  const png = encodePng(gradient(24, 16));
  for (
    const [bytes, name] of [[jpg.slice(0, jpg.length - 9), "cut.jpg"], [
      png.slice(0, 60),
      "cut.png",
    ]] as const
  ) {
    const e = assertThrows(() => decodeImage(bytes, name), DecodeError, `${name}: truncated`);
    assertEquals(e.name, "DecodeError");
    assert(!(e instanceof AmssArgumentError), "a bad file is not an argument error");
  }
  assertThrows(() => decodeImage(png, "ok.png", { maxPixels: 0 }), AmssArgumentError, "maxPixels");
  assertThrows(
    () => decodeImage([1, 2] as unknown as Uint8Array, "arr"),
    AmssArgumentError,
    "arr: image bytes must be a Uint8Array",
  );
});

Deno.test("decodeImage: bytes after the end-of-image marker are accepted", () => {
  const jpg = encodeJpeg(gradient(16, 16));
  const padded = new Uint8Array(jpg.length + 5);
  padded.set(jpg);
  assertEquals(decodeImage(padded, "trailing.jpg").data, decodeImage(jpg, "plain.jpg").data);
});

// ---------------------------------------------------------------- encoding

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
