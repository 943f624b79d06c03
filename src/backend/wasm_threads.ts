/**
 * A multi-threaded tfjs `wasm` backend under Deno, from a patched copy of the pinned
 * `@tensorflow/tfjs-backend-wasm@4.22.0` bundle made at run time.
 *
 * Why a patch (read in the 4.22.0 bundle): tfjs takes Deno for Node and its
 * `WASM_HAS_MULTITHREAD_SUPPORT` flag answers false under Node. Forcing the flag makes the
 * emscripten glue hand Node's `worker_threads.Worker` a `blob:` URL for the pthread worker script
 * (ERR_WORKER_PATH) and the worker a Blob for the glue itself, neither of which works here. We
 * therefore read the bundle Deno really loads (`dist/tf-backend-wasm.node.js`, the package's
 * `main`: CommonJS, it `require`s `@tensorflow/tfjs-core`), apply a few exact string replacements
 * ({@link patchWasmBundle}; each must match exactly once, or we stop), write three files into a
 * private temporary folder (`$TMPDIR/amss-wasm-threads-<random>/`, removed when the isolate
 * unloads: ./hygiene.ts), and import the patched module with a `require` anchored at the original
 * bundle's path, so `@tensorflow/tfjs-core` resolves to the very module instance that
 * `@tensorflow/tfjs` uses (one engine, one kernel registry, one `Tensor` class). No tfjs code is
 * kept in this repository.
 *
 * The replacements: threads on in this copy only (the shared flag stays false, so the stock copy
 * still starts single-threaded after a failed attempt); the worker script and the glue the worker
 * imports come from files written once before start-up (writing them per worker raced with the
 * workers reading them: an emptied script made a worker exit and the start hang, the likely cause
 * of the occasional hung start-ups seen with the stock pool); a pthread pool of `threads` workers
 * instead of 8; `emscripten_num_logical_cores()` reports `2 * threads`, because tfjs's backend.cc
 * caps the pool at `logical cores / 2` (1 on a 2-vCPU machine); workers come from
 * `node:worker_threads` without overwriting Deno's global `Worker`; a worker error during start-up
 * fails the start instead of being thrown where nothing catches it; a running pthread no longer
 * `ref()`s its worker (it kept the process alive forever after the script ended); the backend and
 * its kernels are handed to us instead of being registered, and `init` is exposed so that start-up
 * can be timed out before anything in the kernel registry changes. In the worker script, its
 * globals are defined rather than assigned (Deno's worker `location` is a read-only accessor).
 *
 * Start-up is guarded: {@link startWasmThreads} waits at most `timeoutMs` for the module and its
 * workers; on a timeout it terminates the attempt's workers and leaves the stock single-threaded
 * `wasm` registration untouched, so the caller can go on with 1 thread in the same process. The only
 * synchronous waits (the XNNPACK pool creation, and each parallel op) happen after every worker has
 * reported itself loaded.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import {
  getThreadsCount as stockGetThreadsCount,
  version_wasm,
} from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { Worker as NodeWorker } from "node:worker_threads";
import { AmssArgumentError, requireInt } from "../validate.ts";
import { makeOwnTempDirSync } from "./hygiene.ts";
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  wasmTrainingKernelsRegistered,
} from "./wasm_kernels.ts";

/** The `@tensorflow/tfjs-backend-wasm` version the replacements were written for. */
export const WASM_THREADS_PACKAGE_VERSION = "4.22.0";

/**
 * Most XNNPACK threads tfjs uses: `max_num_threads = 8` in tfjs-backend-wasm's backend.cc
 * (`init_with_threads_count` clamps to it).
 */
export const MAX_WASM_THREADS = 8;

/** Default start-up timeout of {@link startWasmThreads}, in ms (a start takes 0.2-0.5 s here). */
export const DEFAULT_WASM_THREADS_TIMEOUT_MS = 20_000;

/** The patched bundle or its worker glue did not look as expected (another package version?). */
export class WasmThreadsPatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WasmThreadsPatchError";
  }
}

/** The three generated files of {@link patchWasmBundle}. */
export interface WasmThreadsFiles {
  /** ES module: `export default function (require, module, exports, __filename, __dirname, __amss)`. */
  module: string;
  /** The pthread worker script (CommonJS, run by `node:worker_threads`). */
  worker: string;
  /** The emscripten glue each worker evaluates (`importScripts`), with the names it expects. */
  main: string;
}

