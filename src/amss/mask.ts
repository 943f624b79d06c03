/**
 * Per-unit gradient masks of AMSS (paper Eq. 1: 0/1) and AMSS+ (Eq. 5: a scale on the selected
 * units), in the three AMSS+ variants we keep apart:
 *
 * - `"none"`: AMSS, m_j = 1 for selected units (Eq. 1).
 * - `"paper"`: AMSS+ as written, m_j = 1/p_j (Eq. 5). Not unbiased for k > 1: E[m_j] = pi_j / p_j
 *   and sum_j p_j E[m_j] = k (App. A.2 needs 1/pi_j, with pi_j the inclusion probability).
 * - `"reference"`: the authors' code, m_j = 1/(p_j + 1/C_l), C_l the number of units in the layer
 *   (for uniform p: E[m_j] = k/2).
 * - `"horvitz-thompson"`: m_j = the sample's HT weight (1/pi_j or its rank-conditioning
 *   equivalent), so E[m_j] = 1 for every unit with p_j > 0: the unbiased mask App. A.2 asks for.
 *
 * Each layer is one sampling group here: p_j = F_j / sum F is normalised within the layer
 * (Sec. 3.2.2 writes the sum over the modality's whole parameter vector; with per-layer sampling
 * of ceil(rho C_l) units the per-layer normalisation is the one that makes p a sampling law).
 *
 * @example
 * ```ts
 * import { Rng, sampleUnits, unitMask } from "@amss-ts/amss";
 * const p = [0.4, 0.3, 0.2, 0.1];
 * const s = sampleUnits("systematic", p, 2, new Rng(5));
 * const m = unitMask("horvitz-thompson", p, s); // E[m_j] = 1 for every j
 * ```
 * @module
 */

import type { SamplerKind, UnitSample } from "./sampling.ts";
import { AmssArgumentError, requireNonNegativeVector, requireOneOf } from "../validate.ts";

/**
 * The AMSS/AMSS+ mask scale: `"none"` (AMSS, Eq. 1), `"paper"` (Eq. 5, 1/p_j), `"reference"`
 * (authors' code, 1/(p_j + 1/C_l)), `"horvitz-thompson"` (the sample's HT weights; unbiased).
 */
export type MaskScale = "none" | "paper" | "reference" | "horvitz-thompson";

/** Every {@link MaskScale}, for validation and command lines. */
export const MASK_SCALES: readonly MaskScale[] = ["none", "paper", "reference", "horvitz-thompson"];

/** Options of {@link unitMask}. */
export interface UnitMaskOptions {
  /** The design that drew `sample`, when `sample.kind` is not set (used to refuse HT with topk). */
  kind?: SamplerKind;
}

/**
 * The mask of one layer (one sampling group): a vector of length n = p.length with 0 for
 * unselected units and the scale for selected ones (see {@link MaskScale}). p is normalised to sum
 * 1 within the layer.
 *
 * Errors (AmssArgumentError):
 * - `"paper"` with a selected unit of p_j = 0: its scale 1/p_j is infinite. This only happens when
 *   such a unit can be selected at all: `onShortfall: "fill"` or uniform sampling. We throw rather
 *   than invent a finite weight; use `"horvitz-thompson"` or `"reference"` there.
 * - `"horvitz-thompson"` with a top-k sample: top-k is deterministic, unselected units have
 *   inclusion probability 0, so no weight can make it unbiased.
 * - `"paper"` or `"reference"` with an all-zero p (the normalisation is undefined); indices out of
 *   range or repeated; weights not finite and > 0 (HT).
 *
 * @param scale the mask scale.
 * @param p the layer's unit importances (finite, >= 0; not all zero for "paper"/"reference").
 * @param sample the selected units, from a sampler in `sampling.ts` (or hand-made).
 * @param opts `kind` of the design when `sample.kind` is absent.
 * @example
 * ```ts
 * const s = { indices: Int32Array.from([0, 2]), weights: Float64Array.from([1.5, 2]) };
 * unitMask("none", [1, 1, 2], s); // [1, 0, 1]
 * unitMask("paper", [1, 1, 2], s); // [4, 0, 2]
 * unitMask("reference", [1, 1, 2], s); // [1/(0.25 + 1/3), 0, 1/(0.5 + 1/3)]
 * unitMask("horvitz-thompson", [1, 1, 2], s); // [1.5, 0, 2]
 * ```
 */
