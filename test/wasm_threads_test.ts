/**
 * The multi-threaded wasm backend (src/backend/wasm_threads.ts): the bundle patch (its outputs,
 * and a loud failure on a changed bundle), the thread-count option and `AMSS_WASM_THREADS`, a
 * 2-thread conv2d forward and gradient against the `cpu` backend, `BackendInfo.threads` against the
 * running count, and the fallback to a working 1-thread backend in the same process.
 *
 * The threaded tests write the patched bundle under `$TMPDIR` (else /tmp), so they need
 * `--allow-write` there (`deno task test` grants /tmp); without it they are skipped with a message.
 * Each test file runs in its own isolate, and these tests put the stock wasm backend back (which
 * terminates the workers) before they end.
 *
 * Relative error: max_i |a_i - b_i| / max_i |b_i|, as in wasm_kernels_test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertEquals,
  assertGreater,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { initBackend } from "../src/backend/select.ts";
import { wasmTrainingKernelsRegistered } from "../src/backend/wasm_kernels.ts";
import {
  patchWasmBundle,
  resolveWasmThreads,
  wasmThreadsCacheRoot,
  wasmThreadsCount,
  WasmThreadsPatchError,
} from "../src/backend/wasm_threads.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { randn, relErr } from "./_helpers.ts";

const bundlePath = decodeURIComponent(
  new URL(import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname,
);
const distDir = bundlePath.replace(/\/[^/]*$/, "");

const cacheRoot = wasmThreadsCacheRoot();
const canWrite = Deno.permissions.querySync({ name: "write", path: cacheRoot }).state === "granted";
if (!canWrite) {
  console.warn(
    `wasm_threads_test: skipping the threaded-backend tests: they write the patched bundle ` +
      `under ${cacheRoot} and need --allow-write=${cacheRoot}`,
  );
}

type Shape4 = [number, number, number, number];
interface ConvCase {
  x: Shape4;
  f: Shape4;
  stride: number;
  pad: "same" | "valid";
}
// Big enough for XNNPACK to split the work across threads; strides 1 and 2, 3x3 and 1x1.
const CASES: ConvCase[] = [
  { x: [4, 16, 16, 8], f: [3, 3, 8, 16], stride: 1, pad: "same" },
  { x: [2, 17, 17, 8], f: [3, 3, 8, 8], stride: 2, pad: "same" },
  { x: [2, 16, 16, 16], f: [1, 1, 16, 32], stride: 2, pad: "valid" },
];

/** Forward output, dL/dx and dL/dW of L = sum(conv2d(x, f) * r) on the active backend. */
async function convAndGrads(c: ConvCase, seed: number): Promise<Float32Array[]> {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(randn(size(c.x), seed), c.x);
  const f = tf.tensor4d(randn(size(c.f), seed + 1), c.f);
  const y = tf.conv2d(x, f, c.stride, c.pad);
  const r = tf.tensor(randn(y.size, seed + 2), y.shape);
  const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r))
  )([x, f]);
  const out = [await y.data(), await dx.data(), await df.data()] as Float32Array[];
  tf.dispose([x, f, y, r, dx, df]);
  return out;
}

async function cpuReference(): Promise<Float32Array[][]> {
  await initBackend("cpu");
  const ref: Float32Array[][] = [];
  for (const [i, c] of CASES.entries()) ref.push(await convAndGrads(c, 100 + 10 * i));
  return ref;
}

async function assertMatchesCpu(ref: Float32Array[][], label: string): Promise<void> {
  for (const [i, c] of CASES.entries()) {
    const got = await convAndGrads(c, 100 + 10 * i);
    for (const [j, what] of ["conv2d", "dL/dx", "dL/dW"].entries()) {
      const e = relErr(got[j], ref[i][j]);
      assert(e <= 1e-5, `${label}, ${what} of case ${i} (${JSON.stringify(c)}): relative ${e}`);
    }
  }
}

