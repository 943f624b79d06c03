/**
 * The run folder of a bench sweep, made so that it cannot mix results:
 *
 * - `sweep.json`: the settings every run of the folder shares (code version, dataset identity and
 *   split sizes with a content hash, base model and optimizer, epochs, batch size, backend, ...).
 *   The first invocation creates it; a later one with other settings is refused, naming the first
 *   setting that differs.
 * - `<tag>/seed-<n>/fingerprint.json`: everything that determines that run's numbers (the shared
 *   settings plus method, options, seed, tau, model and optimizer of the run). Skipping a finished
 *   run or resuming an interrupted one requires the same fingerprint; `--restart` retrains it.
 * - `<tag>/seed-<n>/lock.json`: an exclusive OS file lock held by the process training the run;
 *   the file says who (PID, host, start time, command). A second process skips a run a live
 *   process holds. The OS releases the lock when its holder dies (also on SIGKILL), so a lock file
 *   nobody holds is taken over with a message naming the process that left it. Linux honours
 *   these locks on local disks and on NFS (as POSIX locks), so shards on several hosts writing
 *   into one shared folder keep to one trainer per run.
 * - `invocations/<time>-<host>-<pid>.json`: one record per process (command line, shard, the runs
 *   it trained and skipped); shards of one sweep never write each other's files. The folder's
 *   report is written by the process that finds every run of its sweep complete, or by
 *   `bench report`.
 *
 * Temporary files of interrupted atomic writes (`.NAME.PID.RAND.tmp`) are removed from a run's
 * folder when its lock is taken, and from the top of the folder and `invocations/` when the
 * process that wrote them is gone: every bench process holds an OS lock on
 * `invocations/<time>-<host>-<pid>.live` while it runs ({@link markLive}). A corrupt `fingerprint.json`, `summary.json`, `diverged.json` or
 * `checkpoint.json` is named in a warning and the run is retrained.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };
import { type AnySplit, type Dataset, isLazy } from "../src/data/dataset.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { AmssArgumentError } from "../src/validate.ts";
import type { Plan, RunSpec } from "./plan.ts";

/** The code version recorded in every fingerprint (`version` in deno.json). */
export const CODE_VERSION: string = denoConfig.version;

/**
 * A temporary file at the top of a run folder whose writer left no live lock (an older version of
 * the bench) is a leftover once older than this.
 */
export const TEMP_FILE_AGE_MS = 10 * 60 * 1000;

/** What identifies a dataset: name, description, classes, modalities, split sizes, content. */
export interface DatasetIdentity {
  name: string;
  meta: unknown;
  classes: string[];
  modalities: { name: string; kind: string; shape: number[] }[];
  sizes: { train: number; val: number; test: number };
  valSource: string;
  /** SHA-256 over every split's labels and inputs (files and options for splits read from disk). */
  contentHash: string;
}

/** The settings every run of a folder shares (`sweep.json`). */
export interface SweepSettings {
  version: string;
  dataset: DatasetIdentity;
  model: unknown;
  optimizer: unknown;
  order: string;
  epochs: number;
  batchSize: number;
  backend: string;
  pretrained: unknown;
}

/** Everything that determines one run's numbers (`fingerprint.json`). */
export interface RunFingerprint extends SweepSettings {
  tag: string;
  method: string;
  options: unknown;
  seed: number;
  tau: number;
}

const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

/** SHA-256 of a typed array's bytes (no copy). */
async function digest(a: ArrayBufferView): Promise<string> {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength) as Uint8Array<ArrayBuffer>;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function splitDigest(split: AnySplit, names: string[]): Promise<string[]> {
  const parts: string[] = [await digest(split.labels)];
  if (isLazy(split)) {
    const text = JSON.stringify({
      loader: split.loader,
      items: split.items,
      options: split.options,
    });
    parts.push(await digest(new TextEncoder().encode(text)));
  } else {
    for (const m of names) {
      parts.push(await digest(split.inputs[m]));
    }
  }
  return parts;
}

