/**
 * Claim 4 (paper Sec. 3.3 Eq. 5, App. A.2 Eq. 22): "the AMSS+ mask m_hat_j = 1/p_j makes
 * g ⊙ m_hat an unbiased estimate of g".
 *
 * App. A.2 proves E[g ⊙ m_hat] = g for m_hat_j = 1/p_j with p_j = P(unit j ∈ S), the INCLUSION
 * probability (Eq. 22). Eq. 5 and Sec. 3.2.2 use p_j = F_j / sum F, the SAMPLING weight of
 * successive sampling without replacement, and the reference code uses 1/(p_j + 1/C). The two
 * p's coincide only for k = 1. This module computes E[m_j] = pi_j * scale_j EXACTLY for the 0/1,
 * 1/p and 1/(p + 1/C) scales (inclusion probabilities from
 * {@link successiveInclusionProbabilities} / {@link systematicInclusionProbabilities}, the scale
 * from the engine's {@link unitMask}), and checks these expectations and E[m_j] = 1 for the
 * Horvitz-Thompson (HT) mask by Monte Carlo through the engine's samplers and masks with a CLT
 * tolerance. For HT there is no exact figure: pi_j * (1/pi_j) = 1 is an identity, not evidence;
 * only the Monte-Carlo mean of the engine's HT masks could have come out otherwise.
 *
 * Figures per configuration (importance profile, how p relates to g, design, k/n):
 * gain = <E[g ⊙ m], g> / ||g||^2 (1 for an unbiased mask) and direction error = the angle between
 * E[g ⊙ m] and g (0 for an unbiased mask; a pure rescaling has angle 0 but gain != 1).
 *
 * Verdict rule ({@link unbiasednessVerdict}). The claim is universal (unbiased for every g and p at
 * the paper's k = ceil(rho C) units), so one configuration suffices to refute it: FAILS when, in
 * some configuration with k > 1, the exact relative bias ||E[g ⊙ m_hat] - g|| / ||g|| of the
 * Eq. 5 mask exceeds the numerical accuracy {@link EXACT_TOL} of the inclusion probabilities;
 * HOLDS when it stays within it everywhere. (k = 1, where pi_j = p_j, is not the paper's setting:
 * Eq. 4 gives rho between 0 and 1 and Sec. 3.2.2 keeps ceil(rho C_l) units.) The Monte-Carlo
 * checks are controls of the exact figures: a |z| above {@link Z_MAX} throws.
 *
 * @module
 */

import type { Claim, ClaimOptions, ClaimResult, Plot, Verdict } from "../claim.ts";
import { Rng } from "../../src/rng.ts";
import {
  sampleUnits,
  systematicInclusionProbabilities,
  type UnitSample,
  unitsToKeep,
} from "../../src/amss/sampling.ts";
import { successiveInclusionProbabilities } from "../../src/theory/inclusion.ts";
import { type MaskScale, unitMask } from "../../src/amss/mask.ts";
import { linePlot } from "../../src/report/svg.ts";
import { fmt } from "./_common.ts";

/** Importance profiles of the units. */
type ImportanceProfile = "uniform" | "mild" | "heavy";

/** How the sampling weights p relate to the gradient g. */
type PMode = "g2" | "independent";

/** The designs checked: the engine's successive sampling (Sec. 3.2.2) and systematic PPS. */
type Design = "adaptive" | "systematic";

