/**
 * Fusion heads over K >= 2 modality features, each exposing the uni-modal predictions
 * q(y | x_k) of paper Sec. 3.2.1:
 *
 * | fusion  | fused logits                                  | q(y \| x_k) (logits)                  | AMSS scope of modality k (App. C.2) |
 * | ------- | --------------------------------------------- | ------------------------------------- | ----------------------------------- |
 * | concat  | `[f_1 .. f_K] W + b`                          | fused head, other features zeroed     | encoder                             |
 * | film    | chained FiLM of the target, then `W h + b`    | fused head, other features zeroed     | encoder                             |
 * | sum     | `sum_k z_k`, `z_k = f_k W_k + b_k`            | own head `z_k`                        | encoder + own head                  |
 * | weight  | `sum_k w_k z_k`, `w = softmax(score)`         | own head `z_k`                        | encoder + own head                  |
 * | late    | mean (or sum, or log-mean-prob) of the `z_k`  | own head `z_k`                        | encoder + own head                  |
 * | mmtm    | concat head on ResNet18 streams recalibrated  | fused head, other final features      | encoder                             |
 * |         | between stages by MMTM (Joze et al. 2020)     | zeroed (excitation still mixes)       |                                     |
 * | ml-lstm | multi-layer LSTM over the K projected         | same LSTM + head, other projected     | encoder                             |
 * |         | features as a length-K sequence, linear head  | features zeroed                       |                                     |
 *
 * Names: a modality's own head is `<m>/head/{kernel,bias}` (so `modalityByPrefix` puts it in the
 * modality's subnetwork); shared fusion parameters are `fusion/...` (never masked), including
 * MMTM's squeeze/excitation layers `fusion/mmtm/...` and ML-LSTM's projections and LSTM layers
 * `fusion/lstm/...`.
 *
 * mmtm is a hybrid fusion (paper Sec. 4.3, "Channel"): it runs the encoders itself through their
 * staged API ({@link Fusion.encode}); every other fusion only sees the final features.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { paperUnits, type UnitRule } from "../amss/groups.ts";
import type { Params } from "../types.ts";
import { AmssArgumentError } from "../validate.ts";
import {
  type Encoder,
  isResNet18,
  type ResNet18Encoder,
  type ResNetActivation,
  type UnitRulesKind,
} from "./encoders.ts";
import {
  declareLstm,
  dense,
  type ForwardOptions,
  lookup,
  lstmCell,
  type LstmState,
  type ParamSink,
  type State,
} from "./layers.ts";

/** Fusion kinds (`affine` in a spec is an alias of `film`; `mmtm` is the paper's "Channel"). */
export type FusionKind = "concat" | "sum" | "weight" | "film" | "late" | "mmtm" | "ml-lstm";

/** Every {@link FusionKind}, in the order help texts and errors list them. */
export const FUSION_KINDS: readonly FusionKind[] = Object.freeze([
  "concat",
  "sum",
  "weight",
  "film",
  "late",
  "mmtm",
  "ml-lstm",
]);

/** The kinds a fusion spec accepts, for error messages: {@link FUSION_KINDS} and the alias `affine`. */
export const FUSION_SPEC_KINDS_TEXT: string = [...FUSION_KINDS, "affine"]
  .map((k) => JSON.stringify(k)).join(", ");

/** MMTM's default stages: after layer2, layer3 and layer4 of the ResNet18 streams. */
export const MMTM_DEFAULT_STAGES: readonly number[] = [2, 3, 4];

/**
 * Bias of the uni-modal prediction of a fused head (concat, film): `"full"` is exactly "zero the
 * other modalities' features" (Sec. 3.2.1); `"half"` scales the final linear layer's bias by 1/2,
 * which for two modalities is what the authors' code does (weight slice + half the bias);
 * `"1/K"` scales it by 1/K (the same split generalised to K modalities).
 */
export type UnimodalBias = "full" | "half" | "1/K";

/** How late fusion combines the per-modality logits. */
export type LateCombine = "mean" | "sum" | "prob-mean";

/** How weight fusion scores the modalities. */
export type WeightAttention = "global" | "features";

