/**
 * Pretrained encoder weights in the tfjs weights format: a save/load round trip, prefix handling,
 * the checks that name the file, and training that starts from them.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { buildModel } from "../src/models/build.ts";
import { loadPretrained, readTfjsWeights, saveTfjsWeights } from "../src/models/pretrained.ts";
import { generateSynthetic } from "../src/data/synthetic.ts";
import { train } from "../src/train/trainer.ts";
import { tempDir } from "./_helpers.ts";

await tf.setBackend("cpu");

const spec = {
  modalities: [
    {
      name: "text",
      kind: "transformer" as const,
      input: [6],
      options: { vocabSize: 9, dModel: 8, heads: 2, layers: 1 },
    },
    { name: "image", kind: "mlp" as const, input: [5], options: { hidden: [4] } },
  ],
  fusion: "concat" as const,
  numClasses: 3,
};
const dir = tempDir("amss-pretrained-");

Deno.test("pretrained weights: save -> load restores one modality exactly and leaves the others", async () => {
  const model = buildModel(spec);
  const a = model.init(1);
  const b = model.init(2);
  const path = await saveTfjsWeights(a.params, "text", `${dir}/text`);
  const [r] = await loadPretrained(b.params, [{ modality: "text", path }]);
  const textNames = Object.keys(a.params).filter((n) => n.startsWith("text/"));
  assertEquals(r.loaded.sort(), textNames.sort());
  assertEquals(r.missing, []);
  assertEquals(r.unused, []);
  for (const n of textNames) assertEquals(b.params[n].dataSync(), a.params[n].dataSync(), n);
  const img = "image/mlp/0/kernel";
  assert(b.params[img].dataSync().some((v, i) => v !== a.params[img].dataSync()[i]));
  tf.dispose([a, b].flatMap((x) => [...Object.values(x.params), ...Object.values(x.state)]));
});

Deno.test("pretrained weights: full names work too; missing ones are reported, unused ones listed", async () => {
  const model = buildModel(spec);
  const a = model.init(3);
  // a file with full names and one extra weight, lacking the text embedding table
  const named: tf.NamedTensorMap = {};
  for (const [n, v] of Object.entries(a.params)) {
    if (n.startsWith("text/") && !n.endsWith("embed/tokens")) named[n] = v;
  }
  named["pooler/dense/kernel"] = tf.zeros([2, 2]);
  const { data, specs } = await tf.io.encodeWeights(named);
  await Deno.mkdir(`${dir}/full`, { recursive: true });
  await Deno.writeFile(`${dir}/full/w.bin`, new Uint8Array(data as ArrayBuffer));
  await Deno.writeTextFile(
    `${dir}/full/model.json`,
    JSON.stringify({ weightsManifest: [{ paths: ["w.bin"], weights: specs }] }),
  );
  const [r] = await loadPretrained(a.params, [{
    modality: "text",
    path: `${dir}/full/model.json`,
  }]);
  assertEquals(r.missing, ["text/embed/tokens"]);
  assertEquals(r.unused, ["pooler/dense/kernel"]);
  tf.dispose([...Object.values(a.params), ...Object.values(a.state), named["pooler/dense/kernel"]]);
});

Deno.test("pretrained weights: bad files are errors naming the file", async () => {
  const model = buildModel(spec);
  const a = model.init(4);
  const path = await saveTfjsWeights(a.params, "image", `${dir}/img`);
  // shape mismatch: image weights offered to a model whose image MLP is wider
  const wide = buildModel({
    ...spec,
    modalities: [spec.modalities[0], { ...spec.modalities[1], options: { hidden: [6] } }],
  });
  const w = wide.init(1);
  await assertRejects(
    () => loadPretrained(w.params, [{ modality: "image", path }]),
    Error,
    "has shape [5,4], parameter image/mlp/0/kernel has [5,6]",
  );
  // no matching name at all
  await assertRejects(
    () => loadPretrained(a.params, [{ modality: "text", path }]),
    Error,
    "none of its 2 weights matches",
  );
  // truncated shard, missing shard, missing file, unknown modality
  const bin = await Deno.readFile(`${dir}/img/weights.bin`);
  await Deno.writeFile(`${dir}/img/weights.bin`, bin.subarray(0, 10));
  await assertRejects(() => readTfjsWeights(path), Error, "hold 10 bytes, the manifest needs");
  await Deno.remove(`${dir}/img/weights.bin`);
  await assertRejects(() => readTfjsWeights(path), Error, "weights.bin not found");
  await assertRejects(() => readTfjsWeights(`${dir}/nope.json`), Error, "not found");
  await assertRejects(
    () => loadPretrained(a.params, [{ modality: "audio", path }]),
    Error,
    "no modality audio",
  );
  tf.dispose([a, w].flatMap((x) => [...Object.values(x.params), ...Object.values(x.state)]));
});

Deno.test("training starts from pretrained weights and records it in config.json", async () => {
  const ds = generateSynthetic({
    name: "pt",
    numClasses: 3,
    modalities: [
      { name: "a", kind: "vector", shape: [5], signal: 0.8, noise: 1 },
      { name: "b", kind: "vector", shape: [4], signal: 0.5, noise: 1 },
    ],
    nTrain: 48,
    nVal: 12,
    nTest: 12,
    seed: 1,
  });
  const mspec = {
    modalities: [
      { name: "a", kind: "mlp" as const, input: [5], options: { hidden: [4] } },
      { name: "b", kind: "mlp" as const, input: [4], options: { hidden: [4] } },
    ],
    fusion: "concat" as const,
    numClasses: 3,
  };
  const donor = buildModel(mspec).init(7);
  const path = await saveTfjsWeights(donor.params, "a", `${dir}/donor`);
  const out = `${dir}/run`;
  await train({
    model: buildModel(mspec),
    dataset: ds,
    method: "joint",
    optimizer: { kind: "sgd", lr: 0.01 },
    epochs: 1,
    batchSize: 16,
    seed: 1,
    outDir: out,
    progress: "none",
    pretrained: [{ modality: "a", path }],
  });
  const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  assertEquals(cfg.encoders.b, "from scratch");
  assertEquals(cfg.encoders.a.pretrained, path);
  assertEquals(cfg.encoders.a.loaded, 2);
  tf.dispose([...Object.values(donor.params), ...Object.values(donor.state)]);
});