const PROFILES: readonly ImportanceProfile[] = ["uniform", "mild", "heavy"];
const PROFILE_LABEL: Record<ImportanceProfile, string> = {
  uniform: "uniform",
  mild: "mildly skewed (log-normal σ=0.5)",
  heavy: "heavy-tailed (Pareto α=1.1)",
};
const PMODES: readonly PMode[] = ["g2", "independent"];
const PMODE_LABEL: Record<PMode, string> = {
  g2: "p ∝ ||g_j||² (engine)",
  independent: "p independent of g",
};
const SCALES: readonly MaskScale[] = ["none", "paper", "reference", "horvitz-thompson"];
/** The scales with an exact expectation pi_j * scale_j (HT is checked by Monte Carlo only). */
type ExactScale = "none" | "paper" | "reference";
const EXACT_SCALES: readonly ExactScale[] = ["none", "paper", "reference"];
const SCALE_LABEL: Record<MaskScale, string> = {
  none: "0/1 (AMSS)",
  paper: "1/p (paper Eq. 5)",
  reference: "1/(p+1/C) (reference)",
  "horvitz-thompson": "1/π (Horvitz-Thompson)",
};
/** Coordinates per unit (a unit is e.g. one conv output channel). */
const UNIT_DIM = 4;
/**
 * |z| above which a Monte-Carlo mean is declared inconsistent with its expectation, where
 * z = (mean - expectation) / (sd / sqrt(M)) over M draws: the tolerance on the mean is Z_MAX
 * standard errors, sd / sqrt(M). Under the CLT P(|z| > 5) ≈ 5.7e-7 per check.
 */
export const Z_MAX = 5;
/**
 * Numerical accuracy of an exact relative bias: the inclusion probabilities are accurate to about
 * 1e-11 absolute (quadrature, see {@link successiveInclusionProbabilities}), and E[m_j] = pi_j / p_j
 * divides that by p_j, which is above 1e-5 in the configurations here (reported as
 * `min_sampling_weight`).
 */
export const EXACT_TOL = 1e-6;

/** The measured numbers {@link unbiasednessVerdict} decides on. */
export interface UnbiasednessEvidence {
  /**
   * Exact relative bias ||E[g ⊙ m_hat] - g|| / ||g|| of the Eq. 5 mask 1/p_j, one per configuration
   * with k > 1 (the paper's setting).
   */
  paperRelBias: readonly number[];
}

/**
 * The verdict rule of this claim (see the module doc): App. A.2 Eq. 22-23 require E[m_hat_j] = 1.
 *
 * @throws {Error} when no configuration was measured.
 */
export function unbiasednessVerdict(e: UnbiasednessEvidence): Verdict {
  if (e.paperRelBias.length === 0) throw new Error("unbiasedness: no configuration measured");
  return e.paperRelBias.some((b) => !(b <= EXACT_TOL)) ? "FAILS" : "HOLDS";
}

/** One exactly computed configuration. */
interface ExactRow {
  n: number;
  profile: ImportanceProfile;
  pmode: PMode;
  design: Design;
  /** Requested k/n. */
  ratio: number;
  /** Units kept, ceil(ratio * n) (Sec. 3.2.2). */
  k: number;
  scale: ExactScale;
  /** <E[g ⊙ m], g> / ||g||^2. */
  gain: number;
  /** Angle between E[g ⊙ m] and g, degrees. */
  angleDeg: number;
  /** ||E[g ⊙ m] - g|| / ||g|| (the delta of Assumption 3). */
  relBias: number;
  /** max_j |E[m_j] - 1| over units with p_j > 0. */
  maxMaskBias: number;
}

/**
 * One Monte-Carlo check: a linear functional of m, its expectation (exact for the biased scales,
 * the unbiasedness target E[m_j] = 1 for HT) and its sample mean.
 */
interface McRow {
  profile: ImportanceProfile;
  pmode: PMode;
  design: Design;
  ratio: number;
  scale: MaskScale;
  functional: "gain" | "random";
  expectation: number;
  mean: number;
  /** (mean - expectation) / (sd / sqrt(M)). */
  z: number;
}

/** A layer: unit gradients (n x UNIT_DIM), their squared norms, and the sampling weights p. */
interface Layer {
  g: Float64Array;
  w: Float64Array;
  p: Float64Array;
}

function profileDraw(profile: ImportanceProfile, rng: Rng): number {
  switch (profile) {
    case "uniform":
      return 1;
    case "mild":
      return Math.exp(0.5 * rng.normal());
    case "heavy":
      return Math.pow(1 - rng.float(), -1 / 1.1); // Pareto, tail index 1.1, >= 1
  }
}

