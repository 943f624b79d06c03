/**
 * `MaxPoolGrad` for the tfjs `wasm` backend as a TypeScript loop on the wasm heap (registered by
 * ../wasm_kernels.ts). The stock wasm kernel is a generic loop and settles ties differently from
 * the cpu backend; this one follows the cpu backend's rule.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type Pad, type RoundingMode, type Shape4, UnsupportedConvError } from "./conv_grad.ts";
import type { WasmHeapBackend } from "./wasm_heap.ts";

/**
 * `MaxPoolGrad` for wasm in TypeScript, reading and writing the backend's heap in place: per output
 * position, the first maximum of each channel's window (scanning rows, then columns, strict `>`,
 * from -Infinity: the cpu backend's rule, so a window of NaN or -Infinity passes no gradient)
 * receives that position's dy. NHWC with the channel innermost, so the window scan runs over
 * contiguous channel vectors (the stock wasm kernel is a generic loop, and a ResNet stem's pool
 * gradient is a large share of a step). It also settles ties as the cpu backend does, which the
 * stock one does not.
 */
export const maxPoolGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const dy = inputs.dy!, input = inputs.input!;
  if (input.dtype !== "float32" || dy.dtype !== "float32") {
    throw new UnsupportedConvError(`MaxPoolGrad (ours): float32 only, got ${input.dtype}`);
  }
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    a.filterSize as number | [number, number],
    a.strides as number | [number, number],
    1,
    a.pad as Pad,
    a.dimRoundingMode as RoundingMode | undefined,
  );
  const b = backend as unknown as WasmHeapBackend;
  const out = b.makeOutput([...input.shape], "float32");
  // views after the allocation: growing the heap would detach earlier ones
  const dx = b.typedArrayFromHeap(out), x = b.typedArrayFromHeap(input);
  const g = b.typedArrayFromHeap(dy);
  dx.fill(0);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } =
    info;
  const sh = info.strideHeight, sw = info.strideWidth;
  const kh = info.effectiveFilterHeight, kw = info.effectiveFilterWidth;
  for (let b0 = 0; b0 < n; b0++) {
    for (let p = 0; p < oh; p++) {
      const r0 = p * sh - info.padInfo.top;
      const rLo = Math.max(0, r0), rHi = Math.min(h, r0 + kh);
      for (let q = 0; q < ow; q++) {
        const c0 = q * sw - info.padInfo.left;
        const cLo = Math.max(0, c0), cHi = Math.min(w, c0 + kw);
        const o = ((b0 * oh + p) * ow + q) * c;
        for (let k = 0; k < c; k++) {
          let bv = -Infinity, bi = -1;
          for (let r = rLo; r < rHi; r++) {
            const rowBase = (b0 * h + r) * w;
            for (let col = cLo; col < cHi; col++) {
              const i = (rowBase + col) * c + k;
              const v = x[i];
              if (v > bv) {
                bv = v;
                bi = i;
              }
            }
          }
          if (bi >= 0) dx[bi] += g[o + k];
        }
      }
    }
  }
  return out;
};