export function unitMask(
  scale: MaskScale,
  p: ArrayLike<number>,
  sample: UnitSample,
  opts: UnitMaskOptions = {},
): Float64Array {
  requireOneOf<MaskScale>("scale", scale, MASK_SCALES);
  const total = requireNonNegativeVector("p", p);
  const n = p.length;
  const { indices, weights } = sample;
  if (weights.length !== indices.length) {
    throw new AmssArgumentError(
      `sample.weights must have the length of sample.indices (${indices.length}), got ${weights.length}`,
    );
  }
  const kind = sample.kind ?? opts.kind;
  if (scale === "horvitz-thompson" && kind === "topk") {
    throw new AmssArgumentError(
      'scale "horvitz-thompson" is undefined for a "topk" sample: top-k is deterministic and ' +
        "unselected units have inclusion probability 0, so no weight makes it unbiased",
    );
  }
  let max = 0;
  for (let i = 0; i < n; i++) if (p[i] > max) max = p[i];
  if ((scale === "paper" || scale === "reference") && max === 0) {
    throw new AmssArgumentError(
      `p must not be all zero for scale ${JSON.stringify(scale)} (p is normalised to sum 1)`,
    );
  }
  // sum of p / max: normalising by the max first avoids overflow of huge importances
  let sum = 0;
  if (max > 0) {
    if (Number.isFinite(total)) sum = total / max;
    else for (let i = 0; i < n; i++) sum += p[i] / max;
  }
  const mask = new Float64Array(n);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (!Number.isInteger(j) || j < 0 || j >= n) {
      throw new AmssArgumentError(
        `sample.indices[${i}] must be an integer in [0, ${n - 1}], got ${j}`,
      );
    }
    if (mask[j] !== 0) {
      throw new AmssArgumentError(`sample.indices must be distinct, unit ${j} appears twice`);
    }
    const pj = max > 0 ? p[j] / max / sum : 0;
    let m: number;
    switch (scale) {
      case "none":
        m = 1;
        break;
      case "paper":
        if (!(pj > 0) || !Number.isFinite(1 / pj)) {
          throw new AmssArgumentError(
            `p[${j}] is ${
              p[j]
            } (normalised ${pj}) but unit ${j} was selected: scale "paper" (1/p_j) ` +
              "would be infinite; " +
              'this happens only with onShortfall "fill" or uniform sampling, use "horvitz-thompson" or "reference"',
          );
        }
        m = 1 / pj;
        break;
      case "reference":
        m = 1 / (pj + 1 / n);
        break;
      case "horvitz-thompson": {
        const w = weights[i];
        if (!Number.isFinite(w) || !(w > 0)) {
          throw new AmssArgumentError(`sample.weights[${i}] must be finite and > 0, got ${w}`);
        }
        m = w;
        break;
      }
    }
    mask[j] = m;
  }
  return mask;
}

/**
 * Defensive mixture of an importance vector with the uniform law:
 * p'_j = (1 - eps) p_j / sum(p) + eps / n, eps in [0, 1] (eps = 0: p normalised; eps = 1: uniform).
 * Sampling with p' and masking with the HT weights of p' stays exactly unbiased, and every p'_j is
 * at least eps / n, which keeps exact HT weights 1/pi_j below about n / (eps k): for systematic
 * sampling exactly (pi_j >= min(1, k eps / n)). The rank-conditioning weights of adaptive sampling
 * are not bounded by this (they depend on the random threshold), only typically of that size.
 *
 * @param p importances, finite and >= 0; not all zero unless eps = 1.
 * @param eps mixing weight in [0, 1].
 * @example
 * ```ts
 * defensiveMixture([3, 1, 0, 0], 0.2); // [0.65, 0.25, 0.05, 0.05]
 * ```
 */
export function defensiveMixture(p: ArrayLike<number>, eps: number): Float64Array {
  if (typeof eps !== "number" || !(eps >= 0 && eps <= 1)) {
    throw new AmssArgumentError(`eps must be in [0, 1], got ${eps}`);
  }
  requireNonNegativeVector("p", p);
  const n = p.length;
  let max = 0;
  for (let i = 0; i < n; i++) if (p[i] > max) max = p[i];
  const out = new Float64Array(n);
  if (max === 0) {
    if (eps !== 1) {
      throw new AmssArgumentError(
        `p must not be all zero for eps = ${eps} < 1 (p / sum(p) is undefined); only eps = 1 allows it`,
      );
    }
    return out.fill(1 / n);
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] / max;
  for (let i = 0; i < n; i++) out[i] = ((1 - eps) * (p[i] / max)) / sum + eps / n;
  return out;
}