/** The identity of a loaded dataset (content hashed, so two folders with other data differ). */
export async function datasetIdentity(ds: Dataset): Promise<DatasetIdentity> {
  const names = ds.modalities.map((m) => m.name);
  const digests = [
    ...(await splitDigest(ds.train, names)),
    ...(await splitDigest(ds.val, names)),
    ...(await splitDigest(ds.test, names)),
  ];
  return {
    name: ds.name,
    meta: JSON.parse(JSON.stringify(ds.meta ?? null)),
    classes: ds.classes,
    modalities: ds.modalities.map((m) => ({ name: m.name, kind: m.kind, shape: m.shape })),
    sizes: { train: ds.train.n, val: ds.val.n, test: ds.test.n },
    valSource: ds.valSource,
    contentHash: await digest(new TextEncoder().encode(digests.join(""))),
  };
}

/** The shared settings of a plan on a backend. */
export function sweepSettings(
  plan: Plan,
  dataset: DatasetIdentity,
  backend: string,
): SweepSettings {
  return {
    version: CODE_VERSION,
    dataset,
    model: plan.model,
    optimizer: plan.optimizer,
    order: plan.order,
    epochs: plan.epochs,
    batchSize: plan.batchSize,
    backend,
    pretrained: plan.pretrained,
  };
}

/** A run's fingerprint (its own model, optimizer and order replace the sweep's base ones). */
export function runFingerprint(run: RunSpec, sweep: SweepSettings): RunFingerprint {
  return {
    ...sweep,
    model: run.model,
    optimizer: run.optimizer,
    order: run.order,
    tag: run.tag,
    method: run.method,
    options: run.options,
    seed: run.seed,
    tau: run.tau,
  };
}

/**
 * The first setting (a dotted path, e.g. `optimizer.lr`) where `was` and `now` differ, with both
 * values; null when they are equal. Paths follow `now`'s key order, then keys only `was` has.
 */
