import { assertEquals, assertRejects } from "@std/assert";
import { dump } from "npyjs";
import { loadNpyDataset } from "../src/data/npy.ts";
import { AmssArgumentError } from "../src/validate.ts";

/** Writes a small dataset in the generic layout; `edit` may change files before returning. */
async function makeDataset(opts: { val?: boolean } = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "npyds" });
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

Deno.test("the generic npy layout loads: shapes, kinds, uint8 widened, labels, val held out when absent", async () => {
  const dir = await makeDataset();
  const ds = await loadNpyDataset(dir, { valFraction: 0.2, seed: 3 });
  assertEquals(ds.modalities.map((m) => [m.name, m.kind, m.shape]), [
    ["audio", "image", [2, 2, 2]],
    ["visual", "vector", [5]],
  ]);
  assertEquals(ds.valSource, "held-out");
  assertEquals(ds.train.n + ds.val.n, 30);
  assertEquals(ds.val.n, 6);
  assertEquals(ds.test.inputs.visual[7], 7);
  assertEquals(ds.test.inputs.audio[8], Math.fround(8 / 7));
  const withVal = await loadNpyDataset(await makeDataset({ val: true }));
  assertEquals(withVal.valSource, "split");
  assertEquals(withVal.train.n, 30);
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
    await edit(dir);
    await assertRejects(() => loadNpyDataset(dir), AmssArgumentError, message, name);
    await Deno.remove(dir, { recursive: true });
  }
});
