/**
 * Mask units and their importance, on the tfjs backend (paper Sec. 3.2.2 and Appendix C.2).
 *
 * A mask unit is the smallest piece of a variable that is sampled as a whole:
 * - `element`: every scalar is its own unit (C_l = size), the paper's default for "other architectures";
 * - `channel`: one slice along an axis, by default the LAST axis, which for a tfjs conv kernel
 *   `[kh, kw, in, out]` is the output channel (the paper's PyTorch `[O, I, H, W]` unit, C_l = O);
 * - `heads`: an axis of size `heads * d` split into `heads` contiguous blocks (an attention head's
 *   slice of a Q/K/V projection `[dModel, heads*d]` is axis 1, of the output projection
 *   `[heads*d, dModel]` axis 0). Several variables may share one head group (Appendix C.2 sums a
 *   head's importance over its Q, K, V and output slices).
 *
 * Every unit view is the reshape `[pre, units, post]` of the variable, so reductions and masks are
 * one reshape plus one reduction or one broadcast multiply: no gather, no per-parameter download.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { AmssArgumentError, requireInt } from "../validate.ts";

/** How a variable splits into mask units. */
export type UnitSpec =
  | { kind: "element" }
  | { kind: "channel"; axis?: number }
  | { kind: "heads"; heads: number; axis: number };

/** Importance score per unit (Sec. 3.2.2: diagonal empirical Fisher, summed over the unit).
 * - `gn`: sum of squared gradients of the unit (the authors' code: squared mini-batch gradient);
 * - `gn/wn`: that sum divided by the unit's sum of squared weights (+1e-12), a relative-change score;
 * - `sqrt(gn)`: the unit's gradient L2 norm;
 * - `fisher`: the paper's F_j = (1/B) sum_i g_ij^2 of the uni-modal log-likelihood (per-sample
 *   squared gradients, ./fisher.ts), summed over the unit. */
export type ImportanceMode = "gn" | "gn/wn" | "sqrt(gn)" | "fisher";

/** Every {@link ImportanceMode}, for validation. */
export const IMPORTANCE_MODES: readonly ImportanceMode[] = ["gn", "gn/wn", "sqrt(gn)", "fisher"];

/** The `[pre, units, post]` view of a variable under a unit spec. */
export interface UnitLayout {
  pre: number;
  units: number;
  post: number;
}

/** Computes the `[pre, units, post]` view of `shape` for `spec`; errors name `what`. */
export function unitLayout(
  shape: readonly number[],
  spec: UnitSpec,
  what = "variable",
): UnitLayout {
  const size = shape.reduce((a, b) => a * b, 1);
  if (spec.kind === "element") return { pre: 1, units: size, post: 1 };
  const rank = shape.length;
  if (rank === 0) {
    throw new AmssArgumentError(`${what}: a scalar has no axis for a ${spec.kind} unit`);
  }
  const rawAxis = spec.axis ?? -1;
  const axis = rawAxis < 0 ? rank + rawAxis : rawAxis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    throw new AmssArgumentError(
      `${what}: unit axis ${rawAxis} is out of range for shape [${shape.join(", ")}]`,
    );
  }
  const pre = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const after = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (spec.kind === "channel") return { pre, units: shape[axis], post: after };
  requireInt(`${what}: heads`, spec.heads, 1);
  if (shape[axis] % spec.heads !== 0) {
    throw new AmssArgumentError(
      `${what}: axis ${axis} of size ${shape[axis]} does not split into ${spec.heads} heads`,
    );
  }
  return { pre, units: spec.heads, post: (shape[axis] / spec.heads) * after };
}

/**
 * Sum of squares of `x` over each unit, shape `[units]` (one number per unit).
 * Must be called inside `tf.tidy` or the result disposed by the caller.
 */
export function unitSumSquares(x: tf.Tensor, spec: UnitSpec): tf.Tensor1D {
  return unitSum(tf.square(x), spec);
}

/**
 * Sum of `sq` (already squared values, e.g. a per-element Fisher) over each unit, shape `[units]`.
 * Must be called inside `tf.tidy` or the result disposed by the caller.
 */
export function unitSum(sq: tf.Tensor, spec: UnitSpec): tf.Tensor1D {
  const { pre, units, post } = unitLayout(sq.shape, spec);
  if (spec.kind === "element") return sq.reshape([units]);
  // Sums over the leading axis as an average pool with the unit as the (innermost) channel axis:
  // on wasm a pool is one pass over memory, while tf.sum over a non-innermost axis first
  // transposes the whole tensor.
  // (n as a float32 scalar: a JS number would be an int32 tensor plus a Cast per call)
  const sumLeading = (t: tf.Tensor, n: number, c: number): tf.Tensor1D =>
    n === 1 ? t.reshape([c]) : tf.mul(
      tf.avgPool(t.reshape([1, n, 1, c]) as tf.Tensor4D, [n, 1], [n, 1], "valid"),
      tf.scalar(n, "float32"),
    ).reshape([c]);
  if (post === 1) return sumLeading(sq, pre, units);
  const inner = tf.sum(sq.reshape([pre * units, post]), 1); // innermost axis: no transpose
  return sumLeading(inner, pre, units);
}

/**
 * Importance of the units of one mask group from its members' gradients (and weights, for
 * `gn/wn`): squared sums are added over the members first (Appendix C.2 sums a head's importance
 * over its Q, K, V and output slices), then the mode is applied. Call inside `tf.tidy`.
 */
export function groupImportance(
  members: readonly { grad: tf.Tensor; weight?: tf.Tensor; fisher?: tf.Tensor; spec: UnitSpec }[],
  mode: ImportanceMode,
): tf.Tensor1D {
  const sum = (ts: tf.Tensor1D[]) => ts.length === 1 ? ts[0] : tf.addN(ts) as tf.Tensor1D;
  if (mode === "fisher") {
    return sum(members.map((m) => {
      if (!m.fisher) {
        throw new AmssArgumentError(`importance "fisher" needs the variables' per-element Fisher`);
      }
      return unitSum(m.fisher, m.spec);
    }));
  }
  const gn = sum(members.map((m) => unitSumSquares(m.grad, m.spec)));
  switch (mode) {
    case "gn":
      return gn;
    case "sqrt(gn)":
      return tf.sqrt(gn);
    case "gn/wn": {
      const ws = members.map((m) => {
        if (!m.weight) {
          throw new AmssArgumentError(`importance "gn/wn" needs the variables' weights`);
        }
        return unitSumSquares(m.weight, m.spec);
      });
      return tf.div(gn, tf.add(sum(ws), 1e-12));
    }
  }
}

/**
 * Multiplies `x` by a per-unit scale (`scale` of shape `[units]`), broadcasting each unit's number
 * over the unit's slice. Must be called inside `tf.tidy` or the result disposed by the caller.
 */
export function applyUnitScale(x: tf.Tensor, scale: tf.Tensor1D, spec: UnitSpec): tf.Tensor {
  const { pre, units, post } = unitLayout(x.shape, spec);
  if (scale.size !== units) {
    throw new AmssArgumentError(`unit scale has ${scale.size} entries, expected ${units}`);
  }
  if (spec.kind === "element") return tf.mul(x, x.rank === 1 ? scale : scale.reshape(x.shape));
  // a channel unit on the last axis: [units] broadcasts as is, no reshapes
  if (spec.kind === "channel" && post === 1 && x.shape[x.rank - 1] === units) {
    return tf.mul(x, scale);
  }
  return tf.mul(x.reshape([pre, units, post]), scale.reshape([1, units, 1])).reshape(x.shape);
}
