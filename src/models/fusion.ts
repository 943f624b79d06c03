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
 *
 * Names: a modality's own head is `<m>/head/{kernel,bias}` (so `modalityByPrefix` puts it in the
 * modality's subnetwork); shared fusion parameters are `fusion/...` (never masked).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { paperUnits, type UnitRule } from "../amss/groups.ts";
import type { Params } from "../transform.ts";
import { AmssArgumentError } from "../validate.ts";
import type { UnitRulesKind } from "./encoders.ts";
import { dense, lookup, type ParamSink } from "./layers.ts";

/** Fusion kinds (`affine` in a spec is an alias of `film`). */
export type FusionKind = "concat" | "sum" | "weight" | "film" | "late";

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
  /** concat, film: see {@link UnimodalBias}. Default `"full"`. */
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
  /** AMSS unit of a modality head parameter (`local` = name without `<m>/`), or null. */
  unitRule(local: string, shape: readonly number[], kind: UnitRulesKind): UnitRule | null;
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
  return { ...late, kind: "sum" };
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
  };
}

/** The fusion of a (validated) spec. */
export function createFusion(
  spec: FusionSpec,
  modalities: readonly string[],
  dims: readonly number[],
  numClasses: number,
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
    default:
      throw new AmssArgumentError(
        `fusion.kind must be one of "concat", "sum", "weight", "film", "affine", "late", got ${
          JSON.stringify((spec as { kind: unknown }).kind)
        }`,
      );
  }
}
