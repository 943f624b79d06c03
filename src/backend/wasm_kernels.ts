/**
 * Registration of this package's training kernels for the tfjs `wasm` and `webgpu` backends
 * ({@link registerTrainingKernels}, {@link unregisterTrainingKernels}, and the wasm-only aliases).
 * The kernels themselves live in ./kernels/:
 *
 * - conv_grad.ts: `Conv2DBackpropFilter` and `Conv2DBackpropInput` from forward convolutions
 *   (wasm has no `Conv2DBackpropFilter`; on webgpu both replace slow stock kernels);
 * - max_pool_grad.ts: `MaxPoolGrad` as a TypeScript loop on the wasm heap;
 * - batch_norm.ts: the closed-form batch norm `batchNormTrain` (every backend) and its two heap
 *   kernels for wasm;
 * - identity.ts: `Identity` sharing the heap block instead of copying it (wasm);
 * - sgd_step.ts: the fused SGD step (`SGD_STEP_KERNEL`, src/transform.ts) on the wasm heap.
 *
 * `tf.grad`, `tf.grads` and the optimizers stay unchanged: they reach our kernels through tfjs's
 * kernel registry. Each kernel is faster on wasm than what it replaces; the README's "Backends" and
 * "Training-step speed" paragraphs give the measured gains.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { SGD_STEP_KERNEL } from "../transform.ts";
import {
  BN_BACKWARD,
  BN_FORWARD,
  bnBackwardKernel,
  bnForwardKernel,
} from "./kernels/batch_norm.ts";
import { filterGradKernel, inputGradKernel } from "./kernels/conv_grad.ts";
import { identityKernel } from "./kernels/identity.ts";
import { maxPoolGradKernel } from "./kernels/max_pool_grad.ts";
import { sgdStepKernel } from "./kernels/sgd_step.ts";

/** Backends our replacement kernels can be registered for. */
export type TrainingKernelBackend = "wasm" | "webgpu";

/** Per backend: the stock configs we replaced (for restoring) and the options now registered. */
const registry = new Map<
  TrainingKernelBackend,
  { stock: Map<string, tf.KernelConfig | undefined>; key: string }
>();

function lookup(name: string, backendName: string): tf.KernelConfig | undefined {
  try {
    return tf.getKernel(name, backendName) ?? undefined;
  } catch {
    return undefined;
  }
}

