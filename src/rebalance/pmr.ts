/**
 * PMR, Prototypical Modal Rebalance (Fan, Xu, Wang, Wang and Guo, CVPR 2023; arXiv 2211.07089).
 *
 * Implemented (per modality k, classes c, batch i):
 * - prototypes: `c_k[c]` = mean encoder feature of class c over the training split (inference
 *   mode), refreshed before every epoch with momentum:
 *   `c_k <- (1 - momentum) * mean + momentum * c_k_old` (the first epoch takes the mean as is);
 * - prototype classifier: `p_k(c | x_i) = softmax_c(-||phi_k(x_i) - c_k[c]||_2)` (Euclidean
 *   distance, not squared), prototypical cross-entropy `PCE_k = mean_i -log p_k(y_i | x_i)`;
 * - imbalance from the prototype scores `s_k = sum_i p_k(y_i | x_i)` of the batch: for two
 *   modalities `rho = s_1 / s_2`, and the weaker modality's PCE is weighted by
 *   `beta * clip(rho - 1, 0, 1)` (by `beta * clip(1/rho - 1, 0, 1)` when modality 1 is the weaker);
 * - prototypical entropy regularisation on the dominant modality d (largest score) during the first
 *   `perEpochs` epochs: `- mu * clip(rho - 1, 0, 1) * mean_i H(p_d(. | x_i))` (maximising the
 *   entropy delays the dominant modality's premature convergence);
 * - total: `CE(fused) + beta * sum_k coef_k PCE_k - [epoch <= perEpochs] mu * max_k coef_k * H_d`.
 *   Coefficients and the choice of d are constants for the gradient (computed on detached scores).
 *
 * Details the paper leaves open, with the choice made here (all are options of {@link PmrOptions}):
 * - K > 2 modalities: each modality is compared with the best one,
 *   `coef_k = clip(max_j s_j / s_k - 1, 0, 1)` (equal to the two-modality rule for K = 2), and the
 *   entropy term uses the largest coefficient.
 * - `fraction`: the share of training batches the prototypes are averaged over (default 1, the
 *   whole training split; the authors' code uses the first 10% of a shuffled pass: 0.1).
 * - `momentum` default 0.2 and `beta` default 1: the authors' public code defaults
 *   (`--momentum_coef 0.2`, `--alpha 1.0`, there named alpha).
 * - `mu` default 0.01 and `perEpochs` default 5: the paper applies the entropy term "during the
 *   early training stage"; these two numbers are this implementation's choice, not checked
 *   against the paper.
 * - the entropy is averaged over the batch (the authors' code sums it, which ties its weight to
 *   the batch size).
 * - a class with no sample in the prototype pass keeps its previous prototype (zeros before the
 *   first one; the authors' code divides by zero).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { AmssArgumentError, requireInRange, requireInt } from "../validate.ts";
import type { ModelOutputs } from "../models/model.ts";
import { type Method, type MethodContext, stopGradient } from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of {@link createPmr}. */
export interface PmrOptions {
  /** Strength of the weaker modality's prototypical cross-entropy (default 1). */
  beta?: number;
  /** Strength of the prototypical entropy term on the dominant modality (default 0.01). */
  mu?: number;
  /** Momentum of the prototype refresh, in [0, 1) (default 0.2). */
  momentum?: number;
  /** The entropy term is on in epochs 1..perEpochs (default 5; 0 turns it off). */
  perEpochs?: number;
  /** Share of training batches the prototypes are averaged over, in (0, 1] (default 1). */
  fraction?: number;
}

/** PMR's checkpointed state. */
export interface PmrState extends Record<string, unknown> {
  /** Per modality, the `C x d_k` prototypes (row-major); empty before the first refresh. */
  protos: Float32Array[];
  /** Feature width d_k per modality. */
  dims: number[];
}

