/**
 * Masked SGD on the synthetic objectives: w(t+1) = w(t) - eta g(t) ⊙ m(t) (paper Eq. 6 for the
 * 0/1 AMSS mask, Eq. 21 for the scaled AMSS+ mask), with the engine's samplers and masks
 * (`src/amss/sampling.ts`, `src/amss/mask.ts`) applied exactly as the engine applies them:
 * per layer l of modality k, unit importance p_j = sum of the squared STOCHASTIC gradient over the
 * unit (importance "gn"), normalised within the layer (uniform when the layer's gradient is all
 * zero), k_l = unitsToKeep(rho_k, C_l) units drawn without replacement, mask value from the scale.
 *
 * Also the step size and the two bounds of the theorems: eta = 1/((1 + nu) L sqrt(T)) and the
 * right-hand sides of Eq. 12 (Theorem 3) and Eq. 25 (Theorem 4).
 *
 * @example
 * ```ts
 * import {
 *   gaussianOracle,
 *   logSumObjective,
 *   maskedSgd,
 *   METHODS,
 *   uniformLayout,
 * } from "@amss-ts/amss/theory";
 * const f = logSumObjective({ layout: uniformLayout(["a", "v"], 1, 16, 4), smoothness: 2, seed: 1 });
 * const res = maskedSgd({
 *   oracle: gaussianOracle(f, { sigma2: 1 }),
 *   method: METHODS["amss+ht"],
 *   ratios: [0.5, 0.75],
 *   T: 1000,
 *   nu: 1,
 *   seed: 7,
 * });
 * res.avgGradNorm2; // (1/T) sum_t ||grad L(w(t))||^2
 * ```
 * @module
 */

import { Rng } from "../rng.ts";
import { type MaskScale, unitMask } from "../amss/mask.ts";
import { type SamplerKind, sampleUnits, unitsToKeep } from "../amss/sampling.ts";
import {
  AmssArgumentError,
  requireFinite,
  requireInRange,
  requireInt,
  requirePositive,
} from "../validate.ts";
import type { Layout } from "./objectives.ts";
import type { GradientOracle } from "./oracle.ts";

/** A mask method: the engine's sampler and scale. `null` stands for plain SGD (no mask). */
export interface MaskConfig {
  /** Sampling design of the units (`"adaptive"` is the paper's and the engine's default). */
  sampler: SamplerKind;
  /** Mask scale: `"none"` = AMSS 0/1, the others AMSS+ (see `src/amss/mask.ts`). */
  scale: MaskScale;
}

/** Names of the methods the simulations compare. */
export type MethodName =
  | "sgd"
  | "amss"
  | "amss+paper"
  | "amss+reference"
  | "amss+ht"
  | "amss+ht-systematic"
  | "uniform"
  | "uniform+ht";

/**
 * The methods: `sgd` (no mask), `amss` (adaptive sampling, 0/1 mask, Eq. 1/7), `amss+paper`
 * (1/p_j, Eq. 5/22 with p the sampling weight), `amss+reference` (1/(p_j + 1/C_l), the authors'
 * code), `amss+ht` (adaptive sampling with its exact Horvitz-Thompson weights: E[m_j] = 1),
 * `amss+ht-systematic` (systematic PPS with weights 1/pi_j), `uniform` (uniform random k-subset,
 * 0/1: the paper's "Random" baseline) and `uniform+ht` (uniform subset, weight C_l / k).
 */
export const METHODS: Readonly<Record<MethodName, MaskConfig | null>> = {
  sgd: null,
  amss: { sampler: "adaptive", scale: "none" },
  "amss+paper": { sampler: "adaptive", scale: "paper" },
  "amss+reference": { sampler: "adaptive", scale: "reference" },
  "amss+ht": { sampler: "adaptive", scale: "horvitz-thompson" },
  "amss+ht-systematic": { sampler: "systematic", scale: "horvitz-thompson" },
  uniform: { sampler: "uniform", scale: "none" },
  "uniform+ht": { sampler: "uniform", scale: "horvitz-thompson" },
};

/**
 * The theorems' step size eta = 1/((1 + nu) L sqrt(T)) (Theorem 3, Eq. 12; Theorem 4, Eq. 25).
 *
 * @example
 * ```ts
 * stepSize(1, 2, 100); // 1 / (2 * 2 * 10) = 0.025
 * ```
 */
