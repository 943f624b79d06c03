/**
 * Per-modality gradient coefficients: `global-scale` (Table 1's global-wise coefficient v_k),
 * `mslr` (modality-specific learning rates, "keep" variant) and OGM-GE (Peng et al., CVPR 2022).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModalBatch } from "../amss/significance.ts";
import { Rng, runSeeds } from "../rng.ts";
import type { GradientTransformation, TensorMap } from "../transform.ts";
import { AmssArgumentError, requireFinite, requireInRange } from "../validate.ts";
import { type Method, type MethodContext, variablesByModality } from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of `global-scale` and `mslr`. */
export interface ScalingOptions {
  /** global-scale: gradient coefficient v_k per modality (Table 1, default 1). mslr: lr multipliers. */
  scales?: Record<string, number>;
}

/** Options of `ogm-ge`. */
export interface OgmGeOptions {
  /** ogm-ge: modulation strength alpha (OGM-GE's default 0.1) and whether to add GE noise. */
  alpha?: number;
  /** ogm-ge: add the GE noise (default true). */
  noise?: boolean;
}

/** The schema of {@link ScalingOptions}. */
export const SCALING_SCHEMA: OptionsSchema<ScalingOptions> = {
  scales: { kind: "per-modality", min: 0, max: 1e6 },
};

/** What `ogm-ge` uses for an absent option. */
export const OGM_GE_DEFAULTS: Readonly<Required<OgmGeOptions>> = Object.freeze({
  alpha: 0.1,
  noise: true,
});

/** The schema of {@link OgmGeOptions}. */
export const OGM_GE_SCHEMA: OptionsSchema<OgmGeOptions> = {
  alpha: { kind: "number", min: -1e6, max: 1e6 },
  noise: { kind: "boolean" },
};

/** Multiplies the gradients of each modality's variables by a per-step coefficient. */
function modalityScaling(
  ctx: MethodContext,
  coefficients: (batch: ModalBatch | undefined, step: number) => Record<string, number>,
  noise?: (name: string, g: tf.Tensor, step: number) => tf.Tensor | null,
  report?: string,
): GradientTransformation<null> {
  const owner = new Map<string, string>();
  for (const [m, names] of Object.entries(variablesByModality(ctx))) {
    for (const n of names) owner.set(n, m);
  }
  return {
    init: () => null,
    update(updates, _s, c) {
      const coeff = coefficients(c.extras.batch as ModalBatch | undefined, c.step);
      if (report) c.info[report] = coeff;
      const out: TensorMap = { ...updates };
      for (const [name, g] of Object.entries(updates)) {
        const m = owner.get(name);
        if (m === undefined) continue;
        const k = coeff[m] ?? 1;
        const extra = noise?.(name, g, c.step) ?? null;
        if (k === 1 && !extra) continue;
        out[name] = tf.tidy(() => {
          const scaled = k === 1 ? g.clone() : tf.mul(g, k);
          return extra ? tf.add(scaled, extra) : scaled;
        });
        extra?.dispose();
      }
      return out;
    },
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function softmaxTrueScore(batch: ModalBatch, k: number): number {
  const C = batch.numClasses;
  const x = batch.predictions[k];
  let s = 0;
  for (let i = 0; i < batch.labels.length; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, x[i * C + c]);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(x[i * C + c] - max);
    s += Math.exp(x[i * C + batch.labels[i]] - max) / z;
  }
  return s;
}

/** Builds `global-scale` or `mslr`: a fixed coefficient per modality on its gradients. */
export function createScaling(
  name: "global-scale" | "mslr",
  opts: ScalingOptions,
  ctx: MethodContext,
): Method {
  const { modalities } = ctx;
  const scales = opts.scales ?? {};
  for (const [m, v] of Object.entries(scales)) {
    if (!modalities.includes(m)) {
      throw new AmssArgumentError(`${name}: scales names unknown modality ${m}`);
    }
    requireInRange(`${name}: scales.${m}`, v, 0, Infinity);
  }
  const label = `${name} (${modalities.map((m) => `${m} ${scales[m] ?? 1}`).join(", ")})`;
  // global-scale: Table 1's global-wise coefficient v_k on the gradient. mslr ("keep" variant of
  // modality-specific learning rates): the same arithmetic under plain SGD, a fixed lr
  // multiplier per modality; with momentum/Adam both act on the gradient before the optimizer.
  return { name, label, lossOn: "fused", transform: modalityScaling(ctx, () => scales) };
}

/** Builds `ogm-ge` (two modalities). */
export function createOgmGe(opts: OgmGeOptions, ctx: MethodContext): Method {
  const { modalities } = ctx;
  if (modalities.length !== 2) {
    throw new AmssArgumentError(
      `ogm-ge is defined for two modalities, the model has ${modalities.length}`,
    );
  }
  const alpha = requireFinite("alpha", opts.alpha ?? OGM_GE_DEFAULTS.alpha);
  const noise = opts.noise ?? OGM_GE_DEFAULTS.noise;

  // OGM-GE (Peng et al., CVPR 2022): discrepancy ratio of the summed true-class softmax scores
  // of the uni-modal predictions; the dominant modality's gradient is multiplied by
  // 1 - tanh(alpha * (ratio - 1)); GE adds N(0, std(g)^2) noise to the modulated encoders' conv
  // gradients (as the authors' code, to both encoders).
  const coefficients = (batch: ModalBatch | undefined) => {
    if (!batch) {
      throw new AmssArgumentError("ogm-ge needs extras.batch (uni-modal predictions)");
    }
    const s0 = softmaxTrueScore(batch, 0), s1 = softmaxTrueScore(batch, 1);
    const r0 = s0 / s1, r1 = s1 / s0;
    const c: Record<string, number> = { [modalities[0]]: 1, [modalities[1]]: 1 };
    if (r0 > 1) c[modalities[0]] = 1 - Math.tanh(alpha * (r0 - 1));
    else if (r1 > 1) c[modalities[1]] = 1 - Math.tanh(alpha * (r1 - 1));
    return c;
  };
  // noise seed: a function of (run seed, step, variable), so a resumed run draws the same noise
  const ge = (name: string, g: tf.Tensor, stepNo: number) =>
    noise && g.rank === 4
      ? tf.tidy(() => {
        const std = tf.sqrt(tf.moments(g).variance).add(1e-8);
        const seed = 1 +
          new Rng(runSeeds.stepStream(ctx.seed, stepNo, hash(name))).int(0x7ffffffe);
        return tf.mul(tf.randomNormal(g.shape, 0, 1, "float32", seed), std);
      })
      : null;
  return {
    name: "ogm-ge",
    label: `ogm-ge (alpha ${alpha})`,
    lossOn: "fused",
    transform: modalityScaling(ctx, coefficients, ge, "ogm"),
  };
}
