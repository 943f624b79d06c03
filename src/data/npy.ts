/**
 * The generic prepared-tensor layout (`--dataset npy --data DIR`, shared/docs/data-layouts.md):
 *
 * ```
 * DIR/meta.json            {"name": "...", "modalities": ["audio", "visual"], "classes": ["c0", ...]}
 * DIR/train/labels.npy     integer class ids, shape [N]
 * DIR/train/<modality>.npy float32 / float16 / uint8, shape [N, ...]
 * DIR/test/...             same files; DIR/val/... optional (else a seeded slice of train)
 * ```
 *
 * `.npy` parsing uses the npm package `npyjs` (float16 is widened to float32 by it); we add the
 * checks it does not make (truncated data, Fortran order, dtypes, first dimensions), each a clear
 * error naming the file. uint8 values are converted to float as they are (0..255): normalising is
 * the job of whoever prepared the arrays.
 *
 * @module
 */
import { parse } from "npyjs";
import { AmssArgumentError } from "../validate.ts";
import {
  type Dataset,
  holdOut,
  type ModalityKind,
  type ModalitySpec,
  type Split,
  validateSplit,
} from "./dataset.ts";

/** A parsed `.npy` array, checked. */
export interface NpyData {
  data: ArrayLike<number>;
  shape: number[];
  dtype: string;
}

const FLOAT_DTYPES = new Set(["f4", "f2", "u1", "f8"]);
const INT_DTYPES = new Set(["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"]);

/** Reads and checks one `.npy` file; every problem is an error naming `path`. */
export async function readNpy(path: string): Promise<NpyData> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new AmssArgumentError(`${path}: file not found`);
    throw e;
  }
  const buf = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.byteLength,
  ) as ArrayBuffer;
  let arr;
  try {
    arr = parse(buf);
  } catch (e) {
    throw new AmssArgumentError(`${path}: not a readable .npy file (${(e as Error).message})`);
  }
  if (arr.fortranOrder) {
    throw new AmssArgumentError(
      `${path}: Fortran-ordered arrays are not supported; save with C order`,
    );
  }
  const dtype = arr.dtype;
  const data = arr.data as unknown as ArrayLike<number>;
  if (
    !data || typeof data.length !== "number" || (data.length > 0 && typeof data[0] === "string")
  ) {
    throw new AmssArgumentError(`${path}: unsupported dtype ${dtype}`);
  }
  const expected = arr.shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new AmssArgumentError(
      `${path}: header says shape [${
        arr.shape.join(", ")
      }] (${expected} values) but the file holds ${data.length}: truncated or corrupt`,
    );
  }
  return { data, shape: arr.shape, dtype };
}