/** Draws a layer of n units: g random, with ||g_j||^2 from the profile (g2) or p from it (independent). */
function makeLayer(n: number, profile: ImportanceProfile, pmode: PMode, rng: Rng): Layer {
  const g = new Float64Array(n * UNIT_DIM);
  const w = new Float64Array(n);
  const p = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let d = 0; d < UNIT_DIM; d++) {
      const v = rng.normal();
      g[j * UNIT_DIM + d] = v;
      s += v * v;
    }
    if (pmode === "g2") {
      // the engine's importance: p_j ∝ sum over the unit of g^2 (Sec. 3.2.2, channel-wise units)
      const target = profileDraw(profile, rng);
      const f = Math.sqrt(target / s);
      for (let d = 0; d < UNIT_DIM; d++) g[j * UNIT_DIM + d] *= f;
      w[j] = target;
      p[j] = target;
    } else {
      w[j] = s;
      p[j] = profileDraw(profile, rng);
    }
  }
  let ps = 0;
  for (let j = 0; j < n; j++) ps += p[j];
  for (let j = 0; j < n; j++) p[j] /= ps;
  return { g, w, p };
}

function inclusion(design: Design, p: Float64Array, k: number): Float64Array {
  return design === "adaptive"
    ? successiveInclusionProbabilities(p, k)
    : systematicInclusionProbabilities(p, k);
}

/** Every unit selected with weight 1: unitMask then returns each unit's scale. */
function allUnits(n: number): UnitSample {
  return {
    indices: Int32Array.from({ length: n }, (_, i) => i),
    weights: new Float64Array(n).fill(1),
  };
}

/** E[m_j] for each unit, exact: pi_j * scale_j for the 0/1, paper and reference scales. */
function expectedMask(scale: ExactScale, p: Float64Array, pi: Float64Array): Float64Array {
  const n = p.length;
  // the scale of a selected unit: 1 (Eq. 1), 1/p_j (Eq. 5), 1/(p_j + 1/C) (reference); App. A.2
  // needs pi_j * scale_j = 1
  const s = unitMask(scale, p, allUnits(n));
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) e[j] = pi[j] * s[j];
  return e;
}

/** gain, angle and relative bias of E[g ⊙ m] = g ⊙ e (e constant over each unit). */
function stats(layer: Layer, e: Float64Array): { gain: number; angleDeg: number; relBias: number } {
  let gg = 0, vg = 0, vv = 0, dd = 0;
  for (let j = 0; j < e.length; j++) {
    const wj = layer.w[j];
    gg += wj;
    vg += e[j] * wj;
    vv += e[j] * e[j] * wj;
    dd += (e[j] - 1) * (e[j] - 1) * wj;
  }
  const cos = Math.min(1, Math.max(-1, vg / Math.sqrt(vv * gg)));
  return {
    gain: vg / gg,
    angleDeg: (Math.acos(cos) * 180) / Math.PI,
    relBias: Math.sqrt(dd / gg),
  };
}

function deg(x: number): string {
  return x < 1e-3 ? "0" : fmt(x, 2);
}

function ratiosFor(quick: boolean): number[] {
  const step = quick ? 0.1 : 0.05;
  const out: number[] = [];
  for (let r = 0.1; r <= 0.9 + 1e-9; r += step) out.push(Math.round(r * 100) / 100);
  return out;
}