export function stepSize(nu: number, L: number, T: number): number {
  requireFinite("nu", nu);
  if (nu < 0) throw new AmssArgumentError(`nu must be >= 0, got ${nu}`);
  requirePositive("L", L);
  requireInt("T", T, 1);
  return 1 / ((1 + nu) * L * Math.sqrt(T));
}

/** The constants entering the bounds of Theorems 3 and 4. */
export interface BoundConstants {
  /** Smoothness constant L (Assumption 1). */
  L: number;
  /** L(w(1)) - inf L (the theorems write L(w(1)) assuming inf L >= 0; ours have inf L = 0). */
  initialGap: number;
  /** nu of Assumption 2 / 4 (the one the step size used). */
  nu: number;
  /** sigma^2 of Assumption 2 / 4. */
  sigma2: number;
  /** Number of steps T. */
  T: number;
}

function checkBound(c: BoundConstants): void {
  requirePositive("L", c.L);
  requireFinite("initialGap", c.initialGap);
  if (c.initialGap < 0) throw new AmssArgumentError(`initialGap must be >= 0, got ${c.initialGap}`);
  requireFinite("nu", c.nu);
  if (c.nu < 0) throw new AmssArgumentError(`nu must be >= 0, got ${c.nu}`);
  requireFinite("sigma2", c.sigma2);
  if (c.sigma2 < 0) throw new AmssArgumentError(`sigma2 must be >= 0, got ${c.sigma2}`);
  requireInt("T", c.T, 1);
}

/**
 * Right-hand side of Theorem 4 (Eq. 25):
 * 2 (1 + nu) L L(w(1)) / sqrt(T) + sigma^2 / ((1 + nu) sqrt(T)).
 *
 * @example
 * ```ts
 * theorem4Bound({ L: 1, initialGap: 1, nu: 0, sigma2: 0, T: 4 }); // 1
 * ```
 */
export function theorem4Bound(c: BoundConstants): number {
  checkBound(c);
  const s = Math.sqrt(c.T);
  return (2 * (1 + c.nu) * c.L * c.initialGap) / s + c.sigma2 / ((1 + c.nu) * s);
}

/**
 * Right-hand side of Theorem 3 (Eq. 12): Theorem 4's bound divided by (1 - delta^2); +Infinity when
 * delta >= 1 (Assumption 3 fails: the theorem gives no bound).
 *
 * @example
 * ```ts
 * theorem3Bound({ L: 1, initialGap: 1, nu: 0, sigma2: 0, T: 4, delta: 0.5 }); // 1 / 0.75
 * ```
 */
export function theorem3Bound(c: BoundConstants & { delta: number }): number {
  const base = theorem4Bound(c);
  requireFinite("delta", c.delta);
  if (c.delta < 0) throw new AmssArgumentError(`delta must be >= 0, got ${c.delta}`);
  return c.delta >= 1 ? Infinity : base / (1 - c.delta * c.delta);
}

/**
 * Normalised unit importance of one layer (engine, Sec. 3.2.2, importance "gn"): p_j = sum over the
 * unit's coordinates of g_i^2, divided by the layer's total; uniform 1/C_l when the total is 0.
 * Returns `[p, allZero]`.
 *
 * @example
 * ```ts
 * import { uniformLayout } from "@amss-ts/amss/theory";
 * const lay = uniformLayout(["a"], 1, 2, 2);
 * layerImportance(lay, 0, Float64Array.from([1, 1, 0, 2])); // [[1/3, 2/3], false]
 * ```
 */
export function layerImportance(
  layout: Layout,
  layer: number,
  g: Float64Array,
): [Float64Array, boolean] {
  const { firstUnit, units } = layout.layers[layer];
  const off = layout.unitOffsets;
  const p = new Float64Array(units);
  let total = 0;
  for (let j = 0; j < units; j++) {
    let s = 0;
    for (let i = off[firstUnit + j]; i < off[firstUnit + j + 1]; i++) s += g[i] * g[i];
    p[j] = s;
    total += s;
  }
  if (!(total > 0)) return [p.fill(1 / units), true];
  if (!Number.isFinite(total)) {
    throw new AmssArgumentError(`importance of layer ${layer} is not finite (gradient overflow)`);
  }
  for (let j = 0; j < units; j++) p[j] /= total;
  return [p, false];
}

/** Checks a per-modality ratio vector against the layout; returns it as an array. */
export function checkRatios(layout: Layout, ratios: ArrayLike<number>): number[] {
  if (!ratios || ratios.length !== layout.modalities.length) {
    throw new AmssArgumentError(
      `ratios must have one entry per modality (${layout.modalities.length}: ${
        layout.modalities.join(", ")
      }), got ${ratios?.length}`,
    );
  }
  const out = Array.from(ratios);
  out.forEach((r, i) => requireInRange(`ratios[${i}]`, r, 0, 1, true));
  return out;
}

