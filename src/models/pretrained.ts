/**
 * User-supplied pretrained encoder weights in the TensorFlow.js weights format: a `model.json`
 * whose `weightsManifest` lists groups of `{ name, shape, dtype }` entries and the binary shard
 * files holding them (what `tf.io` saves and the tfjs converter writes). The paper fine-tunes
 * pretrained BERT and ResNet50 on the text-image datasets and offers pretrained I3D on NVGesture;
 * weights cannot be downloaded here, so a user who has converted them points the bench at them
 * (`--pretrained text=/path/model.json`), and runs record which encoders started pretrained.
 *
 * Decoding (dtypes, float16, quantisation) is tfjs's own `tf.io.decodeWeights`; we add the file
 * handling and the checks that name the file: a missing shard, a shard shorter than its manifest,
 * and weights whose shapes differ from the model's.
 *
 * Names: a weight `w` goes to parameter `<modality>/<w>` (weights saved from this library's
 * encoders without the modality prefix), or to `w` itself when that already names a parameter of
 * the modality. Encoder parameters without a weight keep their initialisation and are reported.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../types.ts";
import { AmssArgumentError } from "../validate.ts";

/** One modality's pretrained weights: where the `model.json` is. */
export interface PretrainedSpec {
  /** The modality whose encoder the weights are for. */
  modality: string;
  /** Path of the tfjs `model.json`. */
  path: string;
}

/** What {@link loadPretrained} did for one modality. */
export interface PretrainedReport {
  /** The modality loaded. */
  modality: string;
  /** The `model.json` read. */
  path: string;
  /** Parameters overwritten with pretrained values. */
  loaded: string[];
  /** Parameters of the modality that had no pretrained weight (kept their initialisation). */
  missing: string[];
  /** Weights in the file that match no parameter of the modality. */
  unused: string[];
}

interface Manifest {
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Reads every weight of a tfjs weights artifact (`model.json` + shards) as tensors. */
export async function readTfjsWeights(path: string): Promise<tf.NamedTensorMap> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AmssArgumentError(`pretrained weights not found: ${path}`);
    }
    throw new AmssArgumentError(`${path}: not a tfjs model.json (${(e as Error).message})`);
  }
  if (!Array.isArray(manifest.weightsManifest)) {
    throw new AmssArgumentError(`${path}: no weightsManifest (expected a tfjs weights model.json)`);
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const out: tf.NamedTensorMap = {};
  for (const group of manifest.weightsManifest) {
    const parts: Uint8Array[] = [];
    for (const p of group.paths) {
      try {
        parts.push(await Deno.readFile(`${dir}/${p}`));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new AmssArgumentError(`${path}: weight shard ${dir}/${p} not found`);
        }
        throw e;
      }
    }
    const total = parts.reduce((a, b) => a + b.length, 0);
    // bytes per value: quantised (uint8 1, uint16/float16 2), bool 1, float32/int32 4
    const bytesOf = (w: tf.io.WeightsManifestEntry) =>
      w.quantization ? (w.quantization.dtype === "uint8" ? 1 : 2) : w.dtype === "bool" ? 1 : 4;
    const expected = group.weights.reduce(
      (a, w) => a + w.shape.reduce((x, y) => x * y, 1) * bytesOf(w),
      0,
    );
    if (total < expected) {
      throw new AmssArgumentError(
        `${path}: shards ${
          group.paths.join(", ")
        } hold ${total} bytes, the manifest needs ${expected}`,
      );
    }
    const buf = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      buf.set(p, at);
      at += p.length;
    }
    Object.assign(out, tf.io.decodeWeights(buf.buffer, group.weights));
  }
  return out;
}

/**
 * Overwrites the parameters of each listed modality with its pretrained weights (names and
 * checks: module comment). Throws, naming file and weight, on a shape mismatch or when no weight
 * of a file matches the modality at all; otherwise reports what was loaded and what was not.
 */
export async function loadPretrained(
  params: Params,
  specs: readonly PretrainedSpec[],
): Promise<PretrainedReport[]> {
  const reports: PretrainedReport[] = [];
  for (const { modality, path } of specs) {
    const own = Object.keys(params).filter((n) => n.startsWith(`${modality}/`));
    if (own.length === 0) {
      throw new AmssArgumentError(
        `--pretrained ${modality}: the model has no modality ${modality}`,
      );
    }
    const weights = await readTfjsWeights(path);
    const loaded: string[] = [];
    const unused: string[] = [];
    try {
      for (const [w, t] of Object.entries(weights)) {
        const target = own.includes(`${modality}/${w}`)
          ? `${modality}/${w}`
          : own.includes(w)
          ? w
          : null;
        if (!target) {
          unused.push(w);
          continue;
        }
        const p = params[target];
        if (p.shape.join(",") !== t.shape.join(",")) {
          throw new AmssArgumentError(
            `${path}: weight ${w} has shape [${t.shape}], parameter ${target} has [${p.shape}]`,
          );
        }
        p.assign(t.dtype === "float32" ? t : tf.tidy(() => t.toFloat()));
        loaded.push(target);
      }
    } finally {
      tf.dispose(Object.values(weights));
    }
    if (loaded.length === 0) {
      throw new AmssArgumentError(
        `${path}: none of its ${unused.length} weights matches a parameter of ${modality} ` +
          `(expected names like ${own[0].slice(modality.length + 1)} or ${own[0]})`,
      );
    }
    reports.push({
      modality,
      path,
      loaded,
      missing: own.filter((n) => !loaded.includes(n)),
      unused,
    });
  }
  return reports;
}

/**
 * Writes parameters as a tfjs weights artifact (`model.json` + `weights.bin`), the modality prefix
 * stripped: how to hand one run's trained encoder to another as `--pretrained`.
 */
export async function saveTfjsWeights(
  params: Params,
  modality: string,
  dir: string,
): Promise<string> {
  const named: tf.NamedTensorMap = {};
  for (const [n, v] of Object.entries(params)) {
    if (n.startsWith(`${modality}/`)) named[n.slice(modality.length + 1)] = v;
  }
  if (Object.keys(named).length === 0) {
    throw new AmssArgumentError(`no parameters of modality ${modality} to save`);
  }
  const { data, specs } = await tf.io.encodeWeights(named);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/weights.bin`, new Uint8Array(data as ArrayBuffer));
  const path = `${dir}/model.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      format: "amss-encoder-weights",
      weightsManifest: [{ paths: ["weights.bin"], weights: specs }],
    }),
  );
  return path;
}