/** Runs the claim; see the module documentation. */
export function runUnbiasedness(opts: ClaimOptions): ClaimResult {
  const sizes = opts.quick ? [64] : [64, 256];
  const ratios = ratiosFor(opts.quick);
  const draws = opts.quick ? 3000 : 10000;
  const mcRatios = opts.quick ? [0.1, 0.5, 0.9] : [0.1, 0.3, 0.5, 0.7, 0.9];
  const rng = new Rng((opts.seed * 1009 + 4) >>> 0);

  const exact: ExactRow[] = [];
  const mc: McRow[] = [];
  const controls: string[] = [];
  let k1MaxDev = 0;
  let minP = Infinity; // smallest sampling weight: E[m_j] = pi_j / p_j divides pi's error by it

  for (const n of sizes) {
    for (const profile of PROFILES) {
      for (const pmode of PMODES) {
        const layer = makeLayer(n, profile, pmode, rng);
        for (let j = 0; j < n; j++) if (layer.p[j] > 0) minP = Math.min(minP, layer.p[j]);
        // control: for k = 1 successive sampling has pi_j = p_j, so 1/p_j is exactly HT
        const pi1 = successiveInclusionProbabilities(layer.p, 1);
        const e1 = expectedMask("paper", layer.p, pi1);
        for (let j = 0; j < n; j++) k1MaxDev = Math.max(k1MaxDev, Math.abs(e1[j] - 1));
        for (const design of ["adaptive", "systematic"] as const) {
          for (const ratio of ratios) {
            const k = unitsToKeep(ratio, n);
            const pi = inclusion(design, layer.p, k);
            for (const scale of EXACT_SCALES) {
              const e = expectedMask(scale, layer.p, pi);
              let maxMaskBias = 0;
              for (let j = 0; j < n; j++) {
                if (layer.p[j] > 0) maxMaskBias = Math.max(maxMaskBias, Math.abs(e[j] - 1));
              }
              exact.push({
                n,
                profile,
                pmode,
                design,
                ratio,
                k,
                scale,
                ...stats(layer, e),
                maxMaskBias,
              });
            }
            if (n === sizes[0] && mcRatios.includes(ratio)) {
              mc.push(...monteCarlo(layer, pi, design, k, draws, rng, profile, pmode, ratio));
            }
          }
        }
      }
    }
  }

  // ---- verdict --------------------------------------------------------------------------------
  const pick = (f: (r: ExactRow) => boolean) => exact.filter(f);
  const paperRows = pick((r) => r.scale === "paper" && r.k > 1);
  const refRows = pick((r) => r.scale === "reference");
  const noneRows = pick((r) => r.scale === "none");
  const maxOf = (rows: ExactRow[], f: (r: ExactRow) => number) =>
    rows.reduce((m, r) => Math.max(m, f(r)), -Infinity);
  const minOf = (rows: ExactRow[], f: (r: ExactRow) => number) =>
    rows.reduce((m, r) => Math.min(m, f(r)), Infinity);
  const paperMaxGainDev = maxOf(paperRows, (r) => Math.abs(r.gain - 1));
  // for p ∝ ||g_j||^2 the paper scale's gain is exactly sum_j pi_j = k (App. A.2 with p != pi)
  const paperGainMinusK = maxOf(
    paperRows.filter((r) => r.pmode === "g2"),
    (r) => Math.abs(r.gain - r.k) / r.k,
  );
  const mcMaxZ = mc.reduce((m, r) => Math.max(m, Math.abs(r.z)), 0);
  // HT: the Monte-Carlo means of the engine's masks against E[m_j] = 1 (App. A.2, Eq. 22-23)
  const htMc = mc.filter((r) => r.scale === "horvitz-thompson");
  const htMcMaxZ = htMc.reduce((m, r) => Math.max(m, Math.abs(r.z)), 0);
  const htMcGain = htMc.filter((r) => r.functional === "gain").map((r) => r.mean);

  if (k1MaxDev > 1e-8) controls.push(`k = 1: paper scale E[m_j] off 1 by ${k1MaxDev}`);
  if (mcMaxZ > Z_MAX) {
    const bad = mc.filter((r) => Math.abs(r.z) > Z_MAX).map((r) =>
      `${r.design}/${r.profile}/${r.pmode}/k/n=${r.ratio}/${r.scale}/${r.functional}: z=${fmt(r.z)}`
    );
    controls.push(`Monte Carlo disagrees with the expectations: ${bad.join("; ")}`);
  }
  if (paperGainMinusK > 1e-8) {
    controls.push(`paper-scale gain differs from k for p ∝ g² by ${paperGainMinusK} (relative)`);
  }
  if (controls.length > 0) {
    throw new Error(`unbiasedness: control check failed: ${controls.join(" | ")}`);
  }
  const verdict = unbiasednessVerdict({ paperRelBias: paperRows.map((r) => r.relBias) });
  const paperMinRelBias = minOf(paperRows, (r) => r.relBias);

  // ---- report ---------------------------------------------------------------------------------
  const n0 = sizes[0];
  const row = (
    profile: ImportanceProfile,
    pmode: PMode,
    design: Design,
    ratio: number,
    scale: ExactScale,
    n = n0,
  ) =>
    exact.find((r) =>
      r.n === n && r.profile === profile && r.pmode === pmode && r.design === design &&
      r.ratio === ratio && r.scale === scale
    )!;
  const refUniform = pick((r) =>
    r.scale === "reference" && r.profile === "uniform" && r.design === "adaptive"
  );
  const refUniformVsHalfK = maxOf(refUniform, (r) => Math.abs(r.gain / (r.k / 2) - 1));
  const worstAngle = (rows: ExactRow[]) => rows.reduce((a, b) => (b.angleDeg > a.angleDeg ? b : a));
  const paperWorst = worstAngle(pick((r) => r.scale === "paper"));
  const refWorst = worstAngle(refRows);
  const noneWorst = worstAngle(noneRows);

  const numbers: Record<string, number | string | boolean> = {
    units_n: sizes.join(","),
    paper_gain_min: minOf(paperRows, (r) => r.gain),
    paper_gain_max: maxOf(paperRows, (r) => r.gain),
    paper_gain_equals_k_rel_err: paperGainMinusK,
    paper_max_gain_dev: paperMaxGainDev,
    paper_worst_angle_deg: paperWorst.angleDeg,
    reference_gain_min: minOf(refRows, (r) => r.gain),
    reference_gain_max: maxOf(refRows, (r) => r.gain),
    reference_uniform_gain_vs_half_k_rel_err: refUniformVsHalfK,
    reference_worst_angle_deg: refWorst.angleDeg,
    amss01_gain_min: minOf(noneRows, (r) => r.gain),
    amss01_worst_angle_deg: noneWorst.angleDeg,
    paper_min_rel_bias: paperMinRelBias,
    paper_max_rel_bias: maxOf(paperRows, (r) => r.relBias),
    ht_mc_max_abs_z: htMcMaxZ,
    ht_mc_gain_min: Math.min(...htMcGain),
    ht_mc_gain_max: Math.max(...htMcGain),
    mc_max_abs_z: mcMaxZ,
    mc_draws: draws,
    k1_paper_max_mask_bias: k1MaxDev,
    min_sampling_weight: minP,
  };

  const paperG2 = paperRows.filter((r) => r.pmode === "g2" && r.n === n0);
  const paperInd = paperRows.filter((r) => r.pmode === "independent" && r.n === n0);
  const summary = `n=${n0}, k/n 0.1–0.9: 1/p gain = k (${fmt(minOf(paperG2, (r) => r.gain))}–${
    fmt(maxOf(paperG2, (r) => r.gain))
  }) when p ∝ g², up to ${
    fmt(maxOf(paperInd, (r) => r.gain))
  } with p independent of g, direction off by up to ${fmt(paperWorst.angleDeg)}°; 1/(p+1/C) gain ${
    fmt(numbers.reference_gain_min as number)
  }–${fmt(numbers.reference_gain_max as number)} (uniform: k/2), up to ${
    fmt(refWorst.angleDeg)
  }°; HT Monte-Carlo gain ${fmt(Math.min(...htMcGain), 4)}–${
    fmt(Math.max(...htMcGain), 4)
  }, consistent with 1 (max |z| ${fmt(htMcMaxZ)}, ${draws} draws)`;

  const lines: string[] = [];
  lines.push(
    `App. A.2 proves unbiasedness for m̂_j = 1/p_j with p_j = P(w_j ∈ S) (Eq. 22), the inclusion ` +
      `probability π_j. Eq. 5 and Sec. 3.2.2 set p_j = F_j / ΣF, the sampling weight of successive ` +
      `sampling without replacement; π_j = p_j only for k = 1 (checked: max |E[m_j] − 1| = ${
        fmt(k1MaxDev)
      } at k = 1). ` +
      `For k > 1, Σ_j π_j = k while Σ_j p_j = 1, so E[m_j] = π_j / p_j is off 1 on average by a factor k.`,
    "",
    `Setup: one layer of n = ${
      sizes.join(" and ")
    } units (${UNIT_DIM} coordinates each), k = ⌈(k/n)·n⌉; ` +
      `E[m_j] = π_j · scale_j with exact π (successive sampling: quadrature; systematic PPS: closed form) ` +
      `for the 0/1, 1/p and 1/(p+1/C) scales. The HT mask (systematic: 1/π_j; successive: rank ` +
      `conditioning) has no exact row, since π·(1/π) = 1 is an identity; it is checked by Monte Carlo ` +
      `only. Gain = ⟨E[g⊙m], g⟩/‖g‖², direction error = angle(E[g⊙m], g).`,
    "",
    `Verdict on "Eq. 5 (1/p) gives an unbiased estimator": **${verdict}** for k > 1 — the exact ` +
      `relative bias ‖E[g⊙m̂] − g‖/‖g‖ of 1/p is ${fmt(paperMinRelBias)} to ${
        fmt(numbers.paper_max_rel_bias as number)
      } over the ${paperRows.length} configurations (numerical accuracy ${EXACT_TOL}); with p ∝ ‖g_j‖² ` +
      `the expected masked gradient is exactly k·g in gain (relative error vs k: ${
        fmt(paperGainMinusK)
      }), ` +
      `and its direction is off by up to ${fmt(paperWorst.angleDeg)}° (${
        PROFILE_LABEL[paperWorst.profile]
      }, ${PMODE_LABEL[paperWorst.pmode]}, ${paperWorst.design}, k/n = ${paperWorst.ratio}). ` +
      `The engine's Horvitz-Thompson masks are consistent with E[m_j] = 1: Monte-Carlo gain ${
        fmt(Math.min(...htMcGain), 4)
      }–${fmt(Math.max(...htMcGain), 4)}, max |z| = ${
        fmt(htMcMaxZ)
      } over ${draws} draws per configuration (tolerance ${Z_MAX} standard errors).`,
    "",
  );
  for (const pmode of PMODES) {
    lines.push(
      `**Gain (direction error in degrees), ${
        PMODE_LABEL[pmode]
      }, successive sampling, n = ${n0}**`,
      "",
      `| k/n | k | ` +
        PROFILES.flatMap((pr) => [`1/p ${pr}`, `1/(p+1/C) ${pr}`, `0/1 ${pr}`]).join(" | ") +
        " |",
      "|" + " --- |".repeat(2 + 3 * PROFILES.length),
    );
    for (const ratio of ratios) {
      const cells: string[] = [];
      for (const pr of PROFILES) {
        for (const sc of ["paper", "reference", "none"] as const) {
          const r = row(pr, pmode, "adaptive", ratio, sc);
          cells.push(`${fmt(r.gain)} (${deg(r.angleDeg)}°)`);
        }
      }
      lines.push(
        `| ${ratio} | ${row("uniform", pmode, "adaptive", ratio, "paper").k} | ${
          cells.join(" | ")
        } |`,
      );
    }
    lines.push("");
  }
  const sysPaper = pick((r) => r.design === "systematic" && r.scale === "paper" && r.k > 1);
  const sysRef = pick((r) => r.design === "systematic" && r.scale === "reference");
  lines.push(
    `Systematic PPS sampling (exact π_j = min(1, c·p_j)) gives the same picture: 1/p gain ${
      fmt(minOf(sysPaper, (r) => r.gain))
    }–${fmt(maxOf(sysPaper, (r) => r.gain))}, worst angle ${
      fmt(maxOf(sysPaper, (r) => r.angleDeg))
    }°; 1/(p+1/C) gain ${fmt(minOf(sysRef, (r) => r.gain))}–${
      fmt(maxOf(sysRef, (r) => r.gain))
    }, worst angle ${fmt(maxOf(sysRef, (r) => r.angleDeg))}°. ` +
      `Reference scale with uniform importance: gain = k/2 within ${
        fmt(refUniformVsHalfK)
      } (relative).` +
      (sizes.length > 1
        ? ` At n = ${sizes[1]}, 1/p gain reaches ${
          fmt(maxOf(paperRows.filter((r) => r.n === sizes[1]), (r) => r.gain))
        } and 1/(p+1/C) ${fmt(maxOf(refRows.filter((r) => r.n === sizes[1]), (r) => r.gain))}.`
        : ""),
    "",
    `**Monte Carlo check** (engine samplers and engine masks, ${draws} draws per ` +
      `configuration, n = ${n0}, k/n ∈ {${
        mcRatios.join(", ")
      }}; functionals: the gain and a random ` +
      `linear functional ⟨c, m⟩; cells: max |z| of (MC mean − expectation) / (sd/√M), the expectation ` +
      `being exact for the biased scales and E[m_j] = 1 for HT; |z| > ${Z_MAX} fails the run):`,
    "",
    "| design | profile | p | " + SCALES.map((s) => SCALE_LABEL[s]).join(" | ") + " |",
    "|" + " --- |".repeat(3 + SCALES.length),
  );
  for (const design of ["adaptive", "systematic"] as const) {
    for (const profile of PROFILES) {
      for (const pmode of PMODES) {
        const zs = SCALES.map((sc) =>
          mc.filter((r) =>
            r.design === design && r.profile === profile && r.pmode === pmode && r.scale === sc
          ).reduce((m, r) => Math.max(m, Math.abs(r.z)), 0)
        );
        lines.push(
          `| ${design} | ${profile} | ${pmode} | ${zs.map((z) => fmt(z, 2)).join(" | ")} |`,
        );
      }
    }
  }
  lines.push(
    "",
    `Max |z| over all ${mc.length} Monte-Carlo checks: ${fmt(mcMaxZ)}.`,
  );

  const plots: Plot[] = [gainPlot(exact, mc, ratios, n0), anglePlot(exact, ratios, n0)];
  return {
    id: "unbiasedness",
    title: "AMSS+ mask 1/p_j (Eq. 5) gives an unbiased gradient estimate",
    reference: "Sec. 3.3 Eq. 5; App. A.2 Eq. 21-23",
    verdict,
    expected: "FAILS",
    summary,
    numbers,
    details: lines.join("\n"),
    plots,
  };
}

