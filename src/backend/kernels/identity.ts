/**
 * `Identity` for the tfjs `wasm` backend without a copy (registered by ../wasm_kernels.ts): tfjs
 * clones every tensor saved for a gradient, and sharing the heap block makes that clone free.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import { UnsupportedConvError } from "./conv_grad.ts";

/**
 * `Identity` for wasm without a copy: the output shares the input's heap block, with one more
 * reference on it, as wasm's own `Reshape` and the cpu backend's `Identity` do. tfjs-core clones
 * (Identity) every tensor a kernel saves for its gradient, and the stock wasm `Identity` copies
 * the whole block each time, for every saved tensor of every step. Safe because no wasm
 * kernel writes into its inputs (variables are reassigned, not written in place).
 */
export const identityKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x!;
  if (x.dtype === "string") {
    throw new UnsupportedConvError("Identity (ours, wasm): string tensors are not supported");
  }
  (backend as tf.KernelBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};