/** A fusion spec (plain JSON). */
export interface FusionSpec {
  /** Which fusion (`affine` = `film`). */
  kind: FusionKind | "affine";
  /** concat, film, mmtm: see {@link UnimodalBias}. Default `"full"`. */
  unimodalBias?: UnimodalBias;
  /**
   * late: `"mean"` (default) or `"sum"` of logits, or `"prob-mean"`: logits `log(mean_k
   * softmax(z_k))`, the paper's "probability mean" (Sec. 4.2, "Sum").
   */
  combine?: LateCombine;
  /**
   * weight: `"global"` (default) one learned score per modality, `w = softmax(score)` shared by all
   * samples; `"features"` a per-sample attention net `w = softmax([f_1 .. f_K] A + a)`.
   */
  attention?: WeightAttention;
  /** film: the modality whose features are modulated. Default the first modality. */
  target?: string;
  /** film: `gamma = gammaOffset + Delta gamma`. Default 1 (FiLM centred at identity); 0 = OGM-GE's plain gamma. */
  gammaOffset?: number;
  /**
   * mmtm: the ResNet18 stages (1..4) after which an MMTM recalibrates the streams. Default
   * `[2, 3, 4]` (after layer2, layer3, layer4).
   */
  stages?: number[];
  /** mmtm: bottleneck ratio; the joint code has `max(1, floor(sum_k C_k / ratio))` units. Default 4. */
  ratio?: number;
  /** ml-lstm: number of stacked LSTM layers. Default 2. */
  layers?: number;
  /** ml-lstm: LSTM width d (and the common projection width). Default the largest `d_k`. */
  hidden?: number;
}

/** Outputs of a fusion: fused logits and K uni-modal logits, each `[B, C]`. */
export interface FusionOutput {
  /** Fused logits `[B, C]`. */
  logits: tf.Tensor2D;
  /** K uni-modal logits `[B, C]` (Sec. 3.2.1). */
  unimodal: tf.Tensor2D[];
}

/** A fusion head. */
export interface Fusion {
  /** Which fusion. */
  readonly kind: FusionKind;
  /** True when each modality owns a head `<m>/head/...` that belongs to its AMSS subnetwork. */
  readonly modalityHeads: boolean;
  /** Declares the fusion's parameters. */
  declare(sink: ParamSink): void;
  /** Fused and uni-modal logits from the K feature matrices `[B, d_k]`. Call inside `tf.tidy`. */
  forward(params: Params, features: tf.Tensor2D[]): FusionOutput;
  /**
   * Hybrid fusions only (mmtm): runs the encoders on the K inputs (modality order), exchanging
   * information between their stages, and returns the K final features `[B, d_k]` that
   * {@link Fusion.forward} then takes. Absent: the model runs each encoder on its own.
   */
  encode?(
    params: Params,
    state: State,
    inputs: tf.Tensor[],
    opts: ForwardOptions,
  ): tf.Tensor2D[];
  /** AMSS unit of a modality head parameter (`local` = name without `<m>/`), or null. */
  unitRule(local: string, shape: readonly number[], kind: UnitRulesKind): UnitRule | null;
  /** The kind and its resolved options (defaults filled in), for run records. */
  describe(): Record<string, unknown>;
}

const biasScale = (b: UnimodalBias, K: number) => (b === "full" ? 1 : b === "half" ? 0.5 : 1 / K);

/** Features with every modality but k replaced by zeros (Sec. 3.2.1 zero padding). */
function onlyModality(features: tf.Tensor2D[], k: number): tf.Tensor2D[] {
  return features.map((f, j) => (j === k ? f : tf.zerosLike(f)));
}

function checkFeatures(features: tf.Tensor2D[], dims: readonly number[]): void {
  if (features.length !== dims.length) {
    throw new AmssArgumentError(
      `fusion: expected ${dims.length} feature matrices, got ${features.length}`,
    );
  }
  features.forEach((f, k) => {
    if (f.rank !== 2 || f.shape[1] !== dims[k]) {
      throw new AmssArgumentError(
        `fusion: features[${k}] must be [B, ${dims[k]}], got [${f.shape.join(", ")}]`,
      );
    }
  });
}

/** Per-modality heads `<m>/head/{kernel,bias}`: element units under "paper", none under "reference". */
function headUnitRule(local: string, shape: readonly number[], kind: UnitRulesKind) {
  // App. C.2: under late fusion a modality's subnetwork includes its classifier. The authors'
  // code builds a head mask but never applies it, so "reference" leaves heads unmasked.
  return kind === "paper" ? paperUnits(local, shape) : null;
}