interface Replacement {
  what: string;
  find: string | RegExp;
  replace: string;
}

// The replacements on dist/tf-backend-wasm.node.js; `__amss` is our hook object (see Hooks).
const BUNDLE_PATCHES: Replacement[] = [
  {
    what: "threads on in this copy (init() reads the shared flag, false under Node)",
    find: "tfjsCore.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')",
    replace: "Promise.resolve(true)",
  },
  {
    what: "pthread worker script from a file (locateFile gave a blob: URL)",
    find: String.raw`var response = wasmWorkerContents.replace(/\n/g, '\\n');`,
    replace: "return __amss.workerScriptPath;",
  },
  {
    what: "glue for the workers from a file (was a Blob of the factory's source)",
    find:
      /factoryConfig\.mainScriptUrlOrBlob = new Blob\(\["var WasmBackendModuleThreadedSimd = " \+\s*wasmFactoryThreadedSimd\.toString\(\)\], \{ type: 'text\/javascript' \}\);/,
    replace: "factoryConfig.mainScriptUrlOrBlob = __amss.mainScriptPath;",
  },
  {
    what: "pthread pool of `threads` workers (was 8)",
    find: "var pthreadPoolSize = 8;",
    replace: "var pthreadPoolSize = __amss.poolSize;",
  },
  {
    what: "logical cores reported to backend.cc, which caps threads at cores / 2",
    find: "return require$$4.cpus().length;",
    replace: "return __amss.logicalCores;",
  },
  {
    what: "workers created (and tracked) by us",
    find: "worker = new Worker(pthreadMainJs);",
    replace: "worker = __amss.newWorker(pthreadMainJs);",
  },
  {
    what: "Deno's global Worker left alone",
    find: "commonjsGlobal.Worker = nodeWorkerThreads.Worker;",
    replace: "",
  },
  {
    what: "a worker error during start-up fails the start (was: thrown, uncaught)",
    find:
      'worker.onerror = function (e) { var message = "worker sent an error!"; err(message + " " + ' +
      'e.filename + ":" + e.lineno + ": " + e.message); throw e; };',
    replace: "worker.onerror = function (e) { __amss.workerError(e); };",
  },
  {
    what: "a running pthread does not keep the process alive",
    find: "worker.ref();",
    replace: "",
  },
  {
    what: "backend factory handed to us, not registered",
    find: "tfjsCore.registerBackend('wasm', ",
    replace: "__amss.registerBackend('wasm', ",
  },
  {
    what: "kernels handed to us, not registered",
    find: "tfjsCore.registerKernel(kernelConfig);",
    replace: "__amss.registerKernel(kernelConfig);",
  },
];

// The replacements on the worker script (the bundle's `wasmWorkerContents` string).
const WORKER_PATCHES: Replacement[] = [
  {
    what: "worker globals defined, not assigned (Deno's worker `location` is a getter)",
    find: "Object.assign(global,{",
    replace: "__amssAssign(global,{",
  },
  {
    what: "the define helper",
    find: '"use strict";var Module={};',
    replace: '"use strict";' +
      "function __amssAssign(t,p){for(var k of Object.keys(p)){try{Object.defineProperty(t,k," +
      "{value:p[k],writable:true,configurable:true,enumerable:true})}catch(e){t[k]=p[k]}}}" +
      "var Module={};",
  },
];

function count(text: string, find: string | RegExp): number {
  if (typeof find === "string") return text.split(find).length - 1;
  return [...text.matchAll(new RegExp(find.source, "g"))].length;
}

function applyPatches(text: string, patches: Replacement[], file: string): string {
  for (const p of patches) {
    const n = count(text, p.find);
    if (n !== 1) {
      throw new WasmThreadsPatchError(
        `${file}: expected exactly one match of ${JSON.stringify(String(p.find))} (${p.what}), ` +
          `found ${n}; these patches are for @tensorflow/tfjs-backend-wasm@` +
          `${WASM_THREADS_PACKAGE_VERSION}`,
      );
    }
    text = text.replace(p.find, () => p.replace);
  }
  return text;
}

function extract(text: string, re: RegExp, what: string, file: string): RegExpMatchArray {
  const all = [
    ...text.matchAll(new RegExp(re.source, re.flags.includes("g") ? re.flags : re.flags + "g")),
  ];
  if (all.length !== 1) {
    throw new WasmThreadsPatchError(
      `${file}: expected exactly one ${what}, found ${all.length}; these patches are for ` +
        `@tensorflow/tfjs-backend-wasm@${WASM_THREADS_PACKAGE_VERSION}`,
    );
  }
  return all[0];
}