Deno.test("patchWasmBundle: every replacement applied once, helper files complete", () => {
  const files = patchWasmBundle(Deno.readTextFileSync(bundlePath), distDir, bundlePath);
  for (
    const hook of [
      "__amss.workerScriptPath",
      "__amss.mainScriptPath",
      "__amss.poolSize",
      "__amss.logicalCores",
      "__amss.newWorker(pthreadMainJs)",
      "__amss.registerBackend('wasm', ",
      "__amss.registerKernel(kernelConfig)",
      "__amss.init = init;",
    ]
  ) assertStringIncludes(files.module, hook);
  for (
    const gone of [
      "getAsync('WASM_HAS_MULTITHREAD_SUPPORT')",
      "commonjsGlobal.Worker = ",
      "worker.ref();",
      "var pthreadPoolSize = 8;",
      "sourceMappingURL",
    ]
  ) assert(!files.module.includes(gone), `module still contains ${gone}`);
  assert(files.module.startsWith("// Generated"), "module header");
  assert(files.module.includes("export default function (require, module, exports,"));
  assertStringIncludes(files.worker, "__amssAssign(global,{");
  assert(files.worker.startsWith('"use strict";function __amssAssign('), "worker header");
  // The stock locateFile escapes real newlines; the worker script must have none left.
  assert(!files.worker.includes("\n"), "raw newline in the worker script");
  assertStringIncludes(files.main, `var __dirname = ${JSON.stringify(distDir)};`);
  assertStringIncludes(files.main, "var WasmBackendModuleThreadedSimd = (function () {");
  // The workers' glue is the patched factory: it reports our pool size, not 8.
  assertStringIncludes(files.main, "var pthreadPoolSize = __amss.poolSize;");
});

Deno.test("patchWasmBundle: a missing or doubled pattern stops with the file and pattern named", () => {
  const src = Deno.readTextFileSync(bundlePath);
  const missing = src.replace("var pthreadPoolSize = 8;", "var pthreadPoolSize = 16;");
  const e1 = assertThrows(
    () => patchWasmBundle(missing, distDir, "/x/tf-backend-wasm.node.js"),
    WasmThreadsPatchError,
    "found 0",
  );
  assertStringIncludes(e1.message, "/x/tf-backend-wasm.node.js");
  assertStringIncludes(e1.message, "var pthreadPoolSize = 8;");
  assertStringIncludes(e1.message, "@4.22.0");
  const doubled = src + "\nworker.ref();\n";
  assertThrows(() => patchWasmBundle(doubled, distDir), WasmThreadsPatchError, "found 2");
  const noWorker = src.replace("var wasmWorkerContents = ", "var wasmWorkerSource = ");
  assertThrows(
    () => patchWasmBundle(noWorker, distDir),
    WasmThreadsPatchError,
    "var wasmWorkerContents",
  );
  const workerChanged = src.replace("Object.assign(global,{", "Object.assign(globalThis,{");
  assertThrows(
    () => patchWasmBundle(workerChanged, distDir),
    WasmThreadsPatchError,
    "(wasmWorkerContents)",
  );
});

Deno.test("resolveWasmThreads and initBackend: option, AMSS_WASM_THREADS, bad values", async () => {
  const saved = Deno.env.get("AMSS_WASM_THREADS");
  try {
    Deno.env.delete("AMSS_WASM_THREADS");
    assertEquals(resolveWasmThreads(), { threads: 1, source: "default" });
    assertEquals(resolveWasmThreads(3), { threads: 3, source: "option" });
    for (const bad of [0, 9, 1.5, NaN]) {
      assertThrows(() => resolveWasmThreads(bad), AmssArgumentError, "threads must be");
    }
    Deno.env.set("AMSS_WASM_THREADS", " 2 ");
    assertEquals(resolveWasmThreads(), { threads: 2, source: "env" });
    assertEquals(resolveWasmThreads(1), { threads: 1, source: "option" }, "the option wins");
    Deno.env.set("AMSS_WASM_THREADS", "");
    assertEquals(resolveWasmThreads(), { threads: 1, source: "default" });
    for (const bad of ["two", "0", "9", "2.5", "-1"]) {
      Deno.env.set("AMSS_WASM_THREADS", bad);
      assertThrows(() => resolveWasmThreads(), AmssArgumentError, "AMSS_WASM_THREADS must be");
    }
    // An explicit bad option is refused whatever the backend; a bad env only when wasm is used.
    await assertRejects(() => initBackend("cpu", { threads: 0 }), AmssArgumentError, "threads");
    await assertRejects(
      () => initBackend("wasm", { threadsTimeoutMs: 0 }),
      AmssArgumentError,
      "threadsTimeoutMs",
    );
    Deno.env.set("AMSS_WASM_THREADS", "many");
    assertEquals((await initBackend("cpu")).name, "cpu");
    await assertRejects(() => initBackend("wasm"), AmssArgumentError, "AMSS_WASM_THREADS");
  } finally {
    if (saved === undefined) Deno.env.delete("AMSS_WASM_THREADS");
    else Deno.env.set("AMSS_WASM_THREADS", saved);
    await initBackend("cpu");
  }
});