const noHeadUnits = () => null;

/**
 * Concat fusion: one linear head `fusion/head` on the concatenated features. Uni-modal logits:
 * the same head with the other modalities' features zeroed (Sec. 3.2.1), i.e.
 * `f_k W_k + s b` with `s` from {@link UnimodalBias}.
 */
export function concatFusion(
  dims: readonly number[],
  numClasses: number,
  unimodalBias: UnimodalBias = "full",
): Fusion {
  const total = dims.reduce((a, b) => a + b, 0);
  const s = biasScale(unimodalBias, dims.length);
  return {
    kind: "concat",
    modalityHeads: false,
    declare(sink) {
      sink.param("fusion/head/kernel", [total, numClasses], { kind: "glorot" });
      sink.param("fusion/head/bias", [numClasses], { kind: "constant", value: 0 });
    },
    forward(params, features) {
      checkFeatures(features, dims);
      const W = lookup(params, "fusion/head/kernel");
      const b = lookup(params, "fusion/head/bias");
      const head = (fs: tf.Tensor2D[], scale: number) =>
        dense(tf.concat(fs, 1), W, scale === 1 ? b : tf.mul(b, scale));
      return {
        logits: head(features, 1),
        unimodal: features.map((_f, k) => head(onlyModality(features, k), s)),
      };
    },
    unitRule: noHeadUnits,
    describe: () => ({ kind: "concat", unimodalBias }),
  };
}

/** A linear head per modality `<m>/head`; returns the K logits. */
function ownHeads(modalities: readonly string[], params: Params, features: tf.Tensor2D[]) {
  return features.map((f, k) =>
    dense(
      f,
      lookup(params, `${modalities[k]}/head/kernel`),
      lookup(params, `${modalities[k]}/head/bias`),
    )
  );
}

function declareOwnHeads(
  sink: ParamSink,
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
) {
  modalities.forEach((m, k) => {
    sink.param(`${m}/head/kernel`, [dims[k], numClasses], { kind: "glorot" });
    sink.param(`${m}/head/bias`, [numClasses], { kind: "constant", value: 0 });
  });
}

/**
 * Late fusion (prediction fusion): a linear head per modality; fused logits are the mean
 * (default), the sum, or `log mean_k softmax(z_k)` (`"prob-mean"`) of the heads' outputs.
 * Uni-modal logits: each modality's own head (Sec. 3.2.1).
 */
export function lateFusion(
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
  combine: LateCombine = "mean",
): Fusion {
  return {
    kind: "late",
    modalityHeads: true,
    declare: (sink) => declareOwnHeads(sink, modalities, dims, numClasses),
    forward(params, features) {
      checkFeatures(features, dims);
      const z = ownHeads(modalities, params, features);
      const K = z.length;
      let logits: tf.Tensor2D;
      if (combine === "prob-mean") {
        const lsm = tf.stack(z.map((t) => tf.logSoftmax(t)), 1); // [B, K, C]
        logits = tf.sub(tf.logSumExp(lsm, 1), Math.log(K)) as tf.Tensor2D;
      } else {
        const sum = (K === 1 ? z[0] : tf.addN(z)) as tf.Tensor2D;
        logits = combine === "sum" ? sum : tf.div(sum, K) as tf.Tensor2D;
      }
      return { logits, unimodal: z };
    },
    unitRule: headUnitRule,
    describe: () => ({ kind: "late", combine }),
  };
}

/**
 * Sum fusion (OGM-GE's `SumFusion`): a linear head per modality, fused logits = sum of the heads'
 * logits. Uni-modal logits: each modality's own head.
 */
export function sumFusion(
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
): Fusion {
  const late = lateFusion(modalities, dims, numClasses, "sum");
  return { ...late, kind: "sum", describe: () => ({ kind: "sum" }) };
}

/**
 * Weight fusion (the paper's "Weight", after its ref. [10]: attention weights over the modality
 * predictions): a linear head per modality and fused logits `sum_k w_k z_k` with
 * - `"global"`: `w = softmax(fusion/attention/score)`, one learned score per modality (init 0, so
 *   training starts from the mean of the heads);
 * - `"features"`: per-sample `w = softmax([f_1 .. f_K] A + a)` with `fusion/attention/{kernel,bias}`.
 * Uni-modal logits: each modality's own head; the attention parameters are shared (`fusion/`).
 */