/**
 * Makes the three files of the threaded backend from the text of the pinned package's
 * `dist/tf-backend-wasm.node.js`. Pure; throws {@link WasmThreadsPatchError} naming `file` and the
 * pattern when one is missing or ambiguous.
 *
 * @param source the bundle's text
 * @param distDir the bundle's folder (the workers' glue needs it as `__dirname`)
 * @param file the bundle's path, for error messages
 * @returns the patched module, the worker script and the workers' glue
 */
export function patchWasmBundle(
  source: string,
  distDir: string,
  file = "tf-backend-wasm.node.js",
): WasmThreadsFiles {
  // The worker script: a one-line double-quoted literal with only \" and \n escapes (JSON-safe).
  const lit = extract(
    source,
    /^var wasmWorkerContents = ("(?:[^"\\\n]|\\.)*");$/m,
    '`var wasmWorkerContents = "...";` line',
    file,
  );
  // The stock locateFile escapes real newlines before making its Blob; so do we.
  const workerRaw = (JSON.parse(lit[1]) as string).replace(/\n/g, "\\n");
  const worker = applyPatches(workerRaw, WORKER_PATCHES, `${file} (wasmWorkerContents)`);

  let text = applyPatches(source, BUNDLE_PATCHES, file);
  text = text.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n");
  text += "\n__amss.init = init;\n";

  // The glue the workers evaluate: the patched threaded factory, the same code the main thread
  // runs (upstream passes `factory.toString()` in a Blob). It expects these bundle-level names.
  const factory = extract(
    text,
    /var WasmBackendModuleThreadedSimd = \(function \(\) \{[\s\S]*?\}\)\(\);(?=\s*module\.exports = WasmBackendModuleThreadedSimd;)/,
    "threaded emscripten factory",
    file,
  )[0];
  const main = [
    "// Generated by src/backend/wasm_threads.ts from @tensorflow/tfjs-backend-wasm@" +
    `${WASM_THREADS_PACKAGE_VERSION} (Apache-2.0): the glue each pthread worker evaluates.`,
    'var require$$0 = require("fs"), require$$1 = require("path");',
    'var require$$3 = require("perf_hooks"), require$$4 = require("os");',
    "var commonjsGlobal = globalThis;",
    `var __dirname = ${JSON.stringify(distDir)};`,
    // Only the main thread creates workers and asks for the core count (backend.cc's statics).
    "var __amss = { poolSize: 0, logicalCores: 1, workerError: function (e) { throw e; },",
    '  newWorker: function () { throw new Error("amss: pthread workers start on the main thread"); } };',
    // Minimal stand-ins for the three TypeScript helpers the factory calls (our own code).
    "function __values(o) { return o[Symbol.iterator](); }",
    "function __read(o, n) { var a = Array.from(o); return n === undefined ? a : a.slice(0, n); }",
    "function __spreadArray(to, from) { return to.concat(Array.from(from)); }",
    factory,
    "",
  ].join("\n");

  const module = "// Generated at run time by src/backend/wasm_threads.ts from " +
    `@tensorflow/tfjs-backend-wasm@${WASM_THREADS_PACKAGE_VERSION} dist/tf-backend-wasm.node.js ` +
    "(Apache-2.0). Not a source file.\n" +
    "export default function (require, module, exports, __filename, __dirname, __amss) {\n" +
    text + "}\n";
  return { module, worker, main };
}

/** The emscripten module object of a wasm backend instance (only what we touch). */
interface WasmModule {
  PThread?: { terminateAllThreads(): void };
}