/** The per-batch quantities of PMR's loss (all tensors; the caller disposes, e.g. via tf.tidy). */
export interface PmrTerms {
  /** Per modality `[B, C]` logits of the prototype classifier: minus the Euclidean distances. */
  protoLogits: tf.Tensor2D[];
  /** Per modality prototypical cross-entropy (mean over the batch). */
  pce: tf.Scalar[];
  /** `[K]` scores `s_k = sum_i p_k(y_i | x_i)`, detached. */
  scores: tf.Tensor1D;
  /** `[K]` coefficients `clip(max_j s_j / s_k - 1, 0, 1)`, detached. */
  coef: tf.Tensor1D;
  /** `[K]` batch-mean entropy of each modality's prototype distribution. */
  entropy: tf.Tensor1D;
  /** `[K]` one-hot of the dominant modality (largest score). */
  dominant: tf.Tensor1D;
}

/** Euclidean distances `[B, C]` between rows of `x` `[B, d]` and `protos` `[C, d]`. */
export function euclideanDistances(x: tf.Tensor2D, protos: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const diff = tf.sub(tf.expandDims(x, 1), tf.expandDims(protos, 0)); // [B, C, d]
    // the epsilon keeps the gradient of sqrt finite when a feature sits on a prototype
    return tf.sqrt(tf.add(tf.sum(tf.square(diff), -1), 1e-12)) as tf.Tensor2D;
  });
}

/**
 * PMR's per-batch terms (module header: prototype softmax, PCE, scores, coefficients, entropies)
 * from the features of each modality, the prototypes `[C, d_k]` and one-hot labels `[B, C]`.
 */
export function pmrTerms(
  features: tf.Tensor2D[],
  protos: tf.Tensor2D[],
  oneHot: tf.Tensor2D,
): PmrTerms {
  const protoLogits = features.map((f, k) => tf.neg(euclideanDistances(f, protos[k])));
  const logP = protoLogits.map((l) => tf.logSoftmax(l));
  // Fan et al.: prototypical cross-entropy of each modality
  const pce = logP.map((lp) => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, lp), -1))) as tf.Scalar);
  // s_k = sum_i p_k(y_i | x_i): the imbalance measure, a constant for the gradient
  const scores = stopGradient(
    tf.stack(logP.map((lp) => tf.sum(tf.mul(oneHot, tf.exp(lp))))),
  ) as tf.Tensor1D;
  const safe = tf.maximum(scores, 1e-30);
  // coef_k = clip(max_j s_j / s_k - 1, 0, 1): for two modalities beta's factor clip(rho - 1, 0, 1)
  const coef = tf.clipByValue(tf.sub(tf.div(tf.max(safe), safe), 1), 0, 1) as tf.Tensor1D;
  const entropy = tf.stack(
    logP.map((lp) => tf.mean(tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1)))),
  ) as tf.Tensor1D;
  const dominant = tf.oneHot(tf.argMax(scores), features.length).asType("float32") as tf.Tensor1D;
  return { protoLogits, pce, scores, coef, entropy, dominant };
}

/** PMR's total loss (module header) for one batch; call inside the gradient tape or tf.tidy. */
export function pmrLoss(
  out: ModelOutputs,
  oneHot: tf.Tensor2D,
  protos: tf.Tensor2D[],
  opts: { beta: number; mu: number; entropyOn: boolean },
): tf.Scalar {
  const ce = tf.losses.softmaxCrossEntropy(oneHot, out.logits) as tf.Scalar;
  const t = pmrTerms(out.features, protos, oneHot);
  let loss: tf.Tensor = tf.add(ce, tf.mul(opts.beta, tf.sum(tf.mul(t.coef, tf.stack(t.pce)))));
  if (opts.entropyOn && opts.mu > 0) {
    const hDominant = tf.sum(tf.mul(t.dominant, t.entropy));
    loss = tf.sub(loss, tf.mul(opts.mu, tf.mul(tf.max(t.coef), hDominant)));
  }
  return loss as tf.Scalar;
}

/**
 * One prototype refresh of one modality: class means from `sums` (`C x d`) and `counts` (`C`),
 * blended with `old` by momentum (module header). Classes without samples keep `old` (or zeros).
 */