function monteCarlo(
  layer: Layer,
  pi: Float64Array,
  design: Design,
  k: number,
  draws: number,
  rng: Rng,
  profile: ImportanceProfile,
  pmode: PMode,
  ratio: number,
): McRow[] {
  const n = layer.p.length;
  let W = 0;
  for (let j = 0; j < n; j++) W += layer.w[j];
  const c = Float64Array.from({ length: n }, () => rng.normal());
  const func = { gain: (j: number) => layer.w[j] / W, random: (j: number) => c[j] };
  const sums = new Map<string, { s: number; ss: number }>();
  for (const sc of SCALES) {
    for (const f of ["gain", "random"] as const) sums.set(`${sc}/${f}`, { s: 0, ss: 0 });
  }
  for (let t = 0; t < draws; t++) {
    const sample = sampleUnits(design, layer.p, k, rng);
    for (const sc of SCALES) {
      const m = unitMask(sc, layer.p, sample);
      for (const f of ["gain", "random"] as const) {
        let v = 0;
        for (let i = 0; i < sample.indices.length; i++) {
          const j = sample.indices[i];
          v += m[j] * func[f](j);
        }
        const acc = sums.get(`${sc}/${f}`)!;
        acc.s += v;
        acc.ss += v * v;
      }
    }
  }
  const rows: McRow[] = [];
  for (const sc of SCALES) {
    // what the mean must match: the exact pi_j * scale_j, or for HT the unbiasedness that App. A.2
    // (Eq. 22-23) requires, E[m_j] = 1
    const e = sc === "horvitz-thompson"
      ? new Float64Array(n).fill(1)
      : expectedMask(sc, layer.p, pi);
    for (const f of ["gain", "random"] as const) {
      let ex = 0;
      for (let j = 0; j < n; j++) ex += e[j] * func[f](j);
      const { s, ss } = sums.get(`${sc}/${f}`)!;
      const mean = s / draws;
      const sd = Math.sqrt(Math.max(0, ss / draws - mean * mean) * draws / (draws - 1));
      const se = sd / Math.sqrt(draws);
      // floor on the standard error: a statistic that is constant per draw (e.g. the 1/p gain for
      // p ∝ g², always k) has sd 0 up to rounding, and rounding must not read as a deviation
      const seFloor = 1e-9 * Math.max(1, Math.abs(ex));
      const z = (mean - ex) / Math.max(se, seFloor);
      rows.push({
        profile,
        pmode,
        design,
        ratio,
        scale: sc,
        functional: f,
        expectation: ex,
        mean,
        z,
      });
    }
  }
  return rows;
}

