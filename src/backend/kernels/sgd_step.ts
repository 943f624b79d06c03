/**
 * The fused SGD step kernel for the tfjs `wasm` backend, a TypeScript loop on the wasm heap
 * (registered by ../wasm_kernels.ts under `SGD_STEP_KERNEL` from src/transform.ts, whose `sgd`
 * transform dispatches it). It computes the same float32 arithmetic as the chain of tf ops it
 * replaces, so its results are bit-identical to that chain's.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import type { WasmHeapBackend } from "./wasm_heap.ts";

/**
 * `SGD_STEP_KERNEL` (src/transform.ts) for wasm: one pass over a variable computing, with every
 * operation rounded to float32 exactly as the unfused chain's tf ops round it (so results are
 * bit-identical), d = g + wd*p; b' = started ? mu*b + d : d; u = -lr * b'. Replaces about seven
 * tf ops (and their passes and dispatches) per variable and step. With input `s` and attr `view` =
 * [pre, units, post, off] (a deferred AMSS mask, src/unit_scale.ts UnitScale), g is first
 * multiplied by s[off + u] on unit u of its [pre, units, post] view, as the tf.mul it replaces
 * rounds it.
 */
export const sgdStepKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmHeapBackend;
  const a = attrs as unknown as {
    lr: number;
    mu: number;
    wd: number;
    started: boolean;
    view?: number[];
  };
  const g = inputs.g!, p = inputs.p, buf = inputs.b, s = inputs.s;
  const f = Math.fround;
  const wd = f(a.wd), mu = f(a.mu), r = f(-a.lr); // the chain's scalars are float32 tensors
  if (wd !== 0 && p == null) throw new Error("AmssSgdStep: weight decay needs input p");
  if (mu !== 0 && buf == null) throw new Error("AmssSgdStep: momentum needs input b");
  const n = g.shape.reduce((x, d) => x * d, 1);
  // the scale's view of g (unused without a scale)
  const [pre, units, post, off] = s == null ? [1, 1, n, 0] : a.view ?? [];
  if (s != null && (pre * units * post !== n || !(off >= 0 && off + units <= s.shape[0]))) {
    throw new Error(`AmssSgdStep: view [${a.view}] does not fit g (${n}) and s (${s.shape})`);
  }
  const outs = [b.makeOutput([...g.shape], "float32")];
  if (mu !== 0) outs.push(b.makeOutput([...g.shape], "float32"));
  // views after the allocations: growing the heap would detach earlier ones
  const u = b.typedArrayFromHeap(outs[0]), gv = b.typedArrayFromHeap(g);
  const pv = wd !== 0 ? b.typedArrayFromHeap(p!) : gv;
  const bv = mu !== 0 ? b.typedArrayFromHeap(buf!) : gv;
  const bo = mu !== 0 ? b.typedArrayFromHeap(outs[1]) : u;
  const started = a.started;
  // Training's usual case (weight decay, momentum, after the first step) has loops of its own with
  // no branches and no scale through a closure: in a loop this short, a per-element branch or
  // indirect call is a large part of the cost.
  const common = wd !== 0 && mu !== 0 && started;
  if (s != null) {
    const sv = b.typedArrayFromHeap(s);
    let i = 0;
    if (common && post === 1) {
      // (conv kernels get two loop levels: an inner loop of length 1 per element would cost more
      // than the arithmetic)
      for (let q = 0; q < pre; q++) {
        for (let c = off, end = off + units; c < end; c++, i++) {
          const d = f(f(bv[i] * mu) + f(f(gv[i] * sv[c]) + f(pv[i] * wd)));
          bo[i] = d;
          u[i] = f(d * r);
        }
      }
      return outs;
    }
    // otherwise the scaled gradient goes into u first and the loops below read it from there
    for (let q = 0; q < pre; q++) {
      for (let c = off, end = off + units; c < end; c++) {
        const m = sv[c];
        for (let k = 0; k < post; k++, i++) u[i] = gv[i] * m;
      }
    }
  }
  const src = s == null ? gv : u;
  if (common) {
    for (let i = 0; i < n; i++) {
      const d = f(f(bv[i] * mu) + f(src[i] + f(pv[i] * wd)));
      bo[i] = d;
      u[i] = f(d * r);
    }
    return outs;
  }
  for (let i = 0; i < n; i++) {
    let d = src[i];
    if (wd !== 0) d = f(d + f(pv[i] * wd));
    if (mu !== 0) {
      if (started) d = f(f(bv[i] * mu) + d);
      bo[i] = d;
    }
    u[i] = f(d * r);
  }
  return outs;
};
