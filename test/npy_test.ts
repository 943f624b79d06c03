import { assert, assertEquals, assertRejects } from "@std/assert";
import { dump } from "npyjs";
import { SampleLoadError } from "../src/data/loaders.ts";
import { firstNonFinite, loadNpyDataset, readSampleNpy } from "../src/data/npy.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { tempDir } from "./_helpers.ts";

/** Writes a small dataset in the generic layout; `edit` may change files before returning. */
async function makeDataset(opts: { val?: boolean } = {}): Promise<string> {
  const dir = tempDir("npyds");
  await Deno.writeTextFile(
    `${dir}/meta.json`,
    JSON.stringify({ name: "tiny", modalities: ["audio", "visual"], classes: ["a", "b", "c"] }),
  );
  const splits = opts.val ? ["train", "val", "test"] : ["train", "test"];
  for (const s of splits) {
    await Deno.mkdir(`${dir}/${s}`);
    const n = s === "train" ? 30 : 6;
    await Deno.writeFile(
      `${dir}/${s}/labels.npy`,
      new Uint8Array(dump(Int32Array.from({ length: n }, (_, i) => i % 3), [n])),
    );
    await Deno.writeFile(
      `${dir}/${s}/audio.npy`,
      new Uint8Array(dump(Float32Array.from({ length: n * 8 }, (_, i) => i / 7), [n, 2, 2, 2])),
    );
    await Deno.writeFile(
      `${dir}/${s}/visual.npy`,
      new Uint8Array(dump(Uint8Array.from({ length: n * 5 }, (_, i) => i % 256), [n, 5])),
    );
  }
  return dir;
}

Deno.test("the generic npy layout loads: shapes, kinds, uint8 scaled to [0, 1], labels, val held out when absent", async () => {
  const dir = await makeDataset();
  const dir2 = await makeDataset({ val: true });
  try {
    const ds = await loadNpyDataset(dir, { valFraction: 0.2, seed: 3 });
    assertEquals(ds.modalities.map((m) => [m.name, m.kind, m.shape]), [
      ["audio", "image", [2, 2, 2]],
      ["visual", "vector", [5]],
    ]);
    assertEquals(ds.valSource, "held-out");
    assertEquals(ds.train.n + ds.val.n, 30);
    assertEquals(ds.val.n, 6);
    assertEquals(ds.test.inputs.visual[7], Math.fround(7 * (1 / 255)), "uint8 / 255 by default");
    assertEquals(ds.test.inputs.audio[8], Math.fround(8 / 7), "float32 as it is");
    const withVal = await loadNpyDataset(dir2);
    assertEquals(withVal.valSource, "split");
    assertEquals(withVal.train.n, 30);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(dir2, { recursive: true });
  }
});

Deno.test("npy normalisation: auto (uint8 / 255), none (raw), standardise (train statistics for every split)", async () => {
  const dir = await makeDataset({ val: true });
  const raw = await loadNpyDataset(dir, { normalise: "none" });
  assertEquals(raw.test.inputs.visual[7], 7);
  assertEquals(raw.meta.normalise, {
    mode: "none",
    modalities: {
      audio: { dtype: "f4", shift: 0, scale: 1 },
      visual: { dtype: "u1", shift: 0, scale: 1 },
    },
  });
  const auto = await loadNpyDataset(dir);
  assertEquals((auto.meta.normalise as { mode: string }).mode, "auto");
  for (const s of ["train", "val", "test"] as const) {
    const v = auto[s].inputs.visual, r = raw[s].inputs.visual;
    assert(v.every((x, i) => x === Math.fround(r[i] * (1 / 255))), `${s}: visual / 255`);
    assertEquals(auto[s].inputs.audio, raw[s].inputs.audio, `${s}: float32 untouched`);
  }
  const std = await loadNpyDataset(dir, { normalise: "standardise" });
  for (const m of ["audio", "visual"]) {
    const x = std.train.inputs[m];
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
    // float32 storage: relative error of each value ~6e-8, summed over <= 240 values
    assert(Math.abs(mean) < 1e-5 && Math.abs(sd - 1) < 1e-5, `${m}: train mean ${mean}, sd ${sd}`);
    // test values: (raw - train mean) / train sd, not the test split's own statistics
    const r = raw.train.inputs[m];
    const rMean = r.reduce((a, b) => a + b, 0) / r.length;
    const rSd = Math.sqrt(r.reduce((a, b) => a + (b - rMean) ** 2, 0) / r.length);
    const t = std.test.inputs[m], tr = raw.test.inputs[m];
    assert(
      t.every((v, i) => Math.abs(v - (tr[i] - rMean) / rSd) < 1e-5 * (1 + Math.abs(v))),
      `${m}: test standardised with the train statistics`,
    );
  }
  await assertRejects(
    () => loadNpyDataset(dir, { normalise: "unit" as "auto" }),
    AmssArgumentError,
    'normalise must be "auto", "standardise" or "none", got "unit"',
  );
  await Deno.writeFile(
    `${dir}/train/audio.npy`,
    new Uint8Array(dump(new Float32Array(30 * 8).fill(2), [30, 2, 2, 2])),
  );
  await assertRejects(
    () => loadNpyDataset(dir, { normalise: "standardise" }),
    AmssArgumentError,
    "train/audio.npy: every training value is 2",
  );
});