Deno.test({
  name: "wasm with 2 threads: conv2d and its gradients equal cpu, threads reported as running",
  ignore: !canWrite,
  async fn() {
    const ref = await cpuReference();
    await initBackend("wasm"); // stock, with our training kernels
    const stockFactory = tf.findBackendFactory("wasm");
    const kernelCount = tf.getKernelsForBackend("wasm").length;
    await initBackend("cpu");
    try {
      const info = await initBackend("wasm", { threads: 2 });
      assertEquals(info.name, "wasm");
      assertEquals(tf.getBackend(), "wasm");
      // One wasm registration, replaced as a whole: another factory, the same kernel set (no
      // duplicates), and a backend class built on the same tfjs-core instance as ours.
      assert(tf.findBackendFactory("wasm") !== stockFactory, "threaded factory registered");
      assertEquals(tf.getKernelsForBackend("wasm").length, kernelCount);
      assert(tf.backend() instanceof tf.KernelBackend, "same tfjs-core KernelBackend class");
      assertEquals(info.threads, wasmThreadsCount(), "BackendInfo.threads vs getThreadsCount()");
      assertEquals(info.threads, 2, `notes: ${info.notes.join(" | ")}`);
      assert(info.notes.some((n) => n.includes("started 2 thread(s)")), info.notes.join(" | "));
      assert(wasmTrainingKernelsRegistered());
      await assertMatchesCpu(ref, "2 threads");
      // Asking again reuses the running backend.
      const again = await initBackend("wasm", { threads: 2 });
      assertEquals(again.threads, 2);
      assert(again.notes.some((n) => n.includes("reusing")), again.notes.join(" | "));
    } finally {
      // Back to the stock single-threaded backend: the threaded one is disposed, workers ended.
      const stock = await initBackend("wasm");
      assertEquals(stock.threads, 1);
      assertEquals(wasmThreadsCount(), 1);
      assert(tf.findBackendFactory("wasm") === stockFactory, "stock factory restored");
      assertEquals(tf.getKernelsForBackend("wasm").length, kernelCount);
      await assertMatchesCpu(ref, "stock 1 thread after 2 threads");
      await initBackend("cpu");
    }
  },
});

Deno.test({
  name: "wasm threads start-up past its timeout falls back to a working 1-thread backend",
  ignore: !canWrite,
  async fn() {
    const ref = await cpuReference();
    try {
      // 1 ms: the wasm binary alone takes longer to compile, so this start always times out.
      const info = await initBackend("wasm", { threads: 2, threadsTimeoutMs: 1 });
      assertEquals(info.name, "wasm");
      assertEquals(info.threads, 1);
      assertEquals(wasmThreadsCount(), 1);
      assert(info.notes.some((n) => n.includes("not ready after 1 ms")), info.notes.join(" | "));
      assert(
        info.notes.some((n) => n.includes("falling back to 1 thread")),
        info.notes.join(" | "),
      );
      await assertMatchesCpu(ref, "fallback 1 thread");
      // The failed attempt leaves nothing behind that stops a later one in the same process.
      const retry = await initBackend("wasm", { threads: 2 });
      assertEquals(retry.threads, 2, retry.notes.join(" | "));
      assertGreater(wasmThreadsCount(), 1);
      await assertMatchesCpu(ref, "2 threads after a failed start");
    } finally {
      assertEquals((await initBackend("wasm")).threads, 1);
      await initBackend("cpu");
    }
  },
});
