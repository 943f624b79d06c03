/**
 * Backend selection for training: `auto`, `wasm`, `cpu`, `webgpu` or `tensorflow`, with a record of
 * what was chosen and why. Facts about tfjs 4.22 under Deno that it relies on:
 *
 * - `wasm` (XNNPACK) is the CPU training backend once our kernels are registered
 *   (./wasm_kernels.ts); multi-threading is off under Deno (tfjs treats Deno as Node), so 1 thread
 *   unless `threads` (or `AMSS_WASM_THREADS`) asks for more: then a patched copy of the backend
 *   bundle starts them (./wasm_threads.ts), with a start-up timeout and a fallback to 1 thread.
 * - `cpu` (pure JS) is slow (a naive conv weight-gradient loop): tests and references only.
 * - `webgpu` is built into Deno; on a machine without a GPU it finds a software adapter (Mesa
 *   llvmpipe or lavapipe) that is far slower than wasm, so `auto` takes it only on a real GPU.
 *   `dataSync()` fails under Deno: use `await data()`.
 * - `tensorflow` (`@tensorflow/tfjs-node-gpu` / `-node`) cannot be installed where Google storage is
 *   unreachable (its installer downloads libtensorflow); it is loaded by dynamic import only when
 *   asked for or when `auto` finds it installed.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { makeOwnTempDirSync, silenceTfjsNodeBanner } from "./hygiene.ts";
import { registerTrainingKernels, registerWasmTrainingKernels } from "./wasm_kernels.ts";
import {
  DEFAULT_WASM_THREADS_TIMEOUT_MS,
  MAX_WASM_THREADS,
  resolveWasmThreads,
  startWasmThreads,
  useStockWasm,
  wasmThreadsCount,
} from "./wasm_threads.ts";
import { requireInt } from "../validate.ts";

/** What the user may ask for (`--backend`). */
export type BackendChoice = "auto" | "wasm" | "cpu" | "webgpu" | "tensorflow";

/** The backends `--backend` accepts, in the order `--help` lists them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = [
  "auto",
  "wasm",
  "cpu",
  "webgpu",
  "tensorflow",
];

/** What {@link initBackend} set up. */
export interface BackendInfo {
  /** The tfjs backend now active: "wasm", "cpu", "webgpu" or "tensorflow". */
  name: string;
  /** What was asked for. */
  requested: BackendChoice;
  /** For `tensorflow`: the npm package that provides it (tfjs-node-gpu or tfjs-node). */
  package?: string;
  /**
   * For `webgpu`: the adapter's description (vendor, device, architecture as Deno reports them),
   * followed by "(fallback/software adapter)" when it is one.
   */
  adapter?: string;
  /** For `webgpu`: true when the adapter is a fallback or software rasteriser (llvmpipe, ...). */
  softwareAdapter?: boolean;
  /**
   * For `wasm`: XNNPACK threads really running (the active bundle's `getThreadsCount()`): 1 by
   * default, more when asked for and the threaded start-up worked.
   */
  threads?: number;
  /** Why this backend, what was tried and skipped, in order; one line each. */
  notes: string[];
}

/** Options for {@link initBackend}. */
export interface InitBackendOptions {
  /**
   * When an explicitly requested `webgpu` or `tensorflow` is unavailable: "stop" (default) throws
   * {@link BackendUnavailableError}; "auto" notes why and continues as `auto` would (without it).
   */
  fallback?: "stop" | "auto";
  /**
   * Silence tfjs's "Hi, looks like you are running TensorFlow.js in Node.js..." banner, printed by
   * the cpu backend on first use because tfjs takes Deno for Node (default true; see
   * ./hygiene.ts). Only that banner: other tfjs warnings stay on. Once silenced, it stays off in
   * this isolate.
   */
  quiet?: boolean;
  /**
   * For `wasm` (also when `auto` ends on wasm): XNNPACK threads, an integer in [1, 8]. Default: the
   * environment variable `AMSS_WASM_THREADS`, else 1 (the stock single-threaded backend). More
   * than 1 starts a patched copy of the backend bundle (./wasm_threads.ts; it writes a few files
   * under `$TMPDIR` or /tmp, removed at exit, so needs write permission there); if that fails or
   * times out, the stock backend runs with 1 thread and `notes` says why. Switching the thread
   * count replaces the wasm backend: tensors already on it are lost.
   */
  threads?: number;
  /** For `threads` > 1: start-up timeout in ms (default 20,000). */
  threadsTimeoutMs?: number;
}

/** A requested backend cannot be used here; `message` is one line that says why and what to do. */
export class BackendUnavailableError extends Error {
  /** The backend that was asked for. */
  readonly backend: BackendChoice;
  /** An error for `backend`, with a one-line `message`. */
  constructor(backend: BackendChoice, message: string) {
    super(message);
    this.name = "BackendUnavailableError";
    this.backend = backend;
  }
}