Deno.test("malformed npy datasets give clear errors naming the file", async () => {
  const cases: [string, (dir: string) => Promise<void>, string][] = [
    [
      "missing modality file",
      (d) => Deno.remove(`${d}/test/visual.npy`),
      "test/visual.npy: file not found",
    ],
    ["missing meta", (d) => Deno.remove(`${d}/meta.json`), "meta.json: file not found"],
    ["bad meta", (d) => Deno.writeTextFile(`${d}/meta.json`, "{"), "meta.json: not valid JSON"],
    [
      "one modality",
      (d) =>
        Deno.writeTextFile(
          `${d}/meta.json`,
          JSON.stringify({ modalities: ["audio"], classes: ["a", "b"] }),
        ),
      "at least 2",
    ],
    [
      "truncated",
      async (d) => {
        const b = await Deno.readFile(`${d}/train/audio.npy`);
        await Deno.writeFile(`${d}/train/audio.npy`, b.subarray(0, b.length - 16));
      },
      "train/audio.npy: header says shape [30, 2, 2, 2] (240 values) but the file holds 236",
    ],
    [
      "not npy",
      (d) => Deno.writeTextFile(`${d}/train/visual.npy`, "hello"),
      "train/visual.npy: not a readable .npy file",
    ],
    [
      "first dims differ",
      (d) =>
        Deno.writeFile(
          `${d}/test/visual.npy`,
          new Uint8Array(dump(new Float32Array(7 * 5), [7, 5])),
        ),
      "test/visual.npy: first dimension 7 differs from",
    ],
    [
      "label out of range",
      (d) =>
        Deno.writeFile(
          `${d}/test/labels.npy`,
          new Uint8Array(dump(Int32Array.from([0, 1, 2, 3, 0, 1]), [6])),
        ),
      "test/labels.npy: label 3 is 3, not a class id in [0, 3)",
    ],
    [
      "float labels",
      (d) => Deno.writeFile(`${d}/test/labels.npy`, new Uint8Array(dump(new Float32Array(6), [6]))),
      "labels must be integers",
    ],
    [
      "shape differs from train",
      (d) =>
        Deno.writeFile(
          `${d}/test/visual.npy`,
          new Uint8Array(dump(new Float32Array(6 * 4), [6, 4])),
        ),
      "test/visual.npy: sample shape [4] differs from the train split's [5]",
    ],
    [
      "NaN value",
      (d) =>
        Deno.writeFile(
          `${d}/test/visual.npy`,
          new Uint8Array(dump(new Float32Array(30).fill(NaN), [6, 5])),
        ),
      "test/visual.npy: value 0 is NaN",
    ],
  ];
  for (const [name, edit, message] of cases) {
    const dir = await makeDataset();
    try {
      await edit(dir);
      await assertRejects(() => loadNpyDataset(dir), AmssArgumentError, message, name);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("empty splits, partial val folders, bad meta.json and zero-width samples are errors naming the file", async () => {
  const npy = (data: Float32Array | Int32Array, shape: number[]) =>
    new Uint8Array(dump(data, shape));
  /** Writes split `s` with `n` samples (labels, audio [n, 2, 2, 2], visual [n, 5]). */
  const writeSplit = async (d: string, s: string, n: number) => {
    await Deno.mkdir(`${d}/${s}`, { recursive: true });
    await Deno.writeFile(`${d}/${s}/labels.npy`, npy(new Int32Array(n), [n]));
    await Deno.writeFile(`${d}/${s}/audio.npy`, npy(new Float32Array(n * 8), [n, 2, 2, 2]));
    await Deno.writeFile(`${d}/${s}/visual.npy`, npy(new Float32Array(n * 5), [n, 5]));
  };
  const meta = (d: string, value: unknown) =>
    Deno.writeTextFile(`${d}/meta.json`, JSON.stringify(value));
  const cases: [string, boolean, (dir: string) => Promise<void>, string][] = [
    [
      "empty train split",
      false,
      (d) => writeSplit(d, "train", 0),
      "train/labels.npy: the train split is empty (shape [0]); expected at least 1 sample",
    ],
    [
      "empty test split",
      false,
      (d) => writeSplit(d, "test", 0),
      "test/labels.npy: the test split is empty",
    ],
    [
      "empty val split",
      true,
      (d) => writeSplit(d, "val", 0),
      "val/labels.npy: the val split is empty",
    ],
    [
      "val folder without labels",
      true,
      (d) => Deno.remove(`${d}/val/labels.npy`),
      "val/labels.npy: file not found; a val/ folder needs labels.npy and one .npy per modality",
    ],
    [
      "val folder without a modality",
      true,
      (d) => Deno.remove(`${d}/val/visual.npy`),
      "val/visual.npy: file not found; a val/ folder needs",
    ],
    [
      "empty val folder",
      false,
      (d) => Deno.mkdir(`${d}/val`),
      "val/labels.npy: file not found",
    ],
    ["meta null", false, (d) => meta(d, null), 'meta.json: expected a JSON object {"name", '],
    ["meta array", false, (d) => meta(d, ["audio", "visual"]), "got an array"],
    ["meta number", false, (d) => meta(d, 3), "got number"],
    [
      "modality listed twice",
      false,
      (d) => meta(d, { modalities: ["audio", "visual", "audio"], classes: ["a", "b", "c"] }),
      'meta.json: "modalities" lists "audio" twice; expected each modality once',
    ],
    [
      "zero-width samples",
      false,
      (d) => Deno.writeFile(`${d}/train/visual.npy`, npy(new Float32Array(0), [30, 0])),
      "train/visual.npy: sample shape [0] has a zero-width dimension",
    ],
    [
      "held-out val would be empty",
      false,
      (d) => writeSplit(d, "train", 1),
      "the validation part of the hold-out (valFraction 0.1 of 1 samples, stratified by class) is empty",
    ],
  ];
  for (const [name, withVal, edit, message] of cases) {
    const dir = await makeDataset({ val: withVal });
    try {
      await edit(dir);
      const err = await assertRejects(() => loadNpyDataset(dir), AmssArgumentError, message, name);
      assert(err.message.startsWith(dir), `${name}: the message names the file: ${err.message}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("readSampleNpy: a NaN or infinite value is a SampleLoadError naming the file and the value", async () => {
  const dir = await Deno.makeTempDir({ prefix: "npysample" });
  try {
    const ok = `${dir}/ok.npy`, nan = `${dir}/nan.npy`, inf = `${dir}/inf.npy`;
    await Deno.writeFile(ok, new Uint8Array(dump(Float32Array.from([1, 2, 3, 4]), [2, 2])));
    await Deno.writeFile(nan, new Uint8Array(dump(Float32Array.from([1, 2, NaN, 4]), [2, 2])));
    await Deno.writeFile(inf, new Uint8Array(dump(Float32Array.from([-Infinity, 2]), [2])));
    assertEquals(Array.from((await readSampleNpy(ok)).data), [1, 2, 3, 4]);
    await assertRejects(() => readSampleNpy(nan), SampleLoadError, `${nan}: value 2 is NaN`);
    await assertRejects(() => readSampleNpy(inf), SampleLoadError, `${inf}: value 0 is -Infinity`);
    await assertRejects(
      () => readSampleNpy(`${dir}/missing.npy`),
      SampleLoadError,
      `${dir}/missing.npy: file not found`,
    );
    assertEquals(firstNonFinite([0, 1, Infinity]), 2);
    assertEquals(firstNonFinite(new Float32Array(3)), -1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
