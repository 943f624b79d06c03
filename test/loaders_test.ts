/**
 * The real-dataset loaders against fixtures written in each exact layout by fixtures/generate.ts
 * (into a temporary folder), including the malformed-input cases: missing file, corrupt WAV/JPEG,
 * wrong sample rate, label not in the map, empty list, .pkl-only spectrograms.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertNotEquals, assertRejects } from "@std/assert";
import {
  writeCremad,
  writeKineticsSounds,
  writeNvGesture,
  writeTextImage,
} from "../fixtures/generate.ts";
import { loadCremad } from "../src/data/cremad.ts";
import { type Batch, isLazy, type LazySplit } from "../src/data/dataset.ts";
import { loadDiskDataset } from "../src/data/disk_datasets.ts";
import { frameIndices, loadKineticsSounds } from "../src/data/kinetics_sounds.ts";
import { batchStream, loadSample, WorkerPool } from "../src/data/loaders.ts";
import { clipFiles, containerIndices, parseNvGestureList } from "../src/data/nvgesture.ts";
import { parseDelimited } from "../src/data/files.ts";
import { Rng } from "../src/rng.ts";
import { tempDir } from "./_helpers.ts";

const root = tempDir("amss-fixtures-");
await writeCremad(`${root}/cremad`);
await writeKineticsSounds(`${root}/ks`);
await writeTextImage(`${root}/sarcasm`, "sarcasm");
await writeTextImage(`${root}/twitter15`, "twitter15");
await writeNvGesture(`${root}/nvgesture`);

const quiet = { log: () => {} };

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

async function collect(
  split: Parameters<typeof batchStream>[0],
  ds: { modalities: Parameters<typeof batchStream>[1] },
  opts: Parameters<typeof batchStream>[3] = {},
): Promise<{ shapes: Record<string, number[]>; data: Record<string, Float32Array>; n: number }> {
  const out: Batch[] = [];
  for await (const b of batchStream(split, ds.modalities, 4, opts)) out.push(b);
  const shapes: Record<string, number[]> = {};
  const data: Record<string, Float32Array> = {};
  for (const m of ds.modalities) {
    shapes[m.name] = out[0].inputs[m.name].shape;
    data[m.name] = Float32Array.from(
      out.flatMap((b) => Array.from(b.inputs[m.name].dataSync())),
    );
  }
  const n = out.reduce((s, b) => s + b.labels.length, 0);
  for (const b of out) tf.dispose(Object.values(b.inputs));
  return { shapes, data, n };
}

Deno.test("delimited text: quotes, doubled quotes, CRLF and blank lines like Python's csv", () => {
  const rows = parseDelimited('a,"b,c",d\r\n\r\n"say ""hi""",2\n', ",", "x.csv");
  assertEquals(rows.map((r) => r.fields), [["a", "b,c", "d"], ['say "hi"', "2"]]);
  assertEquals(rows.map((r) => r.line), [1, 3]);
});

Deno.test("CREMA-D: labels, skip count, shapes, held-out val, deterministic augmentation", async () => {
  const lines: string[] = [];
  const ds = await loadCremad(`${root}/cremad`, { imageSize: 32, log: (l) => lines.push(l) });
  assertEquals(ds.classes, ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]);
  assertEquals(ds.train.n + ds.val.n, 24); // 25 rows, one without WAV
  assertEquals(ds.test.n, 6);
  assertEquals(ds.valSource, "held-out");
  assert(lines.some((l) => /skipped 1 row\(s\): WAV missing/.test(l)), lines.join("\n"));
  assertEquals(ds.modalities.map((m) => m.shape), [[257, 188, 1], [1, 32, 32, 1]]);
  const a = await collect(ds.train, ds, { augmentSeed: 7 });
  const b = await collect(ds.train, ds, { augmentSeed: 7 });
  const c = await collect(ds.train, ds, { augmentSeed: 8 });
  assertEquals(a.shapes.audio, [4, 257, 188, 1]);
  assertEquals(a.shapes.visual, [4, 1, 32, 32, 1]);
  assertEquals(a.data.visual, b.data.visual);
  assertEquals(a.data.audio, c.data.audio); // audio has no augmentation
  assertNotEquals(a.data.visual, c.data.visual);
  // 16 kHz tone at 300 Hz (class NEU) -> the spectrogram peaks near bin 300 * 512 / 22050 = 7
  const first = a.data.audio.subarray(0, 257 * 188);
  let best = 0;
  for (let f = 0; f < 257; f++) if (first[f * 188 + 90] > first[best * 188 + 90]) best = f;
  const y = (ds.train as LazySplit).labels[0];
  assert(Math.abs(best - ((300 + 150 * y) * 512) / 22050) <= 1, `peak bin ${best}, class ${y}`);
});

Deno.test("CREMA-D: frame modes; the reference mode takes the first listed file", async () => {
  const ds = await loadCremad(`${root}/cremad`, { imageSize: 32, frameMode: "first", ...quiet });
  const item = (ds.test as LazySplit).items[0] as { frames: string[]; firstListed: string };
  assert(item.frames.includes(item.firstListed));
  const x = await loadSample(ds.test as LazySplit, 0, null);
  const y = await loadSample(ds.test as LazySplit, 0, null);
  assertEquals(x.visual, y.visual);
});

Deno.test("CREMA-D: corrupt WAV and truncated JPEG are counted skips naming the file", async () => {
  const dir = `${root}/cremad-bad`;
  await copyDir(`${root}/cremad`, dir);
  const ds0 = await loadCremad(dir, { imageSize: 32, ...quiet });
  const test = ds0.test as LazySplit;
  const it0 = test.items[0] as { wav: string };
  const it1 = test.items[1] as { frames: string[] };
  await Deno.writeFile(it0.wav, (await Deno.readFile(it0.wav)).subarray(0, 30));
  for (const f of it1.frames) await Deno.writeFile(f, (await Deno.readFile(f)).subarray(0, 200));
  const skipped: string[] = [];
  const r = await collect(test, ds0, { onSkip: (_i, reason) => skipped.push(reason) });
  assertEquals(r.n, test.n - 2);
  assertEquals(skipped.length, 2);
  assert(skipped.some((s) => s.includes(it0.wav)), skipped.join("\n"));
  assert(skipped.some((s) => it1.frames.some((f) => s.includes(f))), skipped.join("\n"));
  await assertRejects(() => collect(test, ds0, { strict: true }), Error, it0.wav);
});

Deno.test("CREMA-D: a WAV at another rate is skipped when sampleRate is fixed", async () => {
  const ds = await loadCremad(`${root}/cremad`, { imageSize: 32, sampleRate: 22050, ...quiet });
  await assertRejects(
    () => loadSample(ds.test as LazySplit, 0, null),
    Error,
    "sample rate 16000 Hz, expected 22050 Hz",
  );
});

Deno.test("CREMA-D: label not in the map, empty list and missing list are clear errors", async () => {
  const dir = `${root}/cremad-labels`;
  await copyDir(`${root}/cremad`, dir);
  await Deno.writeTextFile(`${dir}/annotations/test.csv`, "1001_IEO_NEU_XX,NEU\n1002_X,XYZ\n");
  await assertRejects(() => loadCremad(dir, quiet), Error, 'test.csv:2: label "XYZ"');
  await Deno.writeTextFile(`${dir}/annotations/test.csv`, "\n");
  await assertRejects(() => loadCremad(dir, quiet), Error, "the list is empty");
  await Deno.remove(`${dir}/annotations/test.csv`);
  await assertRejects(() => loadCremad(dir, quiet), Error, `${dir}/annotations/test.csv`);
});

Deno.test("Kinetics-Sounds: class order of first appearance, shapes, frame sampling", async () => {
  const lines: string[] = [];
  const ds = await loadKineticsSounds(`${root}/ks`, { imageSize: 32, log: (l) => lines.push(l) });
  assertEquals(ds.classes, ["playing guitar", "dog barking", "chopping wood"]);
  assert(lines.some((l) => /skipped 1 row\(s\): audio \.npy missing/.test(l)), lines.join("\n"));
  assertEquals(ds.modalities.map((m) => m.shape), [[257, 24, 1], [3, 32, 32, 1]]);
  const r = await collect(ds.test, ds);
  assertEquals(r.shapes.visual, [3, 3, 32, 32, 1]);
  assertEquals(frameIndices(5, 3, null), [0, 2, 4]);
  const idx = frameIndices(10, 3, new Rng(3));
  assertEquals(new Set(idx).size, 3);
  assertEquals([...idx].sort((a, b) => a - b), idx);
});

Deno.test("Kinetics-Sounds: .pkl-only audio names the conversion; unknown test label", async () => {
  const dir = `${root}/ks-pkl`;
  await copyDir(`${root}/ks`, dir);
  for await (const e of Deno.readDir(`${dir}/test_wav_pkl`)) {
    const p = `${dir}/test_wav_pkl/${e.name}`;
    await Deno.rename(p, p.replace(/\.npy$/, ".pkl"));
  }
  await assertRejects(() => loadKineticsSounds(dir, quiet), Error, "Convert them once with");
  const dir2 = `${root}/ks-label`;
  await copyDir(`${root}/ks`, dir2);
  await Deno.writeTextFile(`${dir2}/annotations/test.csv`, "youtube_id,label\nyt0000,surfing\n");
  await assertRejects(
    () => loadKineticsSounds(dir2, quiet),
    Error,
    "does not occur in the train list",
  );
});

for (const name of ["sarcasm", "twitter15"] as const) {
  Deno.test(`${name}: dev split as val, token ids, images, skip and label errors`, async () => {
    const lines: string[] = [];
    const ds = await loadDiskDataset(name, `${root}/${name}`, {
      imageSize: 32,
      log: (l: string) => lines.push(l),
    });
    const C = name === "sarcasm" ? 2 : 3;
    assertEquals(ds.classes.length, C);
    assertEquals(ds.valSource, "split");
    assertEquals([ds.train.n, ds.val.n, ds.test.n], [5 * C, 2 * C, 2 * C]);
    assert(lines.some((l) => /image missing/.test(l)));
    const r = await collect(ds.test, ds);
    assertEquals(r.shapes.text, [4, 128]);
    assertEquals(r.shapes.image, [4, 32, 32, 3]);
    // [CLS]=3 first, [SEP]=4 after the tokens, [PAD]=0 after
    const ids = Array.from(r.data.text.subarray(0, 128));
    assertEquals(ids[0], 3);
    const sep = ids.indexOf(4);
    assert(sep > 5 && ids.slice(sep + 1).every((v) => v === 0), ids.join(","));
    assertEquals(ds.meta.vocabSize, 24);
    const bad = `${root}/${name}-bad`;
    await copyDir(`${root}/${name}`, bad);
    const tsv = await Deno.readTextFile(`${bad}/annotations/test.tsv`);
    await Deno.writeTextFile(`${bad}/annotations/test.tsv`, tsv.replace(/\n1\t0\t/, "\n1\t7\t"));
    await assertRejects(() => loadDiskDataset(name, bad, quiet), Error, 'test.tsv:2: Label "7"');
    await Deno.remove(`${bad}/vocab.txt`);
    await assertRejects(() => loadDiskDataset(name, bad, quiet), Error, "vocab.txt");
  });
}

Deno.test("NVGesture: list grammar, three modalities, train window vs full test container", async () => {
  const ds = await loadDiskDataset("nvgesture", `${root}/nvgesture`, {
    container: 8,
    clipFrames: 6,
    resize: 24,
    size: 16,
    valFraction: 0.2,
    ...quiet,
  });
  assertEquals(ds.modalities.map((m) => m.name), ["rgb", "depth", "flow"]);
  assertEquals(ds.train.n + ds.val.n, 9);
  assertEquals(ds.test.n, 3);
  const tr = await collect(ds.train, ds, { augmentSeed: 1 });
  assertEquals(tr.shapes.rgb, [4, 6, 16, 16, 3]);
  assertEquals(tr.shapes.depth, [4, 6, 16, 16, 1]);
  assertEquals(tr.shapes.flow, [4, 6, 16, 16, 2]);
  const te = await collect(ds.test, ds);
  assertEquals(te.shapes.rgb, [3, 8, 16, 16, 3]);
  // flow of class 0 moves right: x component about 1, y about 0 (fixture noise sd 0.2)
  const f = te.data.flow;
  let sx = 0, sy = 0;
  for (let i = 0; i < 8 * 16 * 16; i++) [sx, sy] = [sx + f[2 * i], sy + f[2 * i + 1]];
  assert(Math.abs(sx / 2048 - 1) < 0.1 && Math.abs(sy / 2048) < 0.1, `${sx / 2048} ${sy / 2048}`);
  assertEquals(containerIndices(4, 8), [0, 0, 1, 1, 2, 2, 3, 3]);
  assertEquals(clipFiles(["a", "b", "c", "d"], 1, 3), ["b", "c"]);
  assertEquals(clipFiles(["a", "b"], 5, 7), ["a", "b"]);
  assertEquals(clipFiles(["a"], 1, 3), null);
});

Deno.test("NVGesture: malformed list lines are errors naming file and line", () => {
  const ok = "path:./a depth:sk_depth:0:10 color:sk_color:0:10 label:3";
  assertEquals(parseNvGestureList(ok, "l.lst")[0].label, 2);
  for (
    const [line, msg] of [
      ["path:./a depth:sk_depth:0:10 color:sk_color:0:10 label:26", "l.lst:1: label"],
      ["path:./a depth:sk_depth:5:2 color:sk_color:0:10 label:1", "0 <= start < end"],
      ["path:./a color:sk_color:0:10 label:1", "missing depth"],
      ["depth:sk_depth:0:10 color:sk_color:0:10 label:1", "needs path"],
    ]
  ) {
    let err = "";
    try {
      parseNvGestureList(line, "l.lst");
    } catch (e) {
      err = (e as Error).message;
    }
    assert(err.includes(msg), `${line}: ${err}`);
  }
});

Deno.test("decode workers give the same samples as the main thread", async () => {
  const ds = await loadCremad(`${root}/cremad`, { imageSize: 32, ...quiet });
  assert(isLazy(ds.train));
  const pool = new WorkerPool(2);
  try {
    for (const i of [0, 3]) {
      const main = await loadSample(ds.train as LazySplit, i, 11);
      const viaPool = await pool.load(ds.train as LazySplit, i, 11);
      assertEquals(viaPool.audio, main.audio);
      assertEquals(viaPool.visual, main.visual);
    }
  } finally {
    pool.close();
  }
});