function gainPlot(exact: ExactRow[], mc: McRow[], ratios: number[], n: number): Plot {
  const series = (label: string, f: (r: ExactRow) => boolean, dashed = false) => ({
    name: label,
    dashed,
    markers: true,
    points: ratios.map((ratio) => {
      const r = exact.find((x) =>
        x.n === n && x.ratio === ratio && x.design === "adaptive" && f(x)
      )!;
      return [ratio, r.gain] as [number, number];
    }),
  });
  const svg = linePlot({
    title: `Gain <E[g⊙m],g>/||g||² vs k/n (n=${n}, successive sampling, p ∝ g²)`,
    xLabel: "k/n",
    yLabel: "gain (1 = unbiased)",
    yLog: true,
    series: [
      series("1/p (any profile)", (r) =>
        r.scale === "paper" && r.profile === "uniform" &&
        r.pmode === "g2"),
      ...PROFILES.map((pr) =>
        series(`1/(p+1/C) ${pr}`, (r) =>
          r.scale === "reference" && r.profile === pr &&
          r.pmode === "g2")
      ),
      ...PROFILES.map((pr) =>
        series(`0/1 ${pr}`, (r) => r.scale === "none" && r.profile === pr && r.pmode === "g2")
      ),
      {
        name: "1/π (HT), MC",
        scatter: true,
        points: mc.filter((r) =>
          r.scale === "horvitz-thompson" && r.functional === "gain" && r.design === "adaptive" &&
          r.pmode === "g2"
        ).map((r) => [r.ratio, r.mean] as [number, number]),
      },
    ],
  });
  return { file: "unbiasedness_gain.svg", title: "Gain of each mask scale vs k/n", svg };
}