export function weightFusion(
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
  attention: WeightAttention = "global",
): Fusion {
  const K = modalities.length;
  const total = dims.reduce((a, b) => a + b, 0);
  return {
    kind: "weight",
    modalityHeads: true,
    declare(sink) {
      declareOwnHeads(sink, modalities, dims, numClasses);
      if (attention === "global") {
        sink.param("fusion/attention/score", [K], { kind: "constant", value: 0 });
      } else {
        sink.param("fusion/attention/kernel", [total, K], { kind: "glorot" });
        sink.param("fusion/attention/bias", [K], { kind: "constant", value: 0 });
      }
    },
    forward(params, features) {
      checkFeatures(features, dims);
      const z = ownHeads(modalities, params, features);
      const stacked = tf.stack(z, 1); // [B, K, C]
      const w = attention === "global"
        ? tf.softmax(lookup(params, "fusion/attention/score")).reshape([1, K, 1])
        : tf.softmax(
          dense(
            tf.concat(features, 1),
            lookup(params, "fusion/attention/kernel"),
            lookup(params, "fusion/attention/bias"),
          ),
        ).expandDims(2);
      return { logits: tf.sum(tf.mul(stacked, w), 1) as tf.Tensor2D, unimodal: z };
    },
    unitRule: headUnitRule,
    describe: () => ({ kind: "weight", attention }),
  };
}

/**
 * Affine / FiLM fusion (Perez et al. 2018, the paper's ref. [9]): the target modality's features
 * `h = f_t` are modulated by every other modality in turn (a chain, which for K = 2 is plain
 * FiLM): `[Delta gamma, beta] = f_k G_k + g_k`, `h <- (gammaOffset + Delta gamma) * h + beta`;
 * then a linear head `fusion/head` on h. Conditioners are `fusion/film/<m>/{kernel,bias}` (shared,
 * not in any modality's subnetwork, App. C.2). Uni-modal logits: the same computation with the
 * other modalities' features zeroed; {@link UnimodalBias} scales only the final head's bias.
 */
export function filmFusion(
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
  { target, gammaOffset = 1, unimodalBias = "full" }: {
    target?: string;
    gammaOffset?: number;
    unimodalBias?: UnimodalBias;
  } = {},
): Fusion {
  const K = modalities.length;
  if (K < 2) throw new AmssArgumentError(`film fusion needs at least 2 modalities, got ${K}`);
  const t = target === undefined ? 0 : modalities.indexOf(target);
  if (t < 0) {
    throw new AmssArgumentError(
      `fusion.target: ${JSON.stringify(target)} is not one of ${modalities.join(", ")}`,
    );
  }
  const dt = dims[t];
  const conditioners = modalities.map((_m, k) => k).filter((k) => k !== t);
  const s = biasScale(unimodalBias, K);
  const run = (params: Params, features: tf.Tensor2D[], scale: number) => {
    let h: tf.Tensor2D = features[t];
    for (const k of conditioners) {
      const gb = dense(
        features[k],
        lookup(params, `fusion/film/${modalities[k]}/kernel`),
        lookup(params, `fusion/film/${modalities[k]}/bias`),
      );
      const [dGamma, beta] = tf.split(gb, 2, 1);
      h = tf.add(tf.mul(h, tf.add(dGamma, gammaOffset)), beta) as tf.Tensor2D;
    }
    const b = lookup(params, "fusion/head/bias");
    return dense(h, lookup(params, "fusion/head/kernel"), scale === 1 ? b : tf.mul(b, scale));
  };
  return {
    kind: "film",
    modalityHeads: false,
    declare(sink) {
      for (const k of conditioners) {
        sink.param(`fusion/film/${modalities[k]}/kernel`, [dims[k], 2 * dt], { kind: "glorot" });
        sink.param(`fusion/film/${modalities[k]}/bias`, [2 * dt], { kind: "constant", value: 0 });
      }
      sink.param("fusion/head/kernel", [dt, numClasses], { kind: "glorot" });
      sink.param("fusion/head/bias", [numClasses], { kind: "constant", value: 0 });
    },
    forward(params, features) {
      checkFeatures(features, dims);
      return {
        logits: run(params, features, 1),
        unimodal: features.map((_f, k) => run(params, onlyModality(features, k), s)),
      };
    },
    unitRule: noHeadUnits,
    describe: () => ({ kind: "film", target: modalities[t], gammaOffset, unimodalBias }),
  };
}