/** The patched bundle's exports we use. */
interface ThreadedExports {
  BackendWasm: new (wasm: WasmModule) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** One start-up attempt: the workers it created, whether it was given up, how to fail it. */
interface Attempt {
  workers: NodeWorker[];
  cancelled: boolean;
  fail: (e: unknown) => void;
}

/** The `__amss` object the patched code calls. */
interface Hooks {
  poolSize: number;
  logicalCores: number;
  workerScriptPath: string;
  mainScriptPath: string;
  attempt: Attempt | null;
  kernels: tf.KernelConfig[];
  init?: () => Promise<{ wasm: WasmModule }>;
  newWorker(path: string): NodeWorker;
  workerError(e: unknown): void;
  registerBackend(name: string, factory: unknown, priority?: number): void;
  registerKernel(config: tf.KernelConfig): void;
}

interface Threaded {
  exports: ThreadedExports;
  hooks: Hooks;
  dir: string;
}

interface Stock {
  factory: () => tf.KernelBackend | Promise<tf.KernelBackend>;
  priority: number;
  kernels: tf.KernelConfig[];
}

let loaded: Promise<Threaded> | null = null;
let stock: Stock | null = null;
/** Set while the threaded backend is the registered `wasm`. */
let active: { threads: number; threaded: Threaded } | null = null;

/** Where the folder of generated files goes: `$TMPDIR`, else `/tmp`. */
export function wasmThreadsCacheRoot(): string {
  let dir: string | undefined;
  try {
    dir = Deno.env.get("TMPDIR");
  } catch { /* no env permission */ }
  return (dir && dir.trim() !== "" ? dir : "/tmp").replace(/\/+$/, "") || "/";
}

async function loadThreaded(cacheRoot: string): Promise<Threaded> {
  if (version_wasm !== WASM_THREADS_PACKAGE_VERSION) {
    throw new WasmThreadsPatchError(
      `@tensorflow/tfjs-backend-wasm is ${version_wasm}; the threads patch is for ` +
        WASM_THREADS_PACKAGE_VERSION,
    );
  }
  // What Deno loads for the bare specifier: the package's `main`, dist/tf-backend-wasm.node.js.
  const bundleUrl = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  if (!bundleUrl.startsWith("file:")) {
    throw new WasmThreadsPatchError(
      `@tensorflow/tfjs-backend-wasm resolved to ${bundleUrl}, not a file`,
    );
  }
  const bundlePath = decodeURIComponent(new URL(bundleUrl).pathname);
  const distDir = bundlePath.replace(/\/[^/]*$/, "");
  const files = patchWasmBundle(Deno.readTextFileSync(bundlePath), distDir, bundlePath);
  if (Deno.permissions.querySync({ name: "write", path: cacheRoot }).state !== "granted") {
    throw new Error(
      `writing the patched backend needs --allow-write=${cacheRoot} (or set TMPDIR)`,
    );
  }
  // This isolate's own folder, removed when it unloads: pthread workers that emscripten starts
  // later (a grown pool, a restarted backend) read the files, so they stay while the isolate runs,
  // and a folder shared between processes could be removed under another one's feet.
  const dir = makeOwnTempDirSync({ dir: cacheRoot, prefix: "amss-wasm-threads-" });
  const paths = {
    module: `${dir}/backend.mjs`,
    worker: `${dir}/worker.cjs`, // .cjs: node:worker_threads runs it as CommonJS
    main: `${dir}/main.cjs`,
  };
  for (const k of ["module", "worker", "main"] as const) Deno.writeTextFileSync(paths[k], files[k]);

  const hooks: Hooks = {
    poolSize: 1,
    logicalCores: 2,
    workerScriptPath: paths.worker,
    mainScriptPath: paths.main,
    attempt: null,
    kernels: [],
    newWorker(path: string): NodeWorker {
      const a = hooks.attempt;
      if (a == null || a.cancelled) throw new Error("amss: wasm threads start-up was given up");
      const w = new NodeWorker(path);
      a.workers.push(w);
      return w;
    },
    workerError(e: unknown) {
      // During start-up: fail the attempt (then fall back). Later: fatal, as upstream (a pthread
      // that died leaves the pool broken).
      const a = hooks.attempt;
      if (a != null && !a.cancelled) a.fail(e);
      else throw e;
    },
    registerBackend() {/* we construct BackendWasm ourselves, after a timed init */},
    registerKernel(config: tf.KernelConfig) {
      hooks.kernels.push(config);
    },
  };
  const mod = { exports: {} as Record<string, unknown> };
  // The patched bundle exists only at run time (written under the temporary folder above), so
  // this import of its file URL cannot be analysed by `deno publish` and needs no import map.
  const { default: run } = await import(new URL(`file://${paths.module}`).href) as {
    default: (...args: unknown[]) => void;
  };
  run(createRequire(bundlePath), mod, mod.exports, bundlePath, distDir, hooks);
  if (hooks.init == null || hooks.kernels.length === 0) {
    throw new WasmThreadsPatchError(`${paths.module}: the patched bundle did not hand over init`);
  }
  return { exports: mod.exports as unknown as ThreadedExports, hooks, dir };
}

/** One timed start of the threaded module; resolves to a ready backend or rejects. */
async function startBackend(
  t: Threaded,
  threads: number,
  timeoutMs: number,
): Promise<tf.KernelBackend> {
  const attempt: Attempt = { workers: [], cancelled: false, fail: () => {} };
  const failed = new Promise<never>((_, reject) => {
    attempt.fail = (e) => reject(new Error(`a worker failed: ${errLine(e)}`));
  });
  const h = t.hooks;
  h.attempt = attempt;
  h.poolSize = threads;
  h.logicalCores = 2 * threads;
  t.exports.setThreadsCount(threads);
  const init = h.init!();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`not ready after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const { wasm } = await Promise.race([init, timeout, failed]);
    // Every pool worker has reported "loaded": creating the XNNPACK pool cannot wait forever.
    return new t.exports.BackendWasm(wasm);
  } catch (e) {
    attempt.cancelled = true;
    for (const w of attempt.workers) w.terminate();
    // Should the abandoned start finish later anyway, stop its threads.
    init.then(({ wasm }) => wasm.PThread?.terminateAllThreads(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
    if (h.attempt === attempt) h.attempt = null;
  }
}

function setWasmKernels(configs: tf.KernelConfig[]): void {
  for (const k of tf.getKernelsForBackend("wasm")) tf.unregisterKernel(k.kernelName, "wasm");
  for (const k of configs) tf.registerKernel(k);
}

function captureStock(): Stock {
  if (stock != null) return stock;
  const factory = tf.findBackendFactory("wasm");
  if (factory == null) throw new Error("the stock 'wasm' backend is not registered");
  const entry = (tf.engine() as unknown as {
    registryFactory?: Record<string, { priority?: number }>;
  }).registryFactory?.wasm;
  stock = {
    factory: factory as Stock["factory"],
    priority: entry?.priority ?? 2,
    kernels: tf.getKernelsForBackend("wasm"),
  };
  return stock;
}

/** Swaps the `wasm` registration (backend factory and all its kernels), keeping ours on top. */
function swapWasm(factory: Stock["factory"], kernels: tf.KernelConfig[]): void {
  const training = wasmTrainingKernelsRegistered();
  unregisterWasmTrainingKernels(); // restores the configs it replaced, so the capture is stock
  const { priority } = captureStock();
  if (tf.findBackendFactory("wasm") != null) tf.removeBackend("wasm"); // disposes the old instance
  setWasmKernels(kernels);
  tf.registerBackend("wasm", factory, priority);
  if (training) registerWasmTrainingKernels();
}

/** Options for {@link startWasmThreads}. */
export interface WasmThreadsOptions {
  /** Give up start-up after this many ms (default {@link DEFAULT_WASM_THREADS_TIMEOUT_MS}). */
  timeoutMs?: number;
  /**
   * Parent of the folder for the generated files (default {@link wasmThreadsCacheRoot}); the
   * folder is this isolate's own and is removed when it unloads.
   */
  cacheRoot?: string;
}

/** What {@link startWasmThreads} did. */
export interface WasmThreadsResult {
  /** True when the threaded backend is now the registered and active `wasm`. */
  ok: boolean;
  /** XNNPACK threads of the threaded backend when `ok` (its `getThreadsCount()`), else 1. */
  threads: number;
  /** One line per step worth recording (start time, reuse, or why it failed). */
  notes: string[];
}

/**
 * Makes a `threads`-thread wasm backend the registered and active `wasm`, replacing the stock one
 * (or an earlier threaded one with another count): its tensors are lost, so call this before
 * creating any. On failure (no write permission under `cacheRoot`, a changed bundle, start-up
 * past `timeoutMs`) nothing in tfjs's registries has changed; the attempt's workers are terminated
 * and `ok` is false, so the stock single-threaded `wasm` can be used in the same process.
 * Our training kernels (./wasm_kernels.ts), when registered, stay registered on top.
 *
 * @param threads XNNPACK threads, an integer in [2, {@link MAX_WASM_THREADS}]
 * @param opts start-up timeout and parent folder of the generated files
 * @returns whether it worked, the threads really running, and notes
 */
export async function startWasmThreads(
  threads: number,
  opts: WasmThreadsOptions = {},
): Promise<WasmThreadsResult> {
  requireInt("threads", threads, 2, MAX_WASM_THREADS);
  const timeoutMs = requireInt(
    "timeoutMs",
    opts.timeoutMs ?? DEFAULT_WASM_THREADS_TIMEOUT_MS,
    1,
    600_000,
  );
  const notes: string[] = [];
  if (active != null && active.threads === threads && tf.findBackendFactory("wasm") != null) {
    if (await tf.setBackend("wasm")) {
      notes.push(`wasm threads: reusing the running ${threads}-thread backend`);
      return { ok: true, threads: active.threaded.exports.getThreadsCount(), notes };
    }
  }
  let t: Threaded;
  try {
    loaded ??= loadThreaded(opts.cacheRoot ?? wasmThreadsCacheRoot());
    t = await loaded;
  } catch (e) {
    loaded = null;
    notes.push(`wasm threads: could not prepare the patched backend: ${errLine(e)}`);
    return { ok: false, threads: 1, notes };
  }
  const t0 = performance.now();
  let backend: tf.KernelBackend;
  try {
    backend = await startBackend(t, threads, timeoutMs);
  } catch (e) {
    notes.push(
      `wasm threads: ${threads}-thread start-up failed (${
        errLine(e)
      }); its workers were terminated`,
    );
    return { ok: false, threads: 1, notes };
  }
  let first: tf.KernelBackend | null = backend;
  // The engine calls this once now; again only after someone removes the backend, and then it
  // starts a fresh instance under the same timeout.
  const factory = () => {
    const b = first;
    first = null;
    return b ?? startBackend(t, threads, timeoutMs);
  };
  swapWasm(factory, t.hooks.kernels);
  active = { threads, threaded: t };
  if (!(await tf.setBackend("wasm"))) {
    useStockWasm();
    notes.push("wasm threads: tf.setBackend('wasm') failed on the threaded backend");
    return { ok: false, threads: 1, notes };
  }
  const running = t.exports.getThreadsCount();
  notes.push(
    `wasm threads: patched tfjs-backend-wasm ${WASM_THREADS_PACKAGE_VERSION} (${t.dir}) started ` +
      `${running} thread(s) in ${(performance.now() - t0).toFixed(0)} ms`,
  );
  return { ok: true, threads: running, notes };
}

/**
 * Puts the stock single-threaded `wasm` registration back if the threaded one is in place
 * (disposing it and terminating its workers); does not activate it. Idempotent.
 *
 * @returns true when something was swapped back
 */
export function useStockWasm(): boolean {
  if (active == null || stock == null) return false;
  active = null;
  swapWasm(stock.factory, stock.kernels);
  return true;
}

/**
 * XNNPACK threads of the registered `wasm` backend, from the bundle copy that made it (the stock
 * package's own `getThreadsCount()` knows only the stock copy). Throws if it was never started.
 */
export function wasmThreadsCount(): number {
  return active != null ? active.threaded.exports.getThreadsCount() : stockGetThreadsCount();
}

/** How many threads were asked for, and by whom. */
export interface ThreadsRequest {
  /** An integer in [1, {@link MAX_WASM_THREADS}]. */
  threads: number;
  /** "option" (the caller's argument), "env" (`AMSS_WASM_THREADS`) or "default" (1). */
  source: "option" | "env" | "default";
}

/**
 * The wasm thread count to use: `option` when given, else the environment variable
 * `AMSS_WASM_THREADS` (when readable and non-empty), else 1.
 *
 * @param option the caller's `threads`, if any
 * @throws AmssArgumentError when either is not an integer in [1, {@link MAX_WASM_THREADS}]
 */
export function resolveWasmThreads(option?: number): ThreadsRequest {
  if (option !== undefined) {
    return { threads: requireInt("threads", option, 1, MAX_WASM_THREADS), source: "option" };
  }
  let env: string | undefined;
  try {
    env = Deno.env.get("AMSS_WASM_THREADS");
  } catch { /* no env permission: unset */ }
  if (env === undefined || env.trim() === "") return { threads: 1, source: "default" };
  const n = /^\s*\d+\s*$/.test(env) ? Number(env) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new AmssArgumentError(
      `AMSS_WASM_THREADS must be an integer in [1, ${MAX_WASM_THREADS}], got ${
        JSON.stringify(env)
      }`,
    );
  }
  return { threads: n, source: "env" };
}

function errLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}
