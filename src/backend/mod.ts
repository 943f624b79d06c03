/**
 * Backend set-up for training with TensorFlow.js under Deno: {@link initBackend} picks `wasm`
 * (XNNPACK, the CPU training backend, with this package's training kernels registered), `cpu`,
 * `webgpu` (taken by `auto` only on a real GPU) or `tensorflow` (tfjs-node, when installed), and
 * says what it chose and why. {@link registerTrainingKernels} installs the training kernels on a
 * backend you set up yourself.
 *
 * @example Use the pure-JS backend (tests, references) and describe it
 * ```ts
 * import { assert } from "@std/assert";
 * import { describeBackend, initBackend } from "@amss-ts/amss/backend";
 *
 * const info = await initBackend("cpu");
 * assert(describeBackend(info) === "cpu" && info.notes.length > 0);
 * ```
 *
 * @module
 */
export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  BackendUnavailableError,
  describeBackend,
  initBackend,
  type InitBackendOptions,
} from "./select.ts";
export {
  registerTrainingKernels,
  type TrainingKernelBackend,
  type TrainingKernelOptions,
  unregisterTrainingKernels,
} from "./wasm_kernels.ts";