/** Options of {@link mmtmFusion}. */
export interface MmtmOptions {
  /** Stages (1..4) after which an MMTM acts. Default {@link MMTM_DEFAULT_STAGES}. */
  stages?: readonly number[];
  /** Bottleneck ratio (> 0). Default 4. */
  ratio?: number;
  /** Bias of the uni-modal predictions of the concat head. Default `"full"`. */
  unimodalBias?: UnimodalBias;
}

/**
 * MMTM ("Channel" in the paper's tables; Joze et al., "MMTM: Multimodal Transfer Module for CNN
 * Fusion", CVPR 2020, Sec. 3) between K >= 2 ResNet18 streams. After each chosen stage s:
 * - squeeze: `S_k = mean of stream k's feature map over H, W (and the T frames of a clip)`, `[B, C_k]`;
 * - joint code: `Z = ReLU([S_1 .. S_K] W_s + w_s)` with `C_Z = max(1, floor(sum_k C_k / ratio))`
 *   units (the MMTM paper's `(C_A + C_B) / 4` at the default ratio 4; its released code uses
 *   `2 (C_A + C_B) / ratio`; the ReLU is the released code's);
 * - excitation: `E_k = Z W_k + w_k` and the gated stream `A_k <- 2 sigmoid(E_k) * A_k` channel-wise
 *   (the paper's gate, 1 at `E_k = 0`; the released code uses a plain sigmoid), fed to stage s+1.
 * The K final pooled features go into a concat head `fusion/head` ({@link concatFusion}).
 *
 * Parameters: `fusion/mmtm/stage<s>/squeeze/{kernel,bias}` and
 * `fusion/mmtm/stage<s>/excite/<m>/{kernel,bias}`, all shared (never masked; the excitation of
 * stream k reads every stream, App. C.2 scope of a modality = its encoder).
 *
 * Uni-modal predictions q(y | x_k): the concat head with the other streams' FINAL features zeroed
 * (Sec. 3.2.1's zero padding, as for concat). They are not purely uni-modal: stream k's features
 * were already recalibrated by gates computed from every stream at the MMTM stages, so the other
 * modalities still reach q(y | x_k) through the excitation.
 *
 * @param encoders the K ResNet18 encoders (modality order; built by {@link resnet18Encoder})
 */
