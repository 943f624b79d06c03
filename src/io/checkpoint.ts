/**
 * Checkpoints of arbitrary state trees (parameters, batch-norm statistics, optimizer and AMSS
 * state, RNG states, counters): plain values go to JSON, tensors to one binary file.
 *
 * Crash safety: the tensor file gets a fresh name (`<name>-<tag>.bin`), then `<name>.json`, which
 * names it, is replaced atomically, then older tensor files are removed. A run killed at any
 * moment leaves either the previous complete checkpoint or the new one.
 *
 * Several checkpoints may share a folder (the trainer keeps `checkpoint` and `best`): a tag has no
 * `-`, and the clean-up removes only files named exactly `<name>-<tag>.bin` for this `name`, so
 * that one checkpoint never deletes another's tensor file (`best-e3.bin` is not a `checkpoint`
 * file, nor is `a-b-e1.bin` one of checkpoint `a`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";

interface TensorRef {
  $tensor: number;
  shape: number[];
  dtype: "float32" | "int32";
}

interface CheckpointFile {
  format: "amss-ts-checkpoint/1";
  bin: string;
  tensors: { offset: number; size: number }[];
  tree: unknown;
}

async function encode(value: unknown, list: tf.Tensor[]): Promise<unknown> {
  if (value instanceof tf.Tensor) {
    if (value.dtype !== "float32" && value.dtype !== "int32") {
      throw new TypeError(`checkpoint: tensors of dtype ${value.dtype} are not supported`);
    }
    list.push(value);
    return { $tensor: list.length - 1, shape: value.shape, dtype: value.dtype } satisfies TensorRef;
  }
  if (ArrayBuffer.isView(value)) {
    return {
      $typed: value.constructor.name,
      data: Array.from(value as unknown as ArrayLike<number>),
    };
  }
  if (Array.isArray(value)) return await Promise.all(value.map((v) => encode(v, list)));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await encode(v, list);
    return out;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
  return value;
}

const TAG = /^[A-Za-z0-9_.]+$/;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Saves `tree` as `<dir>/<name>.json` + a binary tensor file `<name>-<tag>.bin`; `tag` (letters,
 * digits, `_` and `.`, no `-`) distinguishes tensor files. Older tensor files of the same `name`
 * are removed afterwards; other checkpoints' files are left alone (module comment).
 */
export async function saveCheckpoint(
  dir: string,
  name: string,
  tag: string,
  tree: unknown,
): Promise<void> {
  if (!name || /[/\\]/.test(name)) {
    throw new TypeError(
      `checkpoint: name must be a non-empty file name, got ${JSON.stringify(name)}`,
    );
  }
  if (!TAG.test(tag)) {
    throw new TypeError(
      `checkpoint ${name}: tag must be letters, digits, "_" or "." (no "-"), got ${
        JSON.stringify(tag)
      }`,
    );
  }
  const tensors: tf.Tensor[] = [];
  const encoded = await encode(tree, tensors);
  const arrays = await Promise.all(tensors.map((t) => t.data()));
  const total = arrays.reduce((a, x) => a + x.length, 0);
  const buf = new Uint8Array(total * 4);
  const view = new DataView(buf.buffer);
  const index: { offset: number; size: number }[] = [];
  let off = 0;
  for (const [i, a] of arrays.entries()) {
    index.push({ offset: off, size: a.length });
    for (let j = 0; j < a.length; j++) {
      if (tensors[i].dtype === "int32") view.setInt32((off + j) * 4, a[j], true);
      else view.setFloat32((off + j) * 4, a[j], true);
    }
    off += a.length;
  }
  const bin = `${name}-${tag}.bin`;
  await writeFileAtomic(`${dir}/${bin}`, buf);
  const file: CheckpointFile = {
    format: "amss-ts-checkpoint/1",
    bin,
    tensors: index,
    tree: encoded,
  };
  await writeJsonAtomic(`${dir}/${name}.json`, file);
  const own = new RegExp(`^${escapeRegExp(name)}-[A-Za-z0-9_.]+\\.bin$`);
  for await (const e of Deno.readDir(dir)) {
    if (own.test(e.name) && e.name !== bin) {
      await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    }
  }
}

