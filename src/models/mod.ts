/**
 * Multi-modal models for AMSS/AMSS+ training: encoders (ResNet18, MLP, Transformer), fusions
 * (concat, sum, weight, FiLM, late, MMTM channel excitation, multi-layer LSTM) with the paper's
 * uni-modal predictions q(y | x_k) (Sec. 3.2.1), a JSON model builder, pretrained weights and the
 * bridge from a forward pass to the significance estimators ({@link modalBatchFromOutputs}).
 *
 * A model is plain functions over a flat parameter map: names `<modality>/...` belong to that
 * modality's subnetwork, `fusion/...` to the shared head, and {@link Model.unitRules} gives the
 * `planMasks` rules of the paper (App. C.2) or of the authors' code.
 *
 * @example Build a two-modality MLP model, run it and read its AMSS mask plan
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { planMasks } from "@amss-ts/amss";
 * import { buildModel, variableGradsByName } from "@amss-ts/amss/models";
 *
 * await tf.setBackend("cpu");
 * const model = buildModel({
 *   modalities: [
 *     { name: "audio", kind: "mlp", input: [6], options: { hidden: [8] } },
 *     { name: "visual", kind: "mlp", input: [4], options: { hidden: [8] } },
 *   ],
 *   fusion: { kind: "concat" },
 *   numClasses: 3,
 * });
 * const { params, state } = model.init(1);
 * const inputs = { audio: tf.ones([2, 6]), visual: tf.ones([2, 4]) };
 * const labels = tf.oneHot(tf.tensor1d([0, 2], "int32"), 3);
 * const { value, grads } = variableGradsByName(params, () => {
 *   const out = model.forward(params, state, inputs, { training: true });
 *   return tf.losses.softmaxCrossEntropy(labels, out.logits) as tf.Scalar;
 * });
 * const plan = planMasks(params, model.unitRules("paper"));
 * assert(plan.modalities.join() === "audio,visual" && Object.keys(grads).length > 0);
 * tf.dispose([value, ...Object.values(grads), inputs.audio, inputs.visual, labels]);
 * ```
 *
 * @module
 */
export type { ForwardOptions, Init, ParamSink, State } from "./layers.ts";
export {
  type Encoder,
  ENCODER_KINDS,
  type EncoderKind,
  isResNet18,
  mlpEncoder,
  type MlpOptions,
  RESNET18_WIDTHS,
  type ResNet18Encoder,
  resnet18Encoder,
  type ResNet18Options,
  type ResNetActivation,
  transformerEncoder,
  type TransformerOptions,
  type UnitRulesKind,
} from "./encoders.ts";
export {
  concatFusion,
  createFusion,
  filmFusion,
  type Fusion,
  FUSION_KINDS,
  type FusionKind,
  type FusionOutput,
  type FusionSpec,
  type LateCombine,
  lateFusion,
  mlLstmFusion,
  type MlLstmOptions,
  MMTM_DEFAULT_STAGES,
  mmtmFusion,
  type MmtmOptions,
  sumFusion,
  type UnimodalBias,
  type WeightAttention,
  weightFusion,
} from "./fusion.ts";
export {
  createModel,
  modalBatchFromOutputs,
  type Model,
  type ModelDescription,
  type ModelOutputs,
  variableGradsByName,
} from "./model.ts";
export {
  buildModel,
  type ModalityEncoderSpec,
  type ModalitySpec,
  type ModelSpec,
  ModelSpecError,
} from "./build.ts";
export {
  loadPretrained,
  type PretrainedReport,
  type PretrainedSpec,
  readTfjsWeights,
  saveTfjsWeights,
} from "./pretrained.ts";
