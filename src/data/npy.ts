/**
 * The generic prepared-tensor layout (`--dataset npy --data DIR`):
 *
 * ```
 * DIR/meta.json            {"name": "...", "modalities": ["audio", "visual"], "classes": ["c0", ...]}
 * DIR/train/labels.npy     integer class ids, shape [N]
 * DIR/train/<modality>.npy float32 / float16 / uint8, shape [N, ...]
 * DIR/test/...             same files; DIR/val/... optional (else a seeded slice of train)
 * ```
 *
 * Every split needs at least one sample; a `val/` folder, when present, needs all the files of a
 * split (a partial one is an error, not a silent fall-back to a held-out slice); `meta.json` is an
 * object listing each modality once; every sample dimension is at least 1.
 *
 * `.npy` parsing uses the npm package `npyjs` (float16 is widened to float32 by it); we add the
 * checks it does not make (truncated data, Fortran order, dtypes, first dimensions), each a clear
 * error naming the file.
 *
 * Input scaling ({@link NpyNormalise}, recorded in the dataset's `meta.normalise`): by default
 * (`"auto"`) uint8 arrays, almost always 8-bit images, are divided by 255 into [0, 1] and float
 * arrays are used as they are; `"standardise"` maps each modality to zero mean and unit standard
 * deviation with one mean and one standard deviation over all of its training values (val and test
 * use the training statistics); `"none"` keeps raw values (uint8 as 0..255).
 *
 * @module
 */
import { parse } from "npyjs";
import { AmssArgumentError } from "../validate.ts";
import { SampleLoadError } from "./loaders.ts";
import {
  type Dataset,
  holdOut,
  type ModalityKind,
  type ModalitySpec,
  type Split,
  validateSplit,
} from "./dataset.ts";

/** How {@link loadNpyDataset} scales the inputs (module comment). */
export type NpyNormalise = "auto" | "standardise" | "none";

/** The scaling applied to one modality: `x -> (x - shift) * scale`. */
export interface NpyScaling {
  /** The stored dtype (`f4`, `f2`, `u1`, ...). */
  dtype: string;
  /** Subtracted first. */
  shift: number;
  /** Then multiplied by. */
  scale: number;
}

/** A parsed `.npy` array, checked. */
export interface NpyData {
  /** The values, row-major. */
  data: ArrayLike<number>;
  /** The array's shape. */
  shape: number[];
  /** The stored dtype, with its byte-order mark (e.g. `<f4`). */
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

/** Index of the first NaN or infinite value of `data`, or -1 when every value is finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v === "number" && !Number.isFinite(v)) return i;
  }
  return -1;
}

/**
 * Reads one sample's `.npy` array for a lazy loader (spectrograms, optical flow): every problem,
 * a missing or unreadable file and a NaN or infinite value included, is a {@link SampleLoadError}
 * naming `path` (and the value's index), so that the sample is skipped and counted.
 */
export async function readSampleNpy(path: string): Promise<NpyData> {
  let a: NpyData;
  try {
    a = await readNpy(path);
  } catch (e) {
    if (e instanceof AmssArgumentError) throw new SampleLoadError(e.message);
    throw e;
  }
  const bad = firstNonFinite(a.data);
  if (bad >= 0) {
    throw new SampleLoadError(
      `${path}: value ${bad} is ${a.data[bad]}; expected finite numbers (no NaN or infinity)`,
    );
  }
  return a;
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
): Promise<{ split: Split; specs: ModalitySpec[]; dtypes: string[] }> {
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
  if (n === 0) {
    throw new AmssArgumentError(
      `${labelsPath}: the ${split} split is empty (shape [0]); expected at least 1 sample`,
    );
  }
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
  const dtypes: string[] = [];
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
    if (spec.shape.some((d) => d === 0)) {
      throw new AmssArgumentError(
        `${path}: sample shape [${
          spec.shape.join(", ")
        }] has a zero-width dimension; expected every dimension after N to be at least 1`,
      );
    }
    if (specs && JSON.stringify(specs[k].shape) !== JSON.stringify(spec.shape)) {
      throw new AmssArgumentError(
        `${path}: sample shape [${spec.shape.join(", ")}] differs from the train split's [${
          specs[k].shape.join(", ")
        }]`,
      );
    }
    inputs[m] = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data);
    const bad = firstNonFinite(inputs[m]);
    if (bad >= 0) {
      throw new AmssArgumentError(`${path}: value ${bad} is ${inputs[m][bad]} (NaN or infinite)`);
    }
    out.push(spec);
    dtypes.push(arr.dtype.replace(/^[<>|=]/, ""));
  }
  return { split: { n, labels: lab, inputs }, specs: out, dtypes };
}

/**
 * The scaling of each modality under `mode`, from the training split: uint8 / 255 for "auto",
 * train mean and standard deviation (float64 sums over every value) for "standardise".
 */