function anglePlot(exact: ExactRow[], ratios: number[], n: number): Plot {
  const series = (label: string, f: (r: ExactRow) => boolean) => ({
    name: label,
    markers: true,
    points: ratios.map((ratio) => {
      const r = exact.find((x) =>
        x.n === n && x.ratio === ratio && x.design === "adaptive" && f(x)
      )!;
      return [ratio, r.angleDeg] as [number, number];
    }),
  });
  const out = [];
  const short: Record<PMode, string> = { g2: "p∝g²", independent: "p indep." };
  for (const pr of ["mild", "heavy"] as const) {
    for (const pm of PMODES) {
      out.push(
        series(
          `1/p ${pr} ${short[pm]}`,
          (r) => r.scale === "paper" && r.profile === pr && r.pmode === pm,
        ),
      );
      out.push(
        series(`ref ${pr} ${short[pm]}`, (r) =>
          r.scale === "reference" && r.profile === pr &&
          r.pmode === pm),
      );
    }
  }
  const svg = linePlot({
    title: `Direction error angle(E[g⊙m], g) vs k/n (n=${n}, successive; ref = 1/(p+1/C))`,
    xLabel: "k/n",
    yLabel: "degrees",
    series: out,
  });
  return {
    file: "unbiasedness_direction.svg",
    title: "Direction error of each biased scale vs k/n",
    svg,
  };
}

/** Claim 4 for `deno task proofs`. */
const claim: Claim = { id: "unbiasedness", run: runUnbiasedness };
export default claim;