/** Whether `<dir>/<name>.json` exists. */
export async function hasCheckpoint(dir: string, name: string): Promise<boolean> {
  try {
    await Deno.stat(`${dir}/${name}.json`);
    return true;
  } catch {
    return false;
  }
}

function decode(
  saved: unknown,
  target: unknown,
  read: (ref: TensorRef) => tf.Tensor,
  path: string,
): unknown {
  if (saved && typeof saved === "object" && "$tensor" in (saved as object)) {
    const ref = saved as TensorRef;
    const t = read(ref);
    if (target instanceof tf.Variable) {
      if (JSON.stringify(target.shape) !== JSON.stringify(ref.shape)) {
        t.dispose();
        throw new RangeError(
          `checkpoint: ${path} has shape [${ref.shape}] but the model has [${target.shape}]`,
        );
      }
      target.assign(t);
      t.dispose();
      return target;
    }
    return t;
  }
  if (saved && typeof saved === "object" && "$typed" in (saved as object)) {
    const { $typed, data } = saved as { $typed: string; data: number[] };
    const C = { Float64Array, Float32Array, Int32Array, Uint32Array, Uint8Array }[$typed];
    if (!C) throw new TypeError(`checkpoint: ${path}: unsupported typed array ${$typed}`);
    return C.from(data);
  }
  if (saved && typeof saved === "object" && "$number" in (saved as object)) {
    return Number((saved as { $number: string }).$number);
  }
  if (Array.isArray(saved)) {
    const t = Array.isArray(target) ? target : [];
    const out = saved.map((v, i) => decode(v, t[i], read, `${path}[${i}]`));
    if (Array.isArray(target)) {
      target.length = 0;
      target.push(...out);
      return target;
    }
    return out;
  }
  if (saved && typeof saved === "object") {
    const t = target && typeof target === "object" && !(target instanceof tf.Tensor)
      ? target as Record<string, unknown>
      : {};
    for (const [k, v] of Object.entries(saved)) t[k] = decode(v, t[k], read, `${path}.${k}`);
    return t;
  }
  return saved;
}

/**
 * Loads `<dir>/<name>.json` into `target`: tensors are assigned into the matching `tf.Variable`s
 * of `target` (shapes must match), plain values replace the target's, objects are updated in
 * place. Returns the restored tree (the same object as `target` for objects).
 */
export async function loadCheckpoint<T>(dir: string, name: string, target: T): Promise<T> {
  const file = JSON.parse(await Deno.readTextFile(`${dir}/${name}.json`)) as CheckpointFile;
  if (file.format !== "amss-ts-checkpoint/1") {
    throw new TypeError(`${dir}/${name}.json: not an amss-ts checkpoint (format ${file.format})`);
  }
  const bytes = await Deno.readFile(`${dir}/${file.bin}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (ref: TensorRef) => {
    const { offset, size } = file.tensors[ref.$tensor];
    if ((offset + size) * 4 > bytes.byteLength) {
      throw new RangeError(
        `${dir}/${file.bin}: truncated (tensor ${ref.$tensor} needs ${(offset + size) * 4} bytes)`,
      );
    }
    if (ref.dtype === "int32") {
      const a = new Int32Array(size);
      for (let j = 0; j < size; j++) a[j] = view.getInt32((offset + j) * 4, true);
      return tf.tensor(a, ref.shape, "int32");
    }
    const a = new Float32Array(size);
    for (let j = 0; j < size; j++) a[j] = view.getFloat32((offset + j) * 4, true);
    return tf.tensor(a, ref.shape, "float32");
  };
  return decode(file.tree, target, read, "state") as T;
}