function scalings(
  mode: NpyNormalise,
  train: Split,
  names: readonly string[],
  dtypes: readonly string[],
  where: string,
): Record<string, NpyScaling> {
  return Object.fromEntries(names.map((m, k) => {
    const dtype = dtypes[k];
    if (mode === "none" || (mode === "auto" && dtype !== "u1")) {
      return [m, { dtype, shift: 0, scale: 1 }];
    }
    if (mode === "auto") return [m, { dtype, shift: 0, scale: 1 / 255 }];
    const x = train.inputs[m] as Float32Array;
    let sum = 0;
    for (const v of x) sum += v;
    const mean = sum / x.length;
    let sq = 0;
    for (const v of x) sq += (v - mean) ** 2;
    const sd = Math.sqrt(sq / x.length);
    if (!(sd > 0)) {
      throw new AmssArgumentError(
        `${where}/train/${m}.npy: every training value is ${mean}; "standardise" needs values that ` +
          `vary (use normalise "auto" or "none")`,
      );
    }
    return [m, { dtype, shift: mean, scale: 1 / sd }];
  }));
}

function applyScaling(split: Split, scaling: Record<string, NpyScaling>): void {
  for (const [m, { shift, scale }] of Object.entries(scaling)) {
    if (shift === 0 && scale === 1) continue;
    const x = split.inputs[m] as Float32Array;
    for (let i = 0; i < x.length; i++) x[i] = (x[i] - shift) * scale;
  }
}

/**
 * Loads a dataset in the generic layout. Without `DIR/val/`, a stratified `valFraction` of train
 * (seeded by `seed`) becomes the validation split, so model selection never looks at test.
 */
export async function loadNpyDataset(
  dir: string,
  opts: { valFraction?: number; seed?: number; normalise?: NpyNormalise } = {},
): Promise<Dataset<Split>> {
  const mode = opts.normalise ?? "auto";
  if (!["auto", "standardise", "none"].includes(mode)) {
    throw new AmssArgumentError(
      `normalise must be "auto", "standardise" or "none", got ${JSON.stringify(mode)}`,
    );
  }
  const metaPath = `${dir}/meta.json`;
  let meta: unknown;
  try {
    meta = JSON.parse(await Deno.readTextFile(metaPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AmssArgumentError(`${metaPath}: file not found (is --data the dataset folder?)`);
    }
    throw new AmssArgumentError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    throw new AmssArgumentError(
      `${metaPath}: expected a JSON object {"name", "modalities", "classes"}, got ${
        meta === null ? "null" : Array.isArray(meta) ? "an array" : typeof meta
      }`,
    );
  }
  const { name, modalities: mods, classes } = meta as {
    name?: unknown;
    modalities?: unknown;
    classes?: unknown;
  };
  if (
    !Array.isArray(mods) || mods.length < 2 ||
    mods.some((m) => typeof m !== "string" || !/^[\w.-]+$/.test(m))
  ) {
    throw new AmssArgumentError(
      `${metaPath}: "modalities" must list at least 2 file-name-safe strings`,
    );
  }
  const twice = mods.find((m, i) => mods.indexOf(m) !== i);
  if (twice !== undefined) {
    throw new AmssArgumentError(
      `${metaPath}: "modalities" lists ${JSON.stringify(twice)} twice; expected each modality once`,
    );
  }
  if (!Array.isArray(classes) || classes.length < 2) {
    throw new AmssArgumentError(`${metaPath}: "classes" must list at least 2 class names`);
  }
  const train = await readSplit(dir, "train", mods, classes.length);
  const test = await readSplit(dir, "test", mods, classes.length, train.specs);

  // a val/ folder is a split of its own: a missing file in it is an error, never a silent hold-out
  const hasVal = await exists(`${dir}/val`);
  let trainSplit = train.split;
  let val: Split;
  if (hasVal) {
    for (const f of ["labels", ...mods]) {
      if (!(await exists(`${dir}/val/${f}.npy`))) {
        throw new AmssArgumentError(
          `${dir}/val/${f}.npy: file not found; a val/ folder needs labels.npy and one .npy per ` +
            `modality (remove the folder to hold out a slice of train instead)`,
        );
      }
    }
    val = (await readSplit(dir, "val", mods, classes.length, train.specs)).split;
  } else {
    const fraction = opts.valFraction ?? 0.1;
    const held = holdOut(train.split, fraction, opts.seed ?? 1, train.specs);
    for (const [s, part] of [["validation", held.val], ["training", held.train]] as const) {
      if (part.n === 0) {
        throw new AmssArgumentError(
          `${dir}/train: the ${s} part of the hold-out (valFraction ${fraction} of ${train.split.n} ` +
            `samples, stratified by class) is empty; expected at least 1 sample: add ${dir}/val/ ` +
            `or more training samples, or change valFraction`,
        );
      }
    }
    trainSplit = held.train;
    val = held.val;
  }
  // statistics from the samples that train (after any hold-out), applied to every split
  const scaling = scalings(mode, trainSplit, mods, train.dtypes, dir);
  for (const split of [trainSplit, val, test.split]) applyScaling(split, scaling);
  const ds: Dataset<Split> = {
    name: typeof name === "string" ? name : dir,
    modalities: train.specs,
    classes: classes.map(String),
    train: trainSplit,
    val,
    test: test.split,
    valSource: hasVal ? "split" : "held-out",
    meta: { source: dir, layout: "npy", normalise: { mode, modalities: scaling } },
  };
  for (const s of ["train", "val", "test"] as const) {
    validateSplit(`${dir}/${s}`, ds[s], ds.modalities, classes.length);
  }
  return ds;
}