const TFJS_NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/** The one-line explanation for a missing tfjs-node, with how to install it. */
export const TENSORFLOW_INSTALL_HINT =
  "backend 'tensorflow' needs @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node (CPU), " +
  "which are not installed; their installer downloads libtensorflow from Google storage " +
  "(storage.googleapis.com) at install time, so install them on a machine that reaches it: in the " +
  "project folder run `deno add npm:@tensorflow/tfjs-node-gpu@4.22.0 && deno install " +
  "--allow-scripts=npm:@tensorflow/tfjs-node-gpu` (or `npm install @tensorflow/tfjs-node-gpu@4.22.0`; " +
  "use tfjs-node for CPU only)";

/** Project folders where an installed npm package may sit (cwd and this repository's root). */
function projectRoots(): string[] {
  const roots = new Set<string>();
  try {
    roots.add(Deno.cwd());
  } catch { /* no read permission */ }
  if (import.meta.url.startsWith("file:")) {
    roots.add(decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, ""));
  }
  return [...roots];
}

/**
 * Whether an npm package is installed next to the project, without importing it: Deno resolves a
 * dynamic `npm:` import of an uncached package by fetching it from the registry at run time (and
 * for tfjs-node that fetch cannot succeed: no native addon without its install script), so we look
 * first. Checks Deno's `node_modules/.deno` layout and the plain npm layout.
 */
function npmPackageInstalled(name: string): boolean {
  const flat = name.replace("/", "+");
  for (const root of projectRoots()) {
    try {
      if (Deno.statSync(`${root}/node_modules/${name}/package.json`).isFile) return true;
    } catch { /* absent or unreadable */ }
    try {
      for (const e of Deno.readDirSync(`${root}/node_modules/.deno`)) {
        if (e.isDirectory && e.name.startsWith(`${flat}@`)) return true;
      }
    } catch { /* absent or unreadable */ }
  }
  return false;
}

async function tryTensorflow(notes: string[]): Promise<string | null> {
  for (const pkg of TFJS_NODE_PACKAGES) {
    if (!npmPackageInstalled(pkg)) {
      notes.push(`${pkg}: not installed`);
      continue;
    }
    try {
      // Computed specifier: tfjs-node is optional and not in the import map, so neither
      // `deno check` nor a package consumer's module graph may try to resolve it. `deno publish`
      // therefore reports this import as unanalysable: it stays a plain `npm:` specifier, which
      // resolves at run time without an import map.
      const specifier = "npm:" + pkg;
      await import(specifier);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const addon = /tfjs_binding|native addon/i.test(msg);
      notes.push(
        addon
          ? `${pkg}: installed without its native addon (its install script, which downloads ` +
            `libtensorflow, did not run or failed); rerun \`deno install ` +
            `--allow-scripts=npm:${pkg}\` where Google storage is reachable`
          : `${pkg}: import failed: ${msg.split("\n")[0]}`,
      );
      continue;
    }
    if (await tf.setBackend("tensorflow")) {
      notes.push(`${pkg}: loaded, backend 'tensorflow'`);
      return pkg;
    }
    notes.push(`${pkg}: imported but tf.setBackend('tensorflow') failed`);
  }
  return null;
}

/** Adapter probe: description and whether it is a fallback/software adapter. */
interface AdapterProbe {
  description: string;
  software: boolean;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/**
 * Mesa's drivers print "XDG_RUNTIME_DIR is invalid or not set" on every adapter request when the
 * variable is missing (a 0700 folder silences them). Give them a private temporary folder,
 * removed when this isolate unloads; the variable is unset then too (the environment is the
 * process's, and under `deno test` the next test module would otherwise inherit a folder that
 * no longer exists). Skipped silently without env/write permission.
 */
function ensureXdgRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = makeOwnTempDirSync({
      prefix: "xdg-runtime-",
      onRemove: () => {
        if (Deno.env.get("XDG_RUNTIME_DIR") === dir) Deno.env.delete("XDG_RUNTIME_DIR");
      },
    });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch { /* no permission: the warning is harmless */ }
}

