/**
 * The per-step pass behind `importance: "fisher"` (paper Sec. 3.2.2): the diagonal empirical
 * Fisher of each masked variable, F_j = (1/B) sum_i (d log q(y_i | x_i^(k)) / d w_j)^2, with
 * q(y | x_k) modality k's uni-modal prediction (Sec. 3.2.1) and w_j a parameter of modality k.
 *
 * One extra forward pass (training mode, batch-norm running statistics left alone) and one
 * backward pass of the summed per-sample uni-modal losses sum_i sum_k -log q(y_i | x_i^(k)), with
 * the layers reporting to a {@link FisherTape} (src/amss/fisher.ts: per-sample squared gradients
 * from each layer's input and output gradient, no B backward passes). Summing over k is exact
 * when modality k's parameters reach only q(y | x_k) (every fusion here but the hybrid mmtm, whose
 * streams exchange features): then d/dw^(k) of the sum is d/dw^(k) of modality k's term. For a
 * hybrid model the pass runs once per modality (`perModality`). The backward pass differentiates
 * with respect to the float inputs, so no parameter gradient is computed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { FisherTape, withFisherTape } from "../amss/fisher.ts";
import type { Params, TensorMap } from "../transform.ts";
import { AmssArgumentError } from "../validate.ts";
import type { TrainableModel } from "./trainable.ts";

/** Options of {@link uniModalFisher}. */
export interface UniModalFisherOptions {
  /**
   * One pass per modality (its own uni-modal loss, its own variables) instead of one pass for all:
   * needed when a modality's parameters reach another modality's uni-modal prediction (hybrid
   * fusions such as mmtm). Default: {@link mixesModalities} of the model.
   */
  perModality?: boolean;
}

/** True for models whose fusion runs the encoders itself (mmtm): their streams exchange features. */
export function mixesModalities(model: TrainableModel): boolean {
  const m = model as TrainableModel & { fusion?: { encode?: unknown } };
  return typeof m.fusion?.encode === "function";
}

/** Sum over the batch of -log softmax(logits)[y]: the per-sample losses summed, a scalar. */
function summedNll(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)))) as tf.Scalar;
}

/**
 * The per-element diagonal empirical Fisher (Sec. 3.2.2) of the variables `names`, each of the
 * variable's shape (the caller disposes the map), on one batch.
 *
 * @param model the model (its forward pass must use src/models/layers.ts's dense, conv2d and
 *   batchNorm for the layers of `names`; other layers make this throw, naming the variables).
 * @param inputs the batch, by modality.
 * @param labels class ids `[B]`.
 * @param names variables to score (the masked ones), each belonging to a modality under
 *   `model.unitRules("paper").modalityOf` or read only by uni-modal predictions (a shared head).
 */
export function uniModalFisher(
  model: TrainableModel,
  params: Params,
  state: Record<string, tf.Variable>,
  inputs: Record<string, tf.Tensor>,
  labels: ArrayLike<number>,
  names: readonly string[],
  opts: UniModalFisherOptions = {},
): TensorMap {
  const B = labels.length;
  const C = model.numClasses;
  for (const n of names) {
    if (!params[n]) throw new AmssArgumentError(`importance "fisher": no parameter named ${n}`);
  }
  const perModality = opts.perModality ?? mixesModalities(model);
  const K = model.modalities.length;
  const modalityOf = model.unitRules("paper").modalityOf;
  const passes: { names: string[]; k: number | null }[] = perModality
    ? model.modalities.map((m, k) => {
      const own = names.filter((n) => modalityOf(n, params[n].shape) === m);
      return { names: own, k };
    })
    : [{ names: [...names], k: null }];
  if (perModality) {
    const shared = names.filter((n) => modalityOf(n, params[n].shape) === null);
    if (shared.length) {
      throw new AmssArgumentError(
        `importance "fisher": ${
          shared.join(", ")
        } belong to no modality, and this model needs one ` +
          `pass per modality`,
      );
    }
  }
  // differentiate with respect to the float inputs: every recorded layer lies on their path to the
  // loss, and no parameter gradient is computed
  const xs = model.modalities.map((m) => inputs[m]).filter((x) => x?.dtype === "float32");
  const out: TensorMap = {};
  const oneHot = tf.tidy(() =>
    tf.oneHot(tf.tensor1d(Int32Array.from(labels), "int32"), C).asType("float32") as tf.Tensor2D
  );
  try {
    for (const pass of passes) {
      if (pass.names.length === 0) continue;
      const vars = Object.fromEntries(pass.names.map((n) => [n, params[n]]));
      const tape = new FisherTape(vars, B);
      try {
        withFisherTape(tape, () => {
          const loss = () => {
            const o = model.forward(params, state, inputs, { training: true, updateStats: false });
            const ks = pass.k === null ? [...Array(K).keys()] : [pass.k];
            const terms = ks.map((k) => summedNll(o.unimodal[k], oneHot));
            return (terms.length === 1 ? terms[0] : tf.addN(terms)) as tf.Scalar;
          };
          const { value, grads } = xs.length
            ? tf.engine().gradients(loss, xs, undefined, true)
            : (() => {
              const r = tf.variableGrads(loss, Object.values(vars) as tf.Variable[]);
              return { value: r.value, grads: Object.values(r.grads) };
            })();
          value.dispose();
          tf.dispose(grads.filter((g) => g != null));
        });
        Object.assign(out, tape.fisher());
      } finally {
        tape.dispose();
      }
    }
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  } finally {
    oneHot.dispose();
  }
  return out;
}
