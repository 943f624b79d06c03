import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { DecodeError } from "../src/data/decode_error.ts";
import { decodeImage, encodeJpeg, encodePng } from "../src/data/image_codec.ts";
import {
  centerCrop,
  crop,
  flipHorizontal,
  grayMeanStd,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  prepareFrame,
  randomResizedCrop,
  randomResizedCropBox,
  resizeBilinear,
  toGray,
} from "../src/data/image_transforms.ts";
import type { FloatImage } from "../src/data/image_types.ts";
import { SARCASM_MEAN, TWITTER15_STD } from "../src/data/text_image.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { gradient } from "./_image_fixtures.ts";

function constant(W: number, H: number, rgb: number[]): FloatImage {
  const data = new Float32Array(W * H * 3);
  for (let i = 0; i < W * H; i++) data.set(rgb, 3 * i);
  return { width: W, height: H, channels: 3, data };
}

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
    DecodeError,
  );
  assertStringIncludes(e.message, "frames/00001.jpg");
});