function kindOf(rank: number, path: string): ModalityKind {
  switch (rank) {
    case 2:
      return "vector";
    case 3:
      return "sequence";
    case 4:
      return "image";
    case 5:
      return "frames";
  }
  throw new AmssArgumentError(
    `${path}: expected shape [N, D], [N, L, D], [N, H, W, C] or [N, T, H, W, C], got rank ${rank}`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readSplit(
  dir: string,
  split: string,
  modalityNames: string[],
  numClasses: number,
  specs?: ModalitySpec[],
): Promise<{ split: Split; specs: ModalitySpec[] }> {
  const labelsPath = `${dir}/${split}/labels.npy`;
  const labels = await readNpy(labelsPath);
  if (!INT_DTYPES.has(labels.dtype.replace(/^[<>|=]/, ""))) {
    throw new AmssArgumentError(
      `${labelsPath}: labels must be integers, got dtype ${labels.dtype}`,
    );
  }
  if (labels.shape.length !== 1) {
    throw new AmssArgumentError(
      `${labelsPath}: labels must have shape [N], got [${labels.shape.join(", ")}]`,
    );
  }
  const n = labels.shape[0];
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = Number(labels.data[i]);
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) {
      throw new AmssArgumentError(
        `${labelsPath}: label ${i} is ${y}, not a class id in [0, ${numClasses}) (meta.json classes)`,
      );
    }
    lab[i] = y;
  }
  const inputs: Record<string, Float32Array> = {};
  const out: ModalitySpec[] = [];
  for (const [k, m] of modalityNames.entries()) {
    const path = `${dir}/${split}/${m}.npy`;
    const arr = await readNpy(path);
    if (!FLOAT_DTYPES.has(arr.dtype.replace(/^[<>|=]/, ""))) {
      throw new AmssArgumentError(
        `${path}: expected float32, float16 or uint8 data, got dtype ${arr.dtype}`,
      );
    }
    if (arr.shape[0] !== n) {
      throw new AmssArgumentError(
        `${path}: first dimension ${arr.shape[0]} differs from ${labelsPath}'s ${n}`,
      );
    }
    const spec: ModalitySpec = {
      name: m,
      kind: kindOf(arr.shape.length, path),
      shape: arr.shape.slice(1),
    };
    if (specs && JSON.stringify(specs[k].shape) !== JSON.stringify(spec.shape)) {
      throw new AmssArgumentError(
        `${path}: sample shape [${spec.shape.join(", ")}] differs from the train split's [${
          specs[k].shape.join(", ")
        }]`,
      );
    }
    inputs[m] = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data);
    for (let i = 0; i < inputs[m].length; i++) {
      if (!Number.isFinite(inputs[m][i])) {
        throw new AmssArgumentError(`${path}: value ${i} is ${inputs[m][i]} (NaN or infinite)`);
      }
    }
    out.push(spec);
  }
  return { split: { n, labels: lab, inputs }, specs: out };
}

/**
 * Loads a dataset in the generic layout. Without `DIR/val/`, a stratified `valFraction` of train
 * (seeded by `seed`) becomes the validation split, so model selection never looks at test.
 */
export async function loadNpyDataset(
  dir: string,
  opts: { valFraction?: number; seed?: number } = {},
): Promise<Dataset<Split>> {
  const metaPath = `${dir}/meta.json`;
  let meta: { name?: unknown; modalities?: unknown; classes?: unknown };
  try {
    meta = JSON.parse(await Deno.readTextFile(metaPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AmssArgumentError(`${metaPath}: file not found (is --data the dataset folder?)`);
    }
    throw new AmssArgumentError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  const mods = meta.modalities;
  if (
    !Array.isArray(mods) || mods.length < 2 ||
    mods.some((m) => typeof m !== "string" || !/^[\w.-]+$/.test(m))
  ) {
    throw new AmssArgumentError(
      `${metaPath}: "modalities" must list at least 2 file-name-safe strings`,
    );
  }
  const classes = meta.classes;
  if (!Array.isArray(classes) || classes.length < 2) {
    throw new AmssArgumentError(`${metaPath}: "classes" must list at least 2 class names`);
  }
  const train = await readSplit(dir, "train", mods, classes.length);
  const test = await readSplit(dir, "test", mods, classes.length, train.specs);
  const hasVal = await exists(`${dir}/val/labels.npy`);
  let trainSplit = train.split;
  let val: Split;
  if (hasVal) {
    val = (await readSplit(dir, "val", mods, classes.length, train.specs)).split;
  } else {
    const held = holdOut(train.split, opts.valFraction ?? 0.1, opts.seed ?? 1, train.specs);
    trainSplit = held.train;
    val = held.val;
  }
  const ds: Dataset<Split> = {
    name: typeof meta.name === "string" ? meta.name : dir,
    modalities: train.specs,
    classes: classes.map(String),
    train: trainSplit,
    val,
    test: test.split,
    valSource: hasVal ? "split" : "held-out",
    meta: { source: dir, layout: "npy" },
  };
  for (const s of ["train", "val", "test"] as const) {
    validateSplit(`${dir}/${s}`, ds[s], ds.modalities, classes.length);
  }
  return ds;
}
