/**
 * Small helpers shared by several test files (model inputs, disposal, float64 references,
 * element-wise comparison, seeded parameter values, seeded uniform samples, one AMSS update with
 * its typed report, the plain-TS unit of a flat element, a significance batch of given confidences).
 */
import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals } from "@std/assert";
import type { Model, ModelOutputs } from "../src/models/model.ts";
import { modalityByPrefix, paperUnits } from "../src/amss/groups.ts";
import { makeOwnTempDirSync } from "../src/backend/hygiene.ts";
import { Rng } from "../src/rng.ts";
import type { MethodContext } from "../src/train/methods.ts";
import type { AmssExtras, AmssInfo, AmssState } from "../src/amss/amss_config.ts";
import type { UnitSpec } from "../src/amss/units.ts";
import type { ModalBatch } from "../src/types.ts";
import type { GradientTransformation, Params, TensorMap } from "../src/transform.ts";

/** Seeded N(0, 1) inputs `[batch, ...inputShape]` for every encoder of a model. */
export function inputsFor(model: Model, seed: number, batch: number): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  model.encoders.forEach((e, k) => {
    out[e.modality] = tf.randomNormal([batch, ...e.inputShape], 0, 1, "float32", seed + 17 * k + 1);
  });
  return out;
}

/** Disposes every tensor of the given maps. */
export function disposeAll(...maps: Record<string, tf.Tensor>[]): void {
  for (const m of maps) for (const t of Object.values(m)) t.dispose();
}

/** Disposes a forward pass's outputs. */
export function disposeOut(out: ModelOutputs): void {
  tf.dispose([out.logits, ...out.unimodal, ...out.features]);
}

/** A tensor's values. */
export async function arr(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

/** Row-major `[n, p] = [n, m] x [m, p]` in float64. */
export function matmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n: number,
  m: number,
  p: number,
) {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      for (let j = 0; j < p; j++) out[i * p + j] += a[i * m + k] * b[k * p + j];
    }
  }
  return out;
}

/** max |a - b| / max |b| (max |a - b| when b is all zero). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length, "length");
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

/**
 * Element-wise `|actual[i] - expected[i]| <= tol (1 + |expected[i]|)` (a relative tolerance with
 * an absolute floor of `tol`), after checking the lengths agree; `msg` prefixes each failure.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol = 1e-5,
  msg = "",
): void {
  assertEquals(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < actual.length; i++) {
    assertAlmostEquals(actual[i], expected[i], tol * (1 + Math.abs(expected[i])), `${msg}[${i}]`);
  }
}

/**
 * Gives every parameter of `params` whose name matches `re` seeded N(0, std^2) values, the k-th
 * match seeded `seed + k` (k from 1, in `params`' key order); parameters not matched (biases, in
 * the tests' use) keep their values.
 */
export function randomize(params: Params, re: RegExp, seed: number, std = 0.5): void {
  let s = seed;
  for (const [name, v] of Object.entries(params)) {
    if (re.test(name)) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, std, "float32", ++s)));
  }
}

/** n seeded standard-normal floats. */
export function randn(n: number, seed: number): Float32Array {
  const rng = new Rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

/** n seeded float32 values drawn uniformly between lo and hi. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.float());
}

/** A method context over `params` for modalities named by prefix (`a/...`, `v/...`), paper units. */
export function methodContext(
  params: Params,
  names: string[] = ["a", "v"],
  extra: Partial<MethodContext> = {},
): MethodContext {
  return {
    modalities: names,
    params,
    rules: () => ({ modalities: names, modalityOf: modalityByPrefix(names), unitOf: paperUnits }),
    seed: 1,
    ...extra,
  };
}

/**
 * A fresh temporary folder (under `$TMPDIR`, else /tmp), removed with its contents when this test
 * module ends (its isolate unloads), whether its tests passed or failed.
 */
export function tempDir(prefix: string): string {
  return makeOwnTempDirSync({ prefix });
}

/**
 * Variables of `shapes` (zeros) and fixed gradients whose elements have a random sign and a
 * magnitude in [0.6, 1.4] (per-unit importances within a factor of ~5, so every unit is drawn
 * often by the AMSS samplers): the raw values `g`, the variables and the gradient tensors.
 */
export function signedGradients(
  shapes: Record<string, number[]>,
  rng: Rng,
): { g: Record<string, Float32Array>; params: Params; grads: Record<string, tf.Tensor> } {
  const g = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [
      k,
      Float32Array.from(
        { length: sh.reduce((a, b) => a * b, 1) },
        () => (rng.float() < 0.5 ? -1 : 1) * (0.6 + 0.8 * rng.float()),
      ),
    ]),
  );
  const params: Params = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [k, tf.tidy(() => tf.variable(tf.zeros(sh)))]),
  );
  const grads = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [k, tf.tensor(g[k], sh)]),
  );
  return { g, params, grads };
}

/**
 * One `update` of an AMSS transformation at `step` (the updates are returned, not applied): the
 * updates and AMSS's typed report. The caller disposes the updates that are not its gradients.
 */
export async function amssUpdate(
  opt: GradientTransformation<AmssState>,
  state: AmssState,
  params: Params,
  grads: TensorMap,
  step: number,
  extras: AmssExtras,
): Promise<{ out: TensorMap; info: AmssInfo }> {
  const info: Record<string, unknown> = {};
  const ctx = { params, grads, step, extras: extras as Record<string, unknown>, info };
  const out = await opt.update({ ...grads }, state, ctx);
  return { out, info: info.amss as AmssInfo };
}

/**
 * Plain-TS reference, independent of the library's reshape: the unit that flat element `i` of a
 * variable of `shape` belongs to under `spec`, coordinate by coordinate.
 */
export function unitOf(i: number, shape: readonly number[], spec: UnitSpec): number {
  if (spec.kind === "element") return i;
  const axis = ((spec.axis ?? -1) + shape.length) % shape.length;
  const after = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const coord = Math.floor(i / after) % shape[axis];
  return spec.kind === "channel" ? coord : Math.floor(coord / (shape[axis] / spec.heads));
}

/**
 * A significance batch of 12 samples and 3 classes (labels 0, 1, 2, ...) in which modality k's
 * uni-modal logits are `hits[k]` on the label and 0 elsewhere: a larger hit gives a larger
 * Barber-Agakov bound (Eq. 2) and, by Eq. 4, a smaller update ratio.
 */
export function labelHitBatch(hits: readonly number[]): ModalBatch {
  const B = 12, C = 3;
  const labels = Int32Array.from({ length: B }, (_, i) => i % C);
  const logits = (hit: number) => {
    const out = new Float32Array(B * C);
    for (let i = 0; i < B; i++) out[i * C + labels[i]] = hit;
    return out;
  };
  return { labels, numClasses: C, predictions: hits.map(logits), predictionKind: "logits" };
}