export function firstDifference(
  was: unknown,
  now: unknown,
  path = "",
): { path: string; was: unknown; now: unknown } | null {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === "object" && !Array.isArray(v);
  if (Array.isArray(was) && Array.isArray(now)) {
    for (let i = 0; i < Math.max(was.length, now.length); i++) {
      const d = firstDifference(was[i], now[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (isObj(was) && isObj(now)) {
    const keys = [...Object.keys(now), ...Object.keys(was).filter((k) => !(k in now))];
    for (const k of keys) {
      const d = firstDifference(was[k], now[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return Object.is(was, now) ? null : { path: path || "(whole)", was, now };
}

/** A JSON file read back: its value, absent, or unreadable (with the parse error). */
export type JsonRead =
  | { kind: "ok"; value: unknown }
  | { kind: "missing" }
  | { kind: "corrupt"; error: string };

/** Reads a JSON file without throwing on absence or corruption. */
export async function readJson(path: string): Promise<JsonRead> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { kind: "missing" };
    return { kind: "corrupt", error: (e as Error).message };
  }
  try {
    return { kind: "ok", value: JSON.parse(text) };
  } catch (e) {
    return { kind: "corrupt", error: `not valid JSON: ${(e as Error).message}` };
  }
}

/** Where a run stands in its folder. */
export type RunState =
  | { kind: "new" }
  | { kind: "complete"; epochs: number }
  | { kind: "diverged"; message: string }
  | { kind: "resume" }
  | { kind: "mismatch"; path: string; was: unknown; now: unknown }
  | { kind: "foreign"; files: string[] }
  | { kind: "corrupt"; file: string; error: string };

const RESULT_FILES = ["summary.json", "diverged.json", "checkpoint.json", "metrics.jsonl"];

/** Reads a run folder's state against the fingerprint it must have. */
export async function runState(dir: string, fp: RunFingerprint): Promise<RunState> {
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { kind: "new" };
    throw e;
  }
  const results = names.filter((n) => RESULT_FILES.includes(n) || /^checkpoint-.*\.bin$/.test(n));
  const f = await readJson(`${dir}/fingerprint.json`);
  if (f.kind === "corrupt") {
    return { kind: "corrupt", file: `${dir}/fingerprint.json`, error: f.error };
  }
  if (f.kind === "missing") {
    return results.length ? { kind: "foreign", files: results } : { kind: "new" };
  }
  const d = firstDifference(f.value, fp);
  if (d) return { kind: "mismatch", ...d };
  if (names.includes("summary.json")) {
    const s = await readJson(`${dir}/summary.json`);
    if (s.kind !== "ok") {
      return {
        kind: "corrupt",
        file: `${dir}/summary.json`,
        error: s.kind === "corrupt" ? s.error : "",
      };
    }
    const h = (s.value as { history?: unknown[] }).history;
    if (Array.isArray(h) && h.length === fp.epochs) return { kind: "complete", epochs: h.length };
    return { kind: "corrupt", file: `${dir}/summary.json`, error: "no complete history" };
  }
  if (names.includes("diverged.json")) {
    const s = await readJson(`${dir}/diverged.json`);
    if (s.kind !== "ok") {
      return {
        kind: "corrupt",
        file: `${dir}/diverged.json`,
        error: s.kind === "corrupt" ? s.error : "",
      };
    }
    return { kind: "diverged", message: String((s.value as { message?: unknown }).message ?? "") };
  }
  if (names.includes("checkpoint.json")) {
    const c = await readJson(`${dir}/checkpoint.json`);
    if (c.kind === "corrupt") {
      return { kind: "corrupt", file: `${dir}/checkpoint.json`, error: c.error };
    }
    const v = (c as { value?: { bin?: unknown; tensors?: unknown } }).value;
    const bin = v?.bin;
    if (typeof bin !== "string" || !names.includes(bin)) {
      return {
        kind: "corrupt",
        file: `${dir}/checkpoint.json`,
        error: `its tensor file ${bin} is missing`,
      };
    }
    // a tensor file cut short (a disk that filled up, a copy interrupted) cannot be resumed from
    const tensors = Array.isArray(v?.tensors)
      ? v.tensors as { offset: number; size: number }[]
      : [];
    const need = 4 * Math.max(0, ...tensors.map((t) => t.offset + t.size));
    const have = (await Deno.stat(`${dir}/${bin}`)).size;
    if (have < need) {
      return {
        kind: "corrupt",
        file: `${dir}/${bin}`,
        error: `${have} bytes, the checkpoint needs ${need}`,
      };
    }
    return { kind: "resume" };
  }
  return { kind: "new" };
}

/** Removes a run's results (not its lock), so that it trains from scratch. */
export async function clearRun(dir: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name !== "lock.json") await Deno.remove(`${dir}/${e.name}`, { recursive: true });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Removes leftover temporary files of interrupted atomic writes (`.NAME.PID.RAND.tmp`) in `dir`
 * (not recursively) for which `dead(pid, ageMs)` says the writer is gone; returns how many. Without
 * `dead`, every such file goes (for a folder only this process writes, e.g. a locked run's).
 */
export async function cleanTempFiles(
  dir: string,
  dead: (pid: number, ageMs: number) => Promise<boolean> = () => Promise.resolve(true),
): Promise<number> {
  let removed = 0;
  const now = Date.now();
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^\..+\.(\d+)\.[^.]+\.tmp$/.exec(e.name);
      if (!e.isFile || !m) continue;
      const p = `${dir}/${e.name}`;
      try {
        const st = await Deno.stat(p);
        if (!(await dead(Number(m[1]), now - (st.mtime?.getTime() ?? 0)))) continue;
        await Deno.remove(p);
        removed++;
      } catch { /* removed by someone else meanwhile */ }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return removed;
}

/**
 * Marks this process as writing into run folder `out` for as long as it runs: an exclusive OS
 * lock on `invocations/<stem>.live`, which the OS drops when the process ends in any way. Other
 * processes use it (see {@link writerGone}) to tell leftover temporary files of a dead writer from
 * those of a live one.
 */
export async function markLive(out: string, stem: string): Promise<HeldLock> {
  await Deno.mkdir(`${out}/invocations`, { recursive: true });
  const path = `${out}/invocations/${stem}.live`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    if (!(await file.tryLock(true))) throw new Error(`${path} is locked by another process`);
  } catch (e) {
    file.close();
    throw new LockUnsupportedError(path, e);
  }
  return {
    async release() {
      await Deno.remove(path).catch(() => {});
      file.close();
    },
  };
}

/** Removes the `invocations/*.live` files no process holds (left by processes that died). */
export async function removeDeadLiveFiles(out: string): Promise<number> {
  let removed = 0;
  try {
    for await (const e of Deno.readDir(`${out}/invocations`)) {
      if (!e.name.endsWith(".live")) continue;
      const path = `${out}/invocations/${e.name}`;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { read: true, write: true });
      } catch {
        continue;
      }
      try {
        if (await file.tryLock(true)) {
          await Deno.remove(path);
          removed++;
        }
      } catch {
        /* no file locks here: leave it */
      } finally {
        file.close();
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return removed;
}

/**
 * Whether the process `pid` that wrote a temporary file in run folder `out` is gone: false while
 * a process with that PID holds its `invocations/*-<pid>.live` lock; true when such files exist
 * and none is held; when there is none (a writer of an older version), true once the file is
 * older than {@link TEMP_FILE_AGE_MS}.
 */
export async function writerGone(out: string, pid: number, ageMs: number): Promise<boolean> {
  let found = false;
  try {
    for await (const e of Deno.readDir(`${out}/invocations`)) {
      if (!e.name.endsWith(`-${pid}.live`)) continue;
      found = true;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(`${out}/invocations/${e.name}`, { read: true, write: true });
      } catch {
        continue; // removed meanwhile: its process ended
      }
      try {
        if (!(await file.tryLock(true))) return false;
      } catch {
        return ageMs > TEMP_FILE_AGE_MS;
      } finally {
        file.close();
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found || ageMs > TEMP_FILE_AGE_MS;
}

/** Who holds a lock (what the lock file says; the OS lock on it is what counts). */
export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

/** The host name recorded in locks and invocation records. */
export const HOST: string = hostname();

/** A held lock: the open lock file whose exclusive OS lock this process holds. */
export interface HeldLock {
  /** Removes the lock file and lets the OS lock go. */
  release(): Promise<void>;
}

/** What {@link acquireLock} found. */
export type LockResult =
  /** `previous`: what a lock file left by a process that is gone said (null: nothing readable). */
  | { kind: "acquired"; lock: HeldLock; previous: LockInfo | null }
  | { kind: "held"; holder: LockInfo | null };

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text);
    return v && typeof v.pid === "number" && typeof v.host === "string" ? v as LockInfo : null;
  } catch {
    return null;
  }
}

/** Error for a run folder on a file system without file locks. */
export class LockUnsupportedError extends Error {
  constructor(path: string, cause: unknown) {
    super(
      `${path}: cannot take a file lock (${
        cause instanceof Error ? cause.message : cause
      }); put the run folder on a file system with file locks (local disks and NFS do)`,
    );
    this.name = "LockUnsupportedError";
  }
}

/**
 * Takes the lock of run folder `dir` (created if needed): an exclusive OS file lock on
 * `dir/lock.json`, held until {@link HeldLock.release}. The OS drops the lock when its process
 * ends in any way (also SIGKILL), so a lock file nobody holds is what a dead process left: it is
 * taken over, and `previous` says whose it was. A run another live process holds comes back as
 * `held`. After locking, the file is checked to still be the one at the path (a releasing holder
 * removes it), the usual guard of lock-then-unlink schemes.
 */
export async function acquireLock(dir: string, command: string): Promise<LockResult> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/lock.json`;
  for (let attempt = 0; attempt < 10; attempt++) {
    const file = await Deno.open(path, { read: true, write: true, create: true });
    let locked: boolean;
    try {
      locked = await file.tryLock(true);
    } catch (e) {
      file.close();
      throw new LockUnsupportedError(path, e);
    }
    if (!locked) {
      file.close();
      let holder: LockInfo | null = null;
      try {
        holder = parseLock(await Deno.readTextFile(path));
      } catch { /* released meanwhile */ }
      return { kind: "held", holder };
    }
    const [mine, there] = [await file.stat(), await Deno.stat(path).catch(() => null)];
    if (!there || mine.ino !== there.ino || mine.dev !== there.dev) {
      file.close(); // the file was removed (released) between open and lock: take the new one
      continue;
    }
    const bytes = new Uint8Array(mine.size);
    let off = 0;
    while (off < bytes.length) {
      const n = await file.read(bytes.subarray(off));
      if (n === null) break;
      off += n;
    }
    const previous = off > 0 ? parseLock(new TextDecoder().decode(bytes.subarray(0, off))) : null;
    const info: LockInfo = {
      pid: Deno.pid,
      host: HOST,
      started: new Date().toISOString(),
      command,
    };
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    const text = new TextEncoder().encode(JSON.stringify(info, null, 2) + "\n");
    for (let w = 0; w < text.length;) w += await file.write(text.subarray(w));
    return {
      kind: "acquired",
      previous: off > 0 ? previous : null,
      lock: {
        async release() {
          await Deno.remove(path).catch(() => {});
          file.close();
        },
      },
    };
  }
  return { kind: "held", holder: null };
}

/** Creates `sweep.json` or checks that the existing one has the same settings. */
export async function claimSweep(
  out: string,
  settings: SweepSettings,
): Promise<{ path: string; was: unknown; now: unknown } | null> {
  await Deno.mkdir(out, { recursive: true });
  const path = `${out}/sweep.json`;
  try {
    await Deno.writeTextFile(path, JSON.stringify(settings, null, 2) + "\n", { createNew: true });
    return null;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  // created by another process: it may still be writing it (createNew + write is not atomic)
  for (let i = 0; i < 20; i++) {
    const r = await readJson(path);
    if (r.kind === "ok") return firstDifference(r.value, settings);
    await new Promise((res) => setTimeout(res, 50));
  }
  const r = await readJson(path);
  throw new AmssArgumentError(
    `${path}: ${
      r.kind === "corrupt" ? r.error : "missing"
    }; it records the folder's settings: remove it only if every run in the folder was made with this command's settings`,
  );
}

/** Reads a folder's `sweep.json` (null when there is none or it cannot be read). */
export async function readSweep(out: string): Promise<SweepSettings | null> {
  const r = await readJson(`${out}/sweep.json`);
  return r.kind === "ok" ? r.value as SweepSettings : null;
}

/** One process's record in `invocations/`. */
export interface InvocationRecord {
  command: string;
  argv: string[];
  cwd: string;
  host: string;
  pid: number;
  shard: string;
  started: string;
  finished: string | null;
  status: "running" | "finished" | "failed";
  version: string;
  /** Every run of the sweep (all shards), as folder paths relative to the run folder. */
  sweep: string[];
  /** This process's runs: what happened to each. */
  runs: { dir: string; outcome: string }[];
  suite: { name: string; context: unknown } | null;
  paper: unknown;
  collapse: { lossFactor: number; accDrop: number };
  totalSeconds?: number;
}

/** The file name (without extension) of a process's invocation record and live lock. */
export function invocationStem(rec: { started: string; host: string; pid: number }): string {
  return `${rec.started.replace(/[:.]/g, "-")}-${rec.host.replace(/[^\w.-]/g, "_")}-${rec.pid}`;
}

/** Writes (or rewrites) this process's invocation record; returns its path. */
export async function writeInvocation(
  out: string,
  rec: InvocationRecord,
  name?: string,
): Promise<string> {
  await Deno.mkdir(`${out}/invocations`, { recursive: true });
  const file = name ?? `${out}/invocations/${invocationStem(rec)}.json`;
  await writeJsonAtomic(file, rec);
  return file;
}

/** Every readable invocation record under `out/invocations/`, oldest first. */
export async function readInvocations(out: string): Promise<InvocationRecord[]> {
  const recs: InvocationRecord[] = [];
  try {
    for await (const e of Deno.readDir(`${out}/invocations`)) {
      if (!e.name.endsWith(".json")) continue;
      const r = await readJson(`${out}/invocations/${e.name}`);
      if (r.kind === "ok") recs.push(r.value as InvocationRecord);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return recs.sort((a, b) => a.started.localeCompare(b.started));
}

/** A command line as a shell would need it to run again (POSIX single quotes where needed). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
