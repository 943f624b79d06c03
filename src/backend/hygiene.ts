/**
 * What setting up a backend leaves around the computation, kept to nothing a user has to clean up:
 *
 * - Temporary folders made for the process's own use (an `XDG_RUNTIME_DIR` for Mesa during the
 *   WebGPU probe, the patched bundle of the threaded wasm backend) are made by
 *   {@link makeOwnTempDirSync} and removed, with their contents, when the isolate that made them
 *   unloads: at the end of the program (also after `Deno.exit`), or at the end of each test module
 *   under `deno test` (each runs in its own isolate). There is no `unload` after an uncaught error,
 *   on a signal, or in a Web Worker: a worker calls {@link removeOwnTempDirs} before it closes.
 * - tfjs's "Hi, looks like you are running TensorFlow.js in Node.js. To speed things up
 *   dramatically, install our node backend..." banner, printed by the `cpu` backend on its first
 *   write because tfjs takes Deno for Node: {@link silenceTfjsNodeBanner} turns off that banner
 *   only. The tfjs flags that also silence it are avoided: `IS_TEST` switches on kernel
 *   memory-leak checks and `PROD` silences every tfjs warning.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** Options for {@link makeOwnTempDirSync}. */
export interface OwnTempDirOptions {
  /** Start of the folder's name; a random suffix follows. */
  prefix: string;
  /** Parent folder (default: Deno's temporary folder, `$TMPDIR` or /tmp). */
  dir?: string;
  /** Called after the folder is removed, e.g. to unset an environment variable naming it. */
  onRemove?: () => void;
}

/** Folders this isolate made for itself, with what to do after removing each. */
const owned = new Map<string, (() => void) | undefined>();
let listening = false;

/**
 * Makes a private (0700) temporary folder that is removed, with whatever is in it, when this
 * isolate unloads (or earlier by {@link removeOwnTempDirs}).
 *
 * @param opts name prefix, parent folder, and what to do after removal
 * @returns the folder's path
 * @throws what `Deno.makeTempDirSync` throws (e.g. without write permission for the parent)
 */
export function makeOwnTempDirSync(opts: OwnTempDirOptions): string {
  const path = Deno.makeTempDirSync({ prefix: opts.prefix, dir: opts.dir });
  owned.set(path, opts.onRemove);
  if (!listening) {
    globalThis.addEventListener("unload", () => removeOwnTempDirs());
    listening = true;
  }
  return path;
}

/**
 * Removes every folder made by {@link makeOwnTempDirSync} in this isolate and not yet removed.
 * Never throws: a folder already gone, or one it has no permission to remove, is skipped.
 *
 * @returns how many folders were removed
 */
export function removeOwnTempDirs(): number {
  let removed = 0;
  for (const [path, onRemove] of [...owned]) {
    owned.delete(path);
    try {
      Deno.removeSync(path, { recursive: true });
      removed++;
    } catch { /* already gone, or no write permission */ }
    try {
      onRemove?.();
    } catch { /* e.g. no env permission */ }
  }
  return removed;
}

/** Marks a wrapped factory, so that wrapping twice is a no-op. */
const QUIET = Symbol.for("amss.quietCpuBackendFactory");

type BackendFactory =
  & (() => tf.KernelBackend | Promise<tf.KernelBackend>)
  & { [QUIET]?: true };

/** The parts of tfjs-core's `Engine` used here (not in its public typings). */
interface EngineInternals {
  registry?: Record<string, unknown>;
  registryFactory?: Record<string, { factory: BackendFactory; priority: number }>;
}

/** tfjs-backend-cpu prints the banner on the first `write` while `firstUse` is true. */
function markUsed<T>(backend: T): T {
  const b = backend as { firstUse?: boolean } | null;
  if (b != null && typeof b === "object" && "firstUse" in b) b.firstUse = false;
  return backend;
}

/**
 * Turns off tfjs's Node.js banner for this isolate's tfjs: the registered `cpu` backend factory is
 * wrapped so that every backend it creates starts as already used (tfjs-backend-cpu's `firstUse`),
 * and an instance created earlier is marked too. Other tfjs warnings stay on. Idempotent.
 *
 * @returns true when a `cpu` backend factory was found (and is now quiet)
 */
export function silenceTfjsNodeBanner(): boolean {
  const engine = tf.engine() as unknown as EngineInternals;
  const existing = engine.registry?.cpu;
  if (existing != null) markUsed(existing);
  const entry = engine.registryFactory?.cpu;
  if (entry == null || typeof entry.factory !== "function") return false;
  if (entry.factory[QUIET] !== true) {
    const make = entry.factory;
    const quiet: BackendFactory = () => {
      const b = make();
      return b instanceof Promise ? b.then(markUsed) : markUsed(b);
    };
    quiet[QUIET] = true;
    entry.factory = quiet;
  }
  return true;
}