function replace(
  stock: Map<string, tf.KernelConfig | undefined>,
  kernelName: string,
  backendName: TrainingKernelBackend,
  kernelFunc: tf.KernelFunc,
): void {
  if (!stock.has(kernelName)) stock.set(kernelName, lookup(kernelName, backendName));
  if (lookup(kernelName, backendName) != null) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/** Which kernels to register for a backend. */
export interface TrainingKernelOptions {
  /** Register our `Conv2DBackpropFilter` ({@link conv2dFilterGrad}); default true. */
  filterGrad?: boolean;
  /** Replace the stock `Conv2DBackpropInput` with ours (flipped-filter / phase convolutions). */
  inputGrad?: boolean;
  /** wasm only: replace the stock `MaxPoolGrad` with ours (TypeScript on the heap); default true. */
  maxPoolGrad?: boolean;
  /** wasm only: {@link batchNormTrain} runs as two TypeScript kernels on the heap; default true. */
  batchNorm?: boolean;
  /** wasm only: `Identity` (tf.clone) shares the heap block instead of copying it; default true. */
  identity?: boolean;
  /** wasm only: `sgd` (src/transform.ts) steps run as one fused kernel per variable; default true. */
  sgd?: boolean;
}

/**
 * Registers our training kernels for `backendName` (see {@link conv2dFilterGrad} and
 * {@link conv2dInputGrad}). Idempotent for the same options; other options first restore the stock
 * kernels. For `webgpu`, call it after the webgpu backend package has been imported, so that its
 * own registrations come first and ours replace them.
 *
 * On webgpu, tfjs 4.22's own `Conv2DBackpropFilter` is one GPU thread per weight looping over
 * N*oh*ow, and its `Conv2DBackpropInput` a naive loop (or, with WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE
 * off, a matmul program); both of ours run on its tiled Conv2D program instead.
 * benchmarks/gpu_check.ts compares the variants (timings in the README, "GPU").
 *
 * @param backendName "wasm" or "webgpu"
 * @param opts which kernels; default both
 */
export function registerTrainingKernels(
  backendName: TrainingKernelBackend,
  opts: TrainingKernelOptions = {},
): void {
  const filterGrad = opts.filterGrad ?? true, inputGrad = opts.inputGrad ?? true;
  const maxPool = backendName === "wasm" && (opts.maxPoolGrad ?? true);
  const bn = backendName === "wasm" && (opts.batchNorm ?? true);
  const identity = backendName === "wasm" && (opts.identity ?? true);
  const fusedSgd = backendName === "wasm" && (opts.sgd ?? true);
  const key = `filterGrad=${filterGrad},inputGrad=${inputGrad}` +
    `${maxPool ? ",maxPoolGrad=true" : ""}${bn ? ",batchNorm=true" : ""}` +
    `${identity ? ",identity=true" : ""}${fusedSgd ? ",sgd=true" : ""}`;
  if (registry.get(backendName)?.key === key) return;
  unregisterTrainingKernels(backendName);
  const stock = new Map<string, tf.KernelConfig | undefined>();
  if (filterGrad) replace(stock, tf.Conv2DBackpropFilter, backendName, filterGradKernel);
  if (inputGrad) replace(stock, tf.Conv2DBackpropInput, backendName, inputGradKernel);
  if (maxPool) replace(stock, tf.MaxPoolGrad, backendName, maxPoolGradKernel);
  if (identity) replace(stock, tf.Identity, backendName, identityKernel);
  if (fusedSgd) replace(stock, SGD_STEP_KERNEL, backendName, sgdStepKernel);
  if (bn) {
    replace(stock, BN_FORWARD, backendName, bnForwardKernel);
    replace(stock, BN_BACKWARD, backendName, bnBackwardKernel);
  }
  registry.set(backendName, { stock, key });
}

/**
 * Undoes {@link registerTrainingKernels} for one backend: restores the stock kernels it replaced
 * and removes the ones the backend never had. Idempotent.
 */
export function unregisterTrainingKernels(backendName: TrainingKernelBackend): void {
  const entry = registry.get(backendName);
  if (entry == null) return;
  for (const [name, config] of entry.stock) {
    if (lookup(name, backendName) != null) tf.unregisterKernel(name, backendName);
    if (config != null) tf.registerKernel(config);
  }
  registry.delete(backendName);
}

/** The options registered for a backend ("filterGrad=true,inputGrad=true"), or null if none. */
export function trainingKernelsRegistered(backendName: TrainingKernelBackend): string | null {
  return registry.get(backendName)?.key ?? null;
}

/** Which kernels to register on wasm (whose own has no `Conv2DBackpropFilter` at all). */
export type WasmKernelOptions = TrainingKernelOptions;

/**
 * Registers our training kernels for the `wasm` backend: `Conv2DBackpropFilter` (missing from
 * wasm; see {@link conv2dFilterGrad}) and a faster `Conv2DBackpropInput` (see
 * {@link conv2dInputGrad}). Idempotent: a second call with the same options does nothing. Can be
 * called before or after `tf.setBackend("wasm")`; the wasm backend package is imported by this
 * module, so its own registrations always come first and ours win.
 *
 * @param opts which kernels to register (both by default)
 */
export function registerWasmTrainingKernels(opts: WasmKernelOptions = {}): void {
  registerTrainingKernels("wasm", opts);
}

/**
 * Undoes {@link registerWasmTrainingKernels}: restores the stock wasm kernels it replaced and
 * removes the ones wasm never had. Used by benchmarks to time the stock kernels. Idempotent.
 */
export function unregisterWasmTrainingKernels(): void {
  unregisterTrainingKernels("wasm");
}

/** True while our wasm training kernels are registered. */
export function wasmTrainingKernelsRegistered(): boolean {
  return registry.has("wasm");
}