/**
 * Units kept per layer: k_l = unitsToKeep(rho of the layer's modality, C_l) (Sec. 3.2.2, ceil).
 *
 * @example
 * ```ts
 * import { uniformLayout } from "@amss-ts/amss/theory";
 * keptPerLayer(uniformLayout(["a", "v"], 1, 10, 1), [0.25, 0.5]); // [3, 5]
 * ```
 */
export function keptPerLayer(
  layout: Layout,
  ratios: ArrayLike<number>,
  rounding: "ceil" | "floor" = "ceil",
): number[] {
  const r = checkRatios(layout, ratios);
  return layout.layers.map((l) => unitsToKeep(r[l.modality], l.units, rounding));
}

/**
 * One layer's unit mask from an importance vector, as the engine computes it: sample k units with
 * `config.sampler` (shortfall filled), mask with `config.scale`; under the paper's 1/p scale a
 * selected zero-importance unit gets 1 (its gradient is zero; the engine does the same).
 */
export function layerUnitMask(
  config: MaskConfig,
  p: Float64Array,
  k: number,
  rng: Rng,
): Float64Array {
  const sample = sampleUnits(config.sampler, p, k, rng, { onShortfall: "fill" });
  if (config.scale !== "paper" || sample.indices.every((j) => p[j] > 0)) {
    return unitMask(config.scale, p, sample);
  }
  const keep = [...sample.indices.keys()].filter((i) => p[sample.indices[i]] > 0);
  const m = unitMask(config.scale, p, {
    ...sample,
    indices: Int32Array.from(keep, (i) => sample.indices[i]),
    weights: Float64Array.from(keep, (i) => sample.weights[i]),
  });
  for (const j of sample.indices) if (p[j] === 0) m[j] = 1;
  return m;
}

/**
 * The per-coordinate mask m(t) for a stochastic gradient g (Eq. 7 for AMSS, Eq. 22 / Eq. 5 and the
 * reference / HT variants for AMSS+): every layer sampled independently from its own importance.
 * `config = null` (plain SGD) gives all ones.
 *
 * @param layout coordinate layout.
 * @param g stochastic gradient (its squares are the importance).
 * @param config mask method, or null.
 * @param k units kept per layer (from {@link keptPerLayer}).
 * @param rng sampling generator.
 * @param out receives the mask (allocated when omitted).
 * @example
 * ```ts
 * import { Rng } from "@amss-ts/amss";
 * import { uniformLayout } from "@amss-ts/amss/theory";
 * const lay = uniformLayout(["a"], 1, 4, 2);
 * const g = Float64Array.from([1, 0, 2, 0, 0, 3, 1, 1]);
 * drawMask(lay, g, METHODS.amss, [2], new Rng(1)); // two units' coordinates set to 1
 * ```
 */
export function drawMask(
  layout: Layout,
  g: Float64Array,
  config: MaskConfig | null,
  k: readonly number[],
  rng: Rng,
  out?: Float64Array,
): Float64Array {
  const m = out ?? new Float64Array(layout.dim);
  if (config === null) return m.fill(1);
  const off = layout.unitOffsets;
  layout.layers.forEach((layer, li) => {
    const [p] = layerImportance(layout, li, g);
    const um = layerUnitMask(config, p, k[li], rng);
    for (let j = 0; j < layer.units; j++) {
      const u = layer.firstUnit + j;
      m.fill(um[j], off[u], off[u + 1]);
    }
  });
  return m;
}

/** Options of {@link maskedSgd}. */
export interface MaskedSgdOptions {
  /** The stochastic gradient oracle (carries the objective). */
  oracle: GradientOracle;
  /** Mask method ({@link METHODS}); null for plain SGD. */
  method: MaskConfig | null;
  /** Update ratio rho_k per modality, in (0, 1] (ignored for plain SGD; default all 1). */
  ratios?: ArrayLike<number>;
  /** Number of steps T, integer >= 1. */
  T: number;
  /** nu of Assumption 2/4 for the step size eta = 1/((1 + nu) L sqrt(T)); default 0. */
  nu?: number;
  /** Explicit step size (overrides nu). */
  eta?: number;
  /** Seed of the oracle noise and of the mask sampling (two independent streams). */
  seed: number;
  /** Number of iterates w(t) to keep, evenly spaced over t = 1..T (t = 1 first); default 0. */
  keepPoints?: number;
  /** Units kept per layer: ceil (paper, default) or floor. */
  rounding?: "ceil" | "floor";
}

