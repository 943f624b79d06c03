/**
 * A second tfjs instance for benchmarks/step_speed.ts: this worker has its own wasm backend, so
 * the bench can time tfjs at another thread count in the same run, interleaved with the main
 * thread's 1-thread tfjs and PyTorch. Messages: {init: {threads, spec, batch, classes}} answers
 * {ready, threads}; {run: n} answers {ms} (median of n steps); {quit: true} closes.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { describeBackend, initBackend } from "../src/backend/select.ts";
import type { ModelSpec } from "../src/models/build.ts";
import { makeStepper, median } from "./_stepper.ts";

let stepper: ReturnType<typeof makeStepper> | null = null;

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  try {
    if (msg.init) {
      const { threads, spec, batch, classes } = msg.init as {
        threads: number;
        spec: ModelSpec;
        batch: number;
        classes: number;
      };
      const info = await initBackend("wasm", { threads });
      stepper = makeStepper(spec, "joint", 1, batch, classes);
      await stepper.run();
      await stepper.run();
      self.postMessage({ ready: describeBackend(info), threads: info.threads ?? 1 });
    } else if (msg.run) {
      if (!stepper) throw new Error("speed worker: run before init");
      const ts: number[] = [];
      for (let i = 0; i < msg.run; i++) ts.push(await stepper.run());
      self.postMessage({ ms: median(ts) });
    } else if (msg.quit) {
      stepper?.dispose();
      self.close();
    }
  } catch (err) {
    self.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};