export function mmtmFusion(
  encoders: readonly Encoder[],
  numClasses: number,
  { stages = MMTM_DEFAULT_STAGES, ratio = 4, unimodalBias = "full" }: MmtmOptions = {},
): Fusion {
  const K = encoders.length;
  if (K < 2) throw new AmssArgumentError(`mmtm fusion needs at least 2 modalities, got ${K}`);
  const streams: ResNet18Encoder[] = encoders.map((e) => {
    if (!isResNet18(e)) {
      throw new AmssArgumentError(
        `mmtm fusion needs resnet18 (CNN) encoders; modality ${
          JSON.stringify(e.modality)
        } has a ${e.kind} encoder`,
      );
    }
    return e;
  });
  if (
    stages.length === 0 || new Set(stages).size !== stages.length ||
    !stages.every((s) => Number.isInteger(s) && s >= 1 && s <= 4)
  ) {
    throw new AmssArgumentError(
      `fusion.stages must be distinct stages in 1..4, got ${JSON.stringify(stages)}`,
    );
  }
  if (!(typeof ratio === "number" && Number.isFinite(ratio) && ratio > 0)) {
    throw new AmssArgumentError(`fusion.ratio must be a finite number > 0, got ${ratio}`);
  }
  const modalities = streams.map((e) => e.modality);
  const dims = streams.map((e) => e.dim);
  const order = [...stages].sort((a, b) => a - b);
  const channels = (s: number) => streams.map((e) => e.widths[s - 1]);
  const bottleneck = (s: number) =>
    Math.max(1, Math.floor(channels(s).reduce((a, b) => a + b, 0) / ratio));
  const name = (s: number, what: string) => `fusion/mmtm/stage${s}/${what}`;
  const head = concatFusion(dims, numClasses, unimodalBias);

  /** One MMTM (Joze et al. 2020, Sec. 3: squeeze, multi-modal excitation, 2 sigmoid gate). */
  const transfer = (params: Params, s: number, acts: ResNetActivation[]) => {
    const C = channels(s);
    // squeeze: per clip, the mean over every frame and position ([B, T*H*W, C] -> [B, C])
    const flat = acts.map((a, k) => a.h.reshape([a.batch, -1, C[k]]));
    const squeezed = flat.map((f) => tf.mean(f, 1) as tf.Tensor2D);
    const z = tf.relu(
      dense(
        tf.concat(squeezed, 1),
        lookup(params, name(s, "squeeze/kernel")),
        lookup(params, name(s, "squeeze/bias")),
      ),
    );
    return acts.map((a, k): ResNetActivation => {
      const e = dense(
        z,
        lookup(params, name(s, `excite/${modalities[k]}/kernel`)),
        lookup(params, name(s, `excite/${modalities[k]}/bias`)),
      );
      const gate = tf.mul(tf.sigmoid(e), 2).reshape([a.batch, 1, C[k]]);
      return { ...a, h: tf.mul(flat[k], gate).reshape(a.h.shape) as tf.Tensor4D };
    });
  };

  return {
    kind: "mmtm",
    modalityHeads: false,
    declare(sink) {
      for (const s of order) {
        const C = channels(s);
        const cz = bottleneck(s);
        const total = C.reduce((a, b) => a + b, 0);
        sink.param(name(s, "squeeze/kernel"), [total, cz], { kind: "he", mode: "fan_in" });
        sink.param(name(s, "squeeze/bias"), [cz], { kind: "constant", value: 0 });
        modalities.forEach((m, k) => {
          sink.param(name(s, `excite/${m}/kernel`), [cz, C[k]], { kind: "glorot" });
          sink.param(name(s, `excite/${m}/bias`), [C[k]], { kind: "constant", value: 0 });
        });
      }
      head.declare(sink);
    },
    encode(params, state, inputs, opts) {
      if (inputs.length !== K) {
        throw new AmssArgumentError(`mmtm fusion: expected ${K} inputs, got ${inputs.length}`);
      }
      let acts = streams.map((e, k) => e.stem(params, state, inputs[k], opts));
      const B = acts[0].batch;
      acts.forEach((a, k) => {
        if (a.batch !== B) {
          throw new AmssArgumentError(
            `mmtm fusion: inputs.${modalities[k]} has batch ${a.batch}, ${modalities[0]} has ${B}`,
          );
        }
      });
      for (let layer = 1; layer <= 4; layer++) {
        acts = streams.map((e, k) => e.stage(layer, params, state, acts[k], opts));
        if (order.includes(layer)) acts = transfer(params, layer, acts);
      }
      return streams.map((e, k) => e.pool(acts[k]));
    },
    forward: head.forward,
    unitRule: noHeadUnits,
    describe: () => ({
      kind: "mmtm",
      stages: order,
      ratio,
      bottleneck: order.map(bottleneck),
      gate: "2*sigmoid",
      unimodalBias,
    }),
  };
}

/** Options of {@link mlLstmFusion}. */
export interface MlLstmOptions {
  /** Stacked LSTM layers (>= 1). Default 2. */
  layers?: number;
  /** LSTM width d (>= 1). Default the largest feature dimension `d_k`. */
  hidden?: number;
}

/**
 * Multi-layer LSTM fusion ("ML-LSTM" in the paper's tables; after Nie et al., "Multimodal feature
 * fusion based on multi-layers LSTM for video emotion recognition", MTAP 2021, the paper's
 * ref. [34]): each modality's features are projected to a common width d,
 * `x_k = f_k P_k + p_k` (`fusion/lstm/proj/<m>/{kernel,bias}`), the K vectors are read as a
 * sequence of length K (modality order) by `layers` stacked LSTMs of width d
 * (`fusion/lstm/layer<l>/{kernel,recurrent,bias}`, {@link lstmCell}: gates i, f, g, o, zero initial
 * state, forget-gate bias initialised to 1), and the last layer's final hidden state `h_K` goes
 * into a linear head `fusion/head`.
 *
 * Uni-modal predictions q(y | x_k): the same LSTM and head on the sequence whose entries other
 * than k are zero vectors (the other modalities' PROJECTED features zeroed, i.e. `x_j = 0` rather
 * than `x_j = p_j`; Sec. 3.2.1's zero padding applied at the LSTM's input). All parameters are
 * shared `fusion/` parameters, never masked (feature-level fusion, App. C.2).
 */