/** Result of {@link maskedSgd}. */
export interface MaskedSgdResult {
  /** Number of steps. */
  T: number;
  /** Step size used. */
  eta: number;
  /** (1/T) sum_{t=1}^T ||grad L(w(t))||^2: the left-hand side of Eq. 12 / Eq. 25 (one run). */
  avgGradNorm2: number;
  /** ||grad L(w(t))||^2 for t = 1..T (index t - 1). */
  gradNorm2: Float64Array;
  /** L(w(1)). */
  initialValue: number;
  /** L(w(T + 1)) (NaN when diverged). */
  finalValue: number;
  /** Kept iterates, with their step index t (1-based). */
  points: { t: number; w: Float64Array }[];
  /** True when an iterate became non-finite (the run stops; avgGradNorm2 is then +Infinity). */
  diverged: boolean;
  /** Largest mask value applied (the variance of AMSS+ weights). */
  maxMask: number;
}

/**
 * Runs T steps of masked SGD from the objective's start w(1) (Eq. 6 / Eq. 21) and records
 * ||grad L(w(t))||^2 at every step (the exact gradient comes free with the oracle's draw).
 *
 * @example
 * ```ts
 * import { gaussianOracle, quadraticObjective, uniformLayout } from "@amss-ts/amss/theory";
 * const f = quadraticObjective({ layout: uniformLayout(["a"], 1, 8, 2), smoothness: 1, seed: 0 });
 * const r = maskedSgd({ oracle: gaussianOracle(f, { sigma2: 0 }), method: null, T: 100, seed: 1 });
 * ```
 */
export function maskedSgd(opts: MaskedSgdOptions): MaskedSgdResult {
  const { oracle, method } = opts;
  if (!oracle || !oracle.objective) {
    throw new AmssArgumentError("opts.oracle must be a GradientOracle");
  }
  const f = oracle.objective;
  const layout = f.layout;
  const T = requireInt("opts.T", opts.T, 1);
  const ratios = opts.ratios ?? layout.modalities.map(() => 1);
  const k = keptPerLayer(layout, ratios, opts.rounding ?? "ceil");
  const eta = opts.eta !== undefined
    ? requirePositive("opts.eta", opts.eta)
    : stepSize(opts.nu ?? 0, f.smoothness, T);
  requireFinite("opts.seed", opts.seed);
  const keep = requireInt("opts.keepPoints", opts.keepPoints ?? 0, 0, T);
  const keepAt = new Set<number>();
  for (let i = 0; i < keep; i++) {
    keepAt.add(keep === 1 ? 1 : 1 + Math.round(((T - 1) * i) / (keep - 1)));
  }
  const base = new Rng(opts.seed);
  const noiseRng = base.fork();
  const maskRng = base.fork();
  const d = f.dim;
  const w = f.start.slice();
  const g = new Float64Array(d);
  const grad = new Float64Array(d);
  const m = new Float64Array(d);
  const gradNorm2 = new Float64Array(T);
  const points: { t: number; w: Float64Array }[] = [];
  const initialValue = f.value(w);
  let sum = 0;
  let diverged = false;
  let maxMask = 0;
  for (let t = 1; t <= T; t++) {
    if (keepAt.has(t)) points.push({ t, w: w.slice() });
    oracle.sample(w, noiseRng, g, grad);
    let gn = 0;
    for (let i = 0; i < d; i++) gn += grad[i] * grad[i];
    if (!Number.isFinite(gn)) {
      diverged = true;
      break;
    }
    gradNorm2[t - 1] = gn;
    sum += gn;
    if (method === null) {
      for (let i = 0; i < d; i++) w[i] -= eta * g[i]; // Eq. 6 with m = 1
    } else {
      drawMask(layout, g, method, k, maskRng, m);
      for (let i = 0; i < d; i++) {
        w[i] -= eta * g[i] * m[i]; // Eq. 6 (0/1 mask) / Eq. 21 (scaled mask)
        if (m[i] > maxMask) maxMask = m[i];
      }
    }
  }
  if (method === null) maxMask = 1;
  return {
    T,
    eta,
    avgGradNorm2: diverged ? Infinity : sum / T,
    gradNorm2,
    initialValue,
    finalValue: diverged ? NaN : f.value(w),
    points,
    diverged,
    maxMask,
  };
}