export function refreshPrototypes(
  sums: ArrayLike<number>,
  counts: ArrayLike<number>,
  d: number,
  old: ArrayLike<number> | null,
  momentum: number,
): Float32Array {
  const C = counts.length;
  const out = new Float32Array(C * d);
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < d; j++) {
      const i = c * d + j;
      if (counts[c] === 0) out[i] = old ? old[i] : 0;
      else {
        const mean = sums[i] / counts[c];
        out[i] = old ? (1 - momentum) * mean + momentum * old[i] : mean;
      }
    }
  }
  return out;
}

/** What {@link createPmr} uses for an absent option. */
export const PMR_DEFAULTS: Readonly<Required<PmrOptions>> = {
  beta: 1,
  mu: 0.01,
  momentum: 0.2,
  perEpochs: 5,
  fraction: 1,
};

/** The schema of {@link PmrOptions} (types and ranges; the bench's `--method-options` check). */
export const PMR_SCHEMA: OptionsSchema<PmrOptions> = {
  beta: { kind: "number", min: 0, max: 1e6 },
  mu: { kind: "number", min: 0, max: 1e6 },
  momentum: { kind: "number", min: 0, max: 1, maxOpen: true },
  perEpochs: { kind: "int", min: 0, max: 1e6 },
  fraction: { kind: "number", min: 0, max: 1, minOpen: true },
};

/** Builds PMR (module header) for a model with K >= 2 modalities and C classes. */
export function createPmr(opts: PmrOptions, ctx: MethodContext): Method {
  const K = ctx.modalities.length;
  if (K < 2) throw new AmssArgumentError(`pmr needs at least two modalities, the model has ${K}`);
  if (ctx.numClasses === undefined) {
    throw new AmssArgumentError("pmr needs the number of classes (MethodContext.numClasses)");
  }
  const C = requireInt("numClasses", ctx.numClasses, 2);
  const beta = requireInRange("pmr.beta", opts.beta ?? PMR_DEFAULTS.beta, 0, Infinity);
  const mu = requireInRange("pmr.mu", opts.mu ?? PMR_DEFAULTS.mu, 0, Infinity);
  const momentum = requireInRange("pmr.momentum", opts.momentum ?? PMR_DEFAULTS.momentum, 0, 1);
  if (momentum === 1) throw new AmssArgumentError("pmr.momentum must be < 1, got 1");
  const perEpochs = requireInt("pmr.perEpochs", opts.perEpochs ?? PMR_DEFAULTS.perEpochs, 0);
  const fraction = requireInRange(
    "pmr.fraction",
    opts.fraction ?? PMR_DEFAULTS.fraction,
    0,
    1,
    true,
  );
  const state: PmrState = { protos: [], dims: [] };
  return {
    name: "pmr",
    label: `pmr (beta ${beta}, mu ${mu})`,
    lossOn: "fused",
    transform: null,
    state,
    async onEpochStart(info) {
      let sums: Float64Array[] = [];
      const counts = new Float64Array(C);
      let dims: number[] = [];
      await info.trainFeatures(async (features, labels) => {
        if (sums.length === 0) {
          dims = features.map((f) => f.shape[1]);
          sums = dims.map((d) => new Float64Array(C * d));
        }
        const data = await Promise.all(features.map((f) => f.data()));
        for (let i = 0; i < labels.length; i++) {
          const c = labels[i];
          counts[c]++;
          data.forEach((x, k) => {
            const d = dims[k];
            for (let j = 0; j < d; j++) sums[k][c * d + j] += x[i * d + j];
          });
        }
      }, { fraction });
      if (sums.length === 0) return; // nothing could be read: keep the old prototypes
      const had = state.protos.length === K;
      state.protos = sums.map((s, k) =>
        refreshPrototypes(s, counts, dims[k], had ? state.protos[k] : null, momentum)
      );
      state.dims = dims;
    },
    loss(out, oneHot, lctx) {
      if (state.protos.length !== K) {
        return tf.losses.softmaxCrossEntropy(oneHot, out.logits) as tf.Scalar;
      }
      const protos = state.protos.map((p, k) => tf.tensor2d(p, [C, state.dims[k]]));
      return pmrLoss(out, oneHot, protos, { beta, mu, entropyOn: lctx.epoch <= perEpochs });
    },
  };
}
