/**
 * The part of the tfjs `wasm` backend that the TypeScript kernels in this folder use to allocate
 * outputs and to read and write tensors in place on the wasm heap (max-pool gradient, batch norm,
 * fused SGD step).
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's backend a TypeScript kernel needs: outputs and heap views. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}
