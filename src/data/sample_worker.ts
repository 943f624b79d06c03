/**
 * Decode worker of {@link WorkerPool} (./loaders.ts): rebuilds the sample-loader registry by
 * importing every dataset module, learns each split once, then answers load requests with the
 * sample's arrays (buffers transferred, not copied).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import "./disk_datasets.ts";
import type { LazySplit } from "./dataset.ts";
import { loadSample } from "./loaders.ts";

const splits = new Map<number, LazySplit>();

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  if (msg.kind === "split") {
    splits.set(msg.sid, { n: msg.split.items.length, labels: new Int32Array(0), ...msg.split });
    return;
  }
  const { id, sid, index, augmentSeed } = msg;
  try {
    const split = splits.get(sid);
    if (!split) throw new Error(`worker: unknown split ${sid}`);
    const sample = await loadSample(split, index, augmentSeed);
    self.postMessage({ id, sample }, [
      ...new Set(Object.values(sample).map((a) => a.buffer as ArrayBuffer)),
    ]);
  } catch (err) {
    const error = err instanceof Error
      ? { name: err.name, message: err.message }
      : { name: "Error", message: String(err) };
    self.postMessage({ id, error });
  }
};