async function probeAdapter(): Promise<AdapterProbe | string> {
  ensureXdgRuntimeDir();
  const gpu = (globalThis.navigator as unknown as { gpu?: GPU } | undefined)?.gpu;
  if (gpu == null) return "navigator.gpu is missing (this runtime has no WebGPU)";
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return `navigator.gpu.requestAdapter() failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (adapter == null) {
    return "navigator.gpu.requestAdapter() found no adapter (no GPU driver; on Linux install " +
      "mesa-vulkan-drivers and libvulkan1, and check DENO_WEBGPU_BACKEND is unset or vulkan|gl)";
  }
  const info = (adapter as unknown as { info?: Record<string, unknown> }).info ?? {};
  // Deno reports PCI/Vulkan ids as decimal strings; print them in hex as drivers do (0x10de...).
  const hex = (v: unknown) => (/^\d+$/.test(String(v)) ? `0x${Number(v).toString(16)}` : String(v));
  const parts = [
    info.description,
    info.vendor && `vendor ${hex(info.vendor)}`,
    info.device &&
    info.device !== "0" && `device ${hex(info.device)}`,
    info.architecture,
  ]
    .filter((p) => typeof p === "string" && p !== "") as string[];
  const description = parts.length > 0 ? parts.join(", ") : "unnamed adapter";
  const fallbackFlag = info.isFallbackAdapter ??
    (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const software = fallbackFlag === true || SOFTWARE_ADAPTER.test(description);
  return { description, software };
}

async function tryWebgpu(
  notes: string[],
  requireReal: boolean,
): Promise<AdapterProbe | null> {
  const probe = await probeAdapter();
  if (typeof probe === "string") {
    notes.push(`webgpu: ${probe}`);
    return null;
  }
  const label = `${probe.description}${probe.software ? " (fallback/software adapter)" : ""}`;
  if (requireReal && probe.software) {
    notes.push(`webgpu: skipped, adapter is ${label}: about 15x slower than wasm here`);
    return null;
  }
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) {
      notes.push(`webgpu: adapter ${label}, but tf.setBackend('webgpu') failed`);
      return null;
    }
    // One op end to end, read back asynchronously (dataSync fails under Deno).
    const t = tf.add(tf.scalar(1), tf.scalar(2));
    const v = (await t.data())[0];
    t.dispose();
    if (v !== 3) throw new Error(`self-check gave 1 + 2 = ${v}`);
    // tfjs-webgpu's own conv gradients are per-weight / naive loops: ours run on its Conv2D.
    registerTrainingKernels("webgpu");
  } catch (e) {
    notes.push(
      `webgpu: adapter ${label}, but the backend failed: ${
        e instanceof Error ? e.message.split("\n")[0] : String(e)
      }`,
    );
    return null;
  }
  notes.push(
    `webgpu: adapter ${label}; our Conv2DBackpropFilter and Conv2DBackpropInput kernels registered`,
  );
  return probe;
}

/** How `wasm` should be started: thread count (option or env, resolved lazily) and timeout. */
interface WasmPlan {
  threads?: number;
  timeoutMs: number;
}

async function useWasm(info: BackendInfo, plan: WasmPlan): Promise<BackendInfo> {
  const want = resolveWasmThreads(plan.threads);
  let how = "the stock bundle: tfjs turns multi-threading off under Deno";
  if (want.threads > 1) {
    const from = want.source === "env" ? " (AMSS_WASM_THREADS)" : "";
    const r = await startWasmThreads(want.threads, { timeoutMs: plan.timeoutMs });
    info.notes.push(...r.notes);
    if (r.ok) {
      how = `a patched bundle started for ${want.threads} threads${from}`;
    } else {
      info.notes.push(`wasm: ${want.threads} threads${from} unavailable, falling back to 1 thread`);
      how = `fallback from ${want.threads} threads`;
    }
  } else {
    useStockWasm(); // a threaded backend from an earlier call goes back to the stock one
  }
  if (!(await tf.setBackend("wasm"))) {
    throw new BackendUnavailableError(info.requested, "tf.setBackend('wasm') failed");
  }
  registerWasmTrainingKernels();
  info.name = "wasm";
  info.threads = wasmThreadsCount();
  info.notes.push(
    `wasm: XNNPACK, ${info.threads} thread(s) (${how}); our Conv2DBackpropFilter, ` +
      "Conv2DBackpropInput, MaxPoolGrad, batch-norm, zero-copy Identity and fused SGD (+ AMSS mask) " +
      "kernels registered",
  );
  return info;
}

async function useAuto(
  info: BackendInfo,
  skip: Set<string>,
  plan: WasmPlan,
): Promise<BackendInfo> {
  if (!skip.has("tensorflow")) {
    // tfjs-node-gpu first; plain tfjs-node (native, multi-threaded CPU) still beats 1-thread wasm.
    const pkg = await tryTensorflow(info.notes);
    if (pkg != null) {
      info.name = "tensorflow";
      info.package = pkg;
      return info;
    }
  }
  if (!skip.has("webgpu")) {
    const probe = await tryWebgpu(info.notes, true);
    if (probe != null) {
      info.name = "webgpu";
      info.adapter = probe.description;
      info.softwareAdapter = false;
      return info;
    }
  }
  return await useWasm(info, plan);
}

/**
 * Selects and initialises a tfjs backend for training, and says what it did.
 *
 * - `wasm`: XNNPACK with our training kernels registered (see ./wasm_kernels.ts); 1 thread, or
 *   `opts.threads` / `AMSS_WASM_THREADS` threads via ./wasm_threads.ts, falling back to 1 thread
 *   (noted) when they cannot start within `opts.threadsTimeoutMs`.
 * - `cpu`: the pure-JS backend (slow; for tests and references).
 * - `webgpu`: checks `navigator.gpu.requestAdapter()` first and records the adapter, then loads
 *   `@tensorflow/tfjs-backend-webgpu` by dynamic import and runs one op as a self-check. A software
 *   adapter is accepted when asked for explicitly (and flagged in `softwareAdapter`).
 * - `tensorflow`: `@tensorflow/tfjs-node-gpu`, else `@tensorflow/tfjs-node`, by dynamic import,
 *   only if installed in the project's node_modules; otherwise {@link TENSORFLOW_INSTALL_HINT}.
 * - `auto`: tensorflow (-gpu, then -node) if installed, else webgpu on a real (non-fallback)
 *   adapter, else wasm.
 *
 * Never calls `dataSync` (webgpu under Deno cannot). Unavailable explicit choices throw
 * {@link BackendUnavailableError} with a one-line message, or with `fallback: "auto"` are noted
 * and replaced by the `auto` choice.
 *
 * @param choice the requested backend
 * @param opts fallback policy, banner silencing, wasm threads
 * @throws AmssArgumentError for a `threads` or `threadsTimeoutMs` that is not a valid integer,
 *   and for an invalid `AMSS_WASM_THREADS` when wasm is used
 * @returns the active backend, adapter/threads where relevant, and notes on how it was chosen
 */
export async function initBackend(
  choice: BackendChoice,
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new BackendUnavailableError(
      choice,
      `unknown backend '${String(choice)}'; expected one of ${BACKEND_CHOICES.join(", ")}`,
    );
  }
  const fallback = opts.fallback ?? "stop";
  if (opts.threads !== undefined) requireInt("threads", opts.threads, 1, MAX_WASM_THREADS);
  const plan: WasmPlan = {
    threads: opts.threads,
    timeoutMs: requireInt(
      "threadsTimeoutMs",
      opts.threadsTimeoutMs ?? DEFAULT_WASM_THREADS_TIMEOUT_MS,
      1,
      600_000,
    ),
  };
  // Wraps the cpu backend's factory, so a cpu backend created later (lazily) is quiet too.
  if (opts.quiet ?? true) silenceTfjsNodeBanner();
  const info: BackendInfo = { name: "", requested: choice, notes: [] };
  const giveUp = async (why: string): Promise<BackendInfo> => {
    if (fallback === "stop") throw new BackendUnavailableError(choice, why);
    info.notes.push(why, `falling back (fallback: "auto")`);
    return await useAuto(info, new Set([choice]), plan);
  };
  let result: BackendInfo;
  switch (choice) {
    case "cpu":
      if (!(await tf.setBackend("cpu"))) throw new BackendUnavailableError(choice, "cpu failed");
      info.name = "cpu";
      info.notes.push("cpu: pure-JS backend (slow: for tests and references)");
      result = info;
      break;
    case "wasm":
      result = await useWasm(info, plan);
      break;
    case "webgpu": {
      const probe = await tryWebgpu(info.notes, false);
      if (probe == null) {
        result = await giveUp(`backend 'webgpu' unavailable: ${info.notes.at(-1) ?? "unknown"}`);
      } else {
        info.name = "webgpu";
        info.adapter = probe.description;
        info.softwareAdapter = probe.software;
        result = info;
      }
      break;
    }
    case "tensorflow": {
      const pkg = await tryTensorflow(info.notes);
      if (pkg == null) {
        // A package that is present but failed says more than the generic install line.
        const failed = info.notes.find((n) => !n.endsWith(": not installed"));
        result = await giveUp(
          failed == null ? TENSORFLOW_INSTALL_HINT : `backend 'tensorflow' unavailable: ${failed}`,
        );
      } else {
        info.name = "tensorflow";
        info.package = pkg;
        result = info;
      }
      break;
    }
    default:
      result = await useAuto(info, new Set(), plan);
  }
  return result;
}

/** One line for logs and run records, e.g. "wasm (1 thread)" or "webgpu on llvmpipe (...)". */
export function describeBackend(info: BackendInfo): string {
  if (info.name === "wasm") {
    return `wasm (${info.threads ?? 1} thread${info.threads === 1 ? "" : "s"})`;
  }
  if (info.name === "webgpu") {
    return `webgpu on ${info.adapter ?? "unknown adapter"}${
      info.softwareAdapter ? " (fallback/software adapter)" : ""
    }`;
  }
  if (info.name === "tensorflow") return `tensorflow (${info.package ?? "tfjs-node"})`;
  return info.name;
}