export function mlLstmFusion(
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
  { layers = 2, hidden }: MlLstmOptions = {},
): Fusion {
  const d = hidden ?? Math.max(...dims);
  if (!Number.isInteger(layers) || layers < 1) {
    throw new AmssArgumentError(`fusion.layers must be an integer >= 1, got ${layers}`);
  }
  if (!Number.isInteger(d) || d < 1) {
    throw new AmssArgumentError(`fusion.hidden must be an integer >= 1, got ${d}`);
  }
  const layer = (l: number, what: string) => `fusion/lstm/layer${l}/${what}`;
  /** Logits of the stacked LSTM over the sequence `xs` (K entries `[B, d]`). */
  const run = (params: Params, xs: tf.Tensor2D[]) => {
    const B = xs[0].shape[0];
    let seq = xs;
    for (let l = 0; l < layers; l++) {
      const W = lookup(params, layer(l, "kernel"));
      const U = lookup(params, layer(l, "recurrent"));
      const b = lookup(params, layer(l, "bias"));
      let st: LstmState = { h: tf.zeros([B, d]), c: tf.zeros([B, d]) };
      const out: tf.Tensor2D[] = [];
      for (const x of seq) {
        st = lstmCell(x, st, W, U, b);
        out.push(st.h);
      }
      seq = out;
    }
    return dense(
      seq[seq.length - 1],
      lookup(params, "fusion/head/kernel"),
      lookup(params, "fusion/head/bias"),
    );
  };
  return {
    kind: "ml-lstm",
    modalityHeads: false,
    declare(sink) {
      modalities.forEach((m, k) => {
        sink.param(`fusion/lstm/proj/${m}/kernel`, [dims[k], d], { kind: "glorot" });
        sink.param(`fusion/lstm/proj/${m}/bias`, [d], { kind: "constant", value: 0 });
      });
      for (let l = 0; l < layers; l++) declareLstm(sink, `fusion/lstm/layer${l}`, d, d);
      sink.param("fusion/head/kernel", [d, numClasses], { kind: "glorot" });
      sink.param("fusion/head/bias", [numClasses], { kind: "constant", value: 0 });
    },
    forward(params, features) {
      checkFeatures(features, dims);
      const xs = features.map((f, k) =>
        dense(
          f,
          lookup(params, `fusion/lstm/proj/${modalities[k]}/kernel`),
          lookup(params, `fusion/lstm/proj/${modalities[k]}/bias`),
        )
      );
      return {
        logits: run(params, xs),
        unimodal: xs.map((_x, k) => run(params, onlyModality(xs, k))),
      };
    },
    unitRule: noHeadUnits,
    describe: () => ({ kind: "ml-lstm", layers, hidden: d }),
  };
}

/**
 * The fusion of a (validated) spec. `encoders` (modality order) is needed by the hybrid `mmtm`,
 * which runs them stage by stage.
 */
export function createFusion(
  spec: FusionSpec,
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
  encoders?: readonly Encoder[],
): Fusion {
  switch (spec.kind) {
    case "concat":
      return concatFusion(dims, numClasses, spec.unimodalBias);
    case "sum":
      return sumFusion(modalities, dims, numClasses);
    case "weight":
      return weightFusion(modalities, dims, numClasses, spec.attention);
    case "late":
      return lateFusion(modalities, dims, numClasses, spec.combine);
    case "film":
    case "affine":
      return filmFusion(modalities, dims, numClasses, spec);
    case "mmtm":
      if (!encoders) {
        throw new AmssArgumentError(`mmtm fusion needs the encoders (createFusion's encoders)`);
      }
      return mmtmFusion(encoders, numClasses, spec);
    case "ml-lstm":
      return mlLstmFusion(modalities, dims, numClasses, spec);
    default:
      throw new AmssArgumentError(
        `fusion.kind must be one of ${FUSION_SPEC_KINDS_TEXT}, got ${
          JSON.stringify((spec as { kind: unknown }).kind)
        }`,
      );
  }
}
