/**
 * Claim 7 (paper Sec. 3.2.1 Eq. 4, Sec. 4.6 Table 8, Kinetics-Sounds): "τ < 1 amplifies the
 * disparity of the update ratios, τ > 1 diminishes it", with Table 8's mean ratios as evidence.
 *
 * For two modalities Eq. 4 reads rho_audio = 1 - 1/(1 + exp(-gap/τ)) = σ(-gap/τ) with
 * gap = u_audio - u_video, so the disparity |rho_video - rho_audio| = tanh(|gap| / (2τ)) falls
 * strictly as τ grows, for every fixed gap != 0 (checked numerically with the engine's
 * {@link updateRatios} on a grid): larger below τ = 1, smaller above it. Inverting Eq. 4, each
 * Table 8 point (τ, mean rho_audio) implies gap = τ ln((1 - rho)/rho). If one fixed gap were
 * behind the table, the implied gaps would agree up to the table's 4-decimal rounding; they do
 * not (they grow about 8-fold from τ = 0.1 to τ = 4).
 *
 * Which label that earns, by the suite's definitions (`proofs/claim.ts`): HOLDS-UNDER-CONDITION
 * means "true only under a condition the paper does not state". The condition that reconciles
 * Table 8 with Eq. 4 is that the gap is not one fixed number: rho is computed per batch from the
 * batch's significance and Table 8 reports its average over all iterations of the first 10 epochs,
 * and the mean of the nonlinear σ(-gap/τ) is not σ(-mean gap/τ). The paper states exactly that
 * (Sec. 4.6: "Since the gradient update ratio in our method is on the batch level, we calculate
 * the average gradient update ratio for each modality across all iterations within the initial 10
 * epochs"), and each τ of Table 8 is its own training run (the table reports each run's
 * accuracy), whose significance, and so whose gaps, depend on that run. A single fixed gap was our
 * reading, not the paper's. The statement itself is a property of Eq. 4 that holds for every gap.
 * So the label is HOLDS, not HOLDS-UNDER-CONDITION. What the table cannot do is isolate τ's
 * effect: the least-squares normal distribution of gaps shared by all 13 runs misses some points
 * by about 200 times the table's rounding, nothing requires the runs to share one, and the trend
 * in Table 8 mixes τ's direct effect (which Eq. 4 fixes) with whatever differs between the runs.
 *
 * Verdict rule ({@link table8Verdict}): FAILS when Eq. 4's disparity fails to fall strictly with
 * τ at some fixed gap (the statement is false), or when Table 8 contradicts the statement (some
 * τ < 1 with a disparity not above that at τ = 1, or some τ > 1 with one not below it) or Eq. 4
 * (rows not summing to 1 within the rounding: two-modality Eq. 4 gives rho_audio + rho_video = 1
 * at every iteration, hence also in the mean). Otherwise HOLDS when one fixed gap reproduces the
 * table within its rounding, or when the paper states that its ratios are means over iterations
 * (it does: {@link PAPER_STATES_MEAN_OVER_ITERATIONS}); else HOLDS-UNDER-CONDITION (the table
 * would agree with Eq. 4 only under a varying gap the paper does not mention).
 *
 * @module
 */

import type { Claim, ClaimOptions, ClaimResult, Plot, Verdict } from "../claim.ts";
import { updateRatios } from "../../src/amss/ratio.ts";
import { linePlot } from "../../src/report/svg.ts";
import { fmt } from "./_common.ts";

/** Table 8's τ values (Sec. 4.6). */
export const TABLE8_TAU: readonly number[] = [
  0.1,
  0.2,
  0.25,
  0.3,
  0.4,
  0.5,
  0.6,
  0.7,
  0.8,
  0.9,
  1,
  2,
  4,
];
/** Table 8's mean rho^(1) (audio), 4 decimals. */
export const TABLE8_RHO_AUDIO: readonly number[] = [
  0.2238,
  0.2436,
  0.2479,
  0.2508,
  0.2684,
  0.2774,
  0.2914,
  0.2940,
  0.3105,
  0.3156,
  0.3305,
  0.3964,
  0.4404,
];
/** Table 8's mean rho^(2) (video), 4 decimals. */
export const TABLE8_RHO_VIDEO: readonly number[] = [
  0.7762,
  0.7564,
  0.7521,
  0.7492,
  0.7316,
  0.7226,
  0.7086,
  0.7060,
  0.6895,
  0.6844,
  0.6695,
  0.6036,
  0.5596,
];
/** Half a unit in the table's last decimal. */
export const ROUNDING = 0.00005;

/**
 * Whether the paper states that Table 8's ratios are means over iterations of batch-level ratios
 * (Sec. 4.6, quoted in the module doc): a fact of the paper's text, an input of the rule.
 */
export const PAPER_STATES_MEAN_OVER_ITERATIONS = true;

/** The measured numbers {@link table8Verdict} decides on. */
export interface Table8Evidence {
  /** Grid cells (fixed gap != 0, neighbouring τ) where Eq. 4's disparity did not fall strictly. */
  eq4Violations: number;
  /** Table 8's τ values. */
  tau: readonly number[];
  /** Table 8's mean rho per modality (audio, video), in the order of `tau`. */
  rhoAudio: readonly number[];
  rhoVideo: readonly number[];
  /** One fixed gap reproduces every row within the rounding (implied-gap intervals overlap). */
  singleGapFits: boolean;
  /** See {@link PAPER_STATES_MEAN_OVER_ITERATIONS}. */
  paperStatesMeanOverIterations: boolean;
}

/** Table 8's disparity |mean rho_video - mean rho_audio| per row. */
export function tableDisparity(rhoAudio: readonly number[], rhoVideo: readonly number[]): number[] {
  return rhoAudio.map((a, i) => Math.abs(rhoVideo[i] - a));
}

/**
 * The verdict rule of this claim (see the module doc): Eq. 4 (Sec. 3.2.1) and Table 8 (Sec. 4.6).
 *
 * @throws {Error} when the table has no row at τ = 1, rows of unequal length, or no τ on either
 *   side of 1.
 */
export function table8Verdict(e: Table8Evidence): Verdict {
  const n = e.tau.length;
  if (e.rhoAudio.length !== n || e.rhoVideo.length !== n) throw new Error("table8: ragged table");
  const i1 = e.tau.indexOf(1);
  if (i1 < 0) throw new Error("table8: no row at τ = 1");
  if (!e.tau.some((t) => t < 1) || !e.tau.some((t) => t > 1)) {
    throw new Error("table8: need τ values on both sides of 1");
  }
  if (e.eq4Violations > 0) return "FAILS";
  // two rounded entries: their sum is off 1 by at most two half-units
  if (e.rhoAudio.some((a, i) => !(Math.abs(a + e.rhoVideo[i] - 1) <= 2 * ROUNDING + 1e-12))) {
    return "FAILS";
  }
  const d = tableDisparity(e.rhoAudio, e.rhoVideo);
  const agrees = e.tau.every((t, i) => t === 1 || (t < 1 ? d[i] > d[i1] : d[i] < d[i1]));
  if (!agrees) return "FAILS";
  if (e.singleGapFits || e.paperStatesMeanOverIterations) return "HOLDS";
  return "HOLDS-UNDER-CONDITION";
}

/**
 * The gap u_audio - u_video that Eq. 4 (two modalities) needs to give rho_audio at temperature
 * tau: gap = tau * ln((1 - rho) / rho).
 */
export function impliedGap(tau: number, rhoAudio: number): number {
  return tau * Math.log((1 - rhoAudio) / rhoAudio);
}

/**
 * The range of gaps each row allows given the table's 4-decimal rounding: rho_audio in
 * [rho - ROUNDING, rho + ROUNDING] maps (Eq. 4 inverted, decreasing in rho) to
 * [impliedGap(tau, rho + ROUNDING), impliedGap(tau, rho - ROUNDING)]. One fixed gap reproduces
 * every row iff these intervals share a point: largest lower end <= smallest upper end.
 */
export function singleGapInterval(
  tau: readonly number[],
  rhoAudio: readonly number[],
): { maxLo: number; minHi: number; fits: boolean } {
  const lo = tau.map((t, i) => impliedGap(t, rhoAudio[i] + ROUNDING));
  const hi = tau.map((t, i) => impliedGap(t, rhoAudio[i] - ROUNDING));
  const maxLo = Math.max(...lo);
  const minHi = Math.min(...hi);
  return { maxLo, minHi, fits: maxLo <= minHi };
}

/** Eq. 4 for two modalities: rho_audio = σ(-gap/τ), computed by the engine's {@link updateRatios}. */
function rhoAudio(gap: number, tau: number): number {
  return updateRatios([gap, 0], tau)[0];
}

/** Logistic σ(-x) = 1/(1 + e^x), stable. */
function sigmaNeg(x: number): number {
  return x >= 0 ? Math.exp(-x) / (1 + Math.exp(-x)) : 1 / (1 + Math.exp(x));
}

/** Mean of rho_audio = σ(-G/τ) over G ~ N(mu, s^2) (Simpson on z in [-8, 8], 1600 panels). */
export function meanRhoNormalGap(mu: number, s: number, tau: number): number {
  if (s === 0) return sigmaNeg(mu / tau);
  const N = 1600;
  const h = 16 / N;
  let acc = 0;
  for (let i = 0; i <= N; i++) {
    const z = -8 + i * h;
    const w = i === 0 || i === N ? 1 : i % 2 === 1 ? 4 : 2;
    acc += w * Math.exp(-0.5 * z * z) * sigmaNeg((mu + s * z) / tau);
  }
  return (acc * h) / 3 / Math.sqrt(2 * Math.PI);
}

/** Minimises f on [a, b] by golden-section search (f unimodal there). */
function golden(f: (x: number) => number, a: number, b: number, iters = 200): number {
  const r = (Math.sqrt(5) - 1) / 2;
  let c = b - r * (b - a), d = a + r * (b - a);
  let fc = f(c), fd = f(d);
  for (let i = 0; i < iters && b - a > 1e-12; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - r * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + r * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

/** Nelder-Mead minimisation in 2-D (standard coefficients). */
function nelderMead(f: (x: number[]) => number, x0: number[], step: number, iters = 400): number[] {
  let pts = [x0, [x0[0] + step, x0[1]], [x0[0], x0[1] + step]].map((x) => ({ x, f: f(x) }));
  for (let it = 0; it < iters; it++) {
    pts.sort((a, b) => a.f - b.f);
    if (Math.abs(pts[2].f - pts[0].f) < 1e-16) break;
    const c = [(pts[0].x[0] + pts[1].x[0]) / 2, (pts[0].x[1] + pts[1].x[1]) / 2];
    const at = (t: number) => [c[0] + t * (pts[2].x[0] - c[0]), c[1] + t * (pts[2].x[1] - c[1])];
    const xr = at(-1), fr = f(xr);
    if (fr < pts[0].f) {
      const xe = at(-2), fe = f(xe);
      pts[2] = fe < fr ? { x: xe, f: fe } : { x: xr, f: fr };
    } else if (fr < pts[1].f) {
      pts[2] = { x: xr, f: fr };
    } else {
      const xc = at(0.5), fcv = f(xc);
      if (fcv < pts[2].f) pts[2] = { x: xc, f: fcv };
      else {
        pts = pts.map((p, i) =>
          i === 0 ? p : (() => {
            const x = [(p.x[0] + pts[0].x[0]) / 2, (p.x[1] + pts[0].x[1]) / 2];
            return { x, f: f(x) };
          })()
        );
      }
    }
  }
  pts.sort((a, b) => a.f - b.f);
  return pts[0].x;
}

/** Runs the claim; see the module documentation. (Deterministic: `seed` is not used.) */
export function runTable8(opts: ClaimOptions): ClaimResult {
  // ---- Eq. 4 monotone in τ for every fixed gap (numerical proof on a grid) ---------------------
  const nTau = opts.quick ? 400 : 4000;
  const taus = Array.from({ length: nTau }, (_, i) => Math.pow(10, -2 + (4 * i) / (nTau - 1)));
  const gaps = Array.from({ length: 81 }, (_, i) => Math.round((-2 + i * 0.05) * 100) / 100);
  let violations = 0;
  let saturated = 0; // equal neighbours within 1e-14 of 1 (or at 0): below double resolution
  let sumErr = 0;
  let cells = 0;
  for (const gap of gaps) {
    let prev = NaN;
    for (const tau of taus) {
      const rho = updateRatios([gap, 0], tau); // Eq. 4
      sumErr = Math.max(sumErr, Math.abs(rho[0] + rho[1] - 1));
      const r = rho[0];
      if (!Number.isNaN(prev)) {
        // gap > 0: strictly increasing; gap < 0: strictly decreasing; gap = 0: constant 1/2
        const ok = gap > 0 ? r > prev : gap < 0 ? r < prev : r === 0.5 && prev === 0.5;
        if (!ok && gap !== 0 && r === prev && (r === 0 || 1 - r <= 1e-14)) saturated++;
        else if (!ok) violations++;
      }
      prev = r;
      cells++;
    }
  }
  // control: two-modality Eq. 4 gives rho_audio + rho_video = 1 exactly (sum rho_k = K - 1)
  if (sumErr > 1e-15) {
    throw new Error(
      `table8: control check failed: engine's rho_audio + rho_video off 1 by ${sumErr}`,
    );
  }

  // ---- Table 8 ----------------------------------------------------------------------------------
  const n = TABLE8_TAU.length;
  let rowSumMaxErr = 0;
  let tableMonotone = true;
  for (let i = 0; i < n; i++) {
    rowSumMaxErr = Math.max(rowSumMaxErr, Math.abs(TABLE8_RHO_AUDIO[i] + TABLE8_RHO_VIDEO[i] - 1));
    if (i > 0 && !(TABLE8_RHO_AUDIO[i] > TABLE8_RHO_AUDIO[i - 1])) tableMonotone = false;
  }
  const implied = TABLE8_TAU.map((t, i) => impliedGap(t, TABLE8_RHO_AUDIO[i]));
  // rho rounded to 4 decimals: the implied gap lies in [gap(rho + 5e-5), gap(rho - 5e-5)]
  const { maxLo, minHi, fits: oneGapFits } = singleGapInterval(TABLE8_TAU, TABLE8_RHO_AUDIO);

  const sse = (pred: (tau: number) => number) =>
    TABLE8_TAU.reduce((s, t, i) => s + (pred(t) - TABLE8_RHO_AUDIO[i]) ** 2, 0);
  const bestGap = golden((g) => sse((t) => rhoAudio(g, t)), 0, 5);
  const fixedPred = TABLE8_TAU.map((t) => rhoAudio(bestGap, t));
  const fixedErr = fixedPred.map((p, i) => p - TABLE8_RHO_AUDIO[i]);
  const rmse = (e: number[]) => Math.sqrt(e.reduce((s, x) => s + x * x, 0) / e.length);
  const maxAbs = (e: number[]) => Math.max(...e.map(Math.abs));

  const [mu, sRaw] = nelderMead(
    ([m, s]) => sse((t) => meanRhoNormalGap(m, Math.abs(s), t)),
    [Math.max(0.05, bestGap), 1],
    0.3,
  );
  const sd = Math.abs(sRaw);
  const normPred = TABLE8_TAU.map((t) => meanRhoNormalGap(mu, sd, t));
  const normErr = normPred.map((p, i) => p - TABLE8_RHO_AUDIO[i]);
  // Jensen: rho at the mean gap vs the mean rho over the fitted gap distribution
  const atMeanGap = TABLE8_TAU.map((t) => rhoAudio(mu, t));
  const jensen = TABLE8_TAU.map((_, i) => normPred[i] - atMeanGap[i]);

  const verdict = table8Verdict({
    eq4Violations: violations,
    tau: TABLE8_TAU,
    rhoAudio: TABLE8_RHO_AUDIO,
    rhoVideo: TABLE8_RHO_VIDEO,
    singleGapFits: oneGapFits,
    paperStatesMeanOverIterations: PAPER_STATES_MEAN_OVER_ITERATIONS,
  });
  const disparity = tableDisparity(TABLE8_RHO_AUDIO, TABLE8_RHO_VIDEO);
  const normMaxErr = maxAbs(normErr);

  const idx = (t: number) => TABLE8_TAU.indexOf(t);
  const numbers: Record<string, number | string | boolean> = {
    grid_cells: cells,
    monotonicity_violations: violations,
    saturated_ties: saturated,
    rho_sum_max_err: sumErr,
    table_row_sum_max_err: rowSumMaxErr,
    table_monotone: tableMonotone,
    table_disparity_tau0_1: disparity[idx(0.1)],
    table_disparity_tau1: disparity[idx(1)],
    table_disparity_tau4: disparity[idx(4)],
    paper_states_mean_over_iterations: PAPER_STATES_MEAN_OVER_ITERATIONS,
    implied_gap_tau0_1: implied[idx(0.1)],
    implied_gap_tau1: implied[idx(1)],
    implied_gap_tau4: implied[idx(4)],
    implied_gap_max_over_min: Math.max(...implied) / Math.min(...implied),
    rounding_intervals_overlap: oneGapFits,
    best_fixed_gap: bestGap,
    best_fixed_gap_rmse: rmse(fixedErr),
    best_fixed_gap_max_abs_err: maxAbs(fixedErr),
    normal_gap_mu: mu,
    normal_gap_sd: sd,
    normal_gap_rmse: rmse(normErr),
    normal_gap_max_abs_err: normMaxErr,
    normal_gap_max_err_over_rounding: normMaxErr / ROUNDING,
    jensen_gap_tau0_1: jensen[idx(0.1)],
    jensen_gap_tau1: jensen[idx(1)],
  };
  const summary = `disparity falls with τ at every fixed gap (${cells} (gap, τ) cells, ` +
    `${violations} violations); Table 8 disparity ${fmt(disparity[idx(0.1)])} (τ=0.1) > ${
      fmt(disparity[idx(1)])
    } (τ=1) > ${fmt(disparity[idx(4)])} (τ=4); its ρ are means over iterations (Sec. 4.6), and ` +
    `the gaps they imply, ${fmt(implied[idx(0.1)])} (τ=0.1) to ${
      fmt(implied[idx(4)])
    } (τ=4), fit no single gap (best: max err ${fmt(maxAbs(fixedErr))}); a gap ~ N(${fmt(mu)}, ${
      fmt(sd)
    }²) shared by all runs misses by up to ${fmt(normMaxErr)} (${
      fmt(normMaxErr / ROUNDING)
    }× rounding)`;

  const lines: string[] = [];
  lines.push(
    `Eq. 4 with two modalities: ρ_audio = 1 − 1/(1 + e^{−gap/τ}), gap = u_audio − u_video. ` +
      `Monotonicity, checked with the engine's \`updateRatios\` on ${gaps.length} gaps in [−2, 2] × ${nTau} ` +
      `log-spaced τ in [0.01, 100]: ${violations} violations of "strictly increasing in τ for gap > 0, ` +
      `strictly decreasing for gap < 0, constant 1/2 at gap = 0" (${saturated} neighbouring cells are ` +
      `equal because ρ is within 1e-14 of 1, where neighbouring values round to the same double; analytically dρ_audio/dτ = ` +
      `(gap/τ²) σ(gap/τ)(1 − σ(gap/τ)), whose sign is the sign of the gap); ρ_audio + ρ_video = 1 ` +
      `within ${fmt(sumErr)}.`,
    "",
    `Table 8 (Kinetics-Sounds, mean ρ over the iterations of the first 10 epochs): rows sum to 1 within ` +
      `${
        fmt(rowSumMaxErr)
      } and ρ_audio rises monotonically with τ (${tableMonotone}), as Eq. 4 predicts ` +
      `for a positive gap. But the gap each point implies, τ·ln((1 − ρ)/ρ), grows ${
        fmt(Math.max(...implied) / Math.min(...implied))
      }-fold from τ = 0.1 to τ = 4, far beyond the table's rounding (intervals ${
        oneGapFits ? "overlap" : "are disjoint"
      }: largest lower end ${fmt(maxLo, 4)} ${oneGapFits ? "≤" : ">"} smallest upper end ${
        fmt(minHi, 4)
      }).`,
    "",
    "| τ | mean ρ_audio (Table 8) | mean ρ_video | implied gap | best fixed gap ρ | N(μ, s²) gap mean ρ | ρ at the mean gap μ |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (let i = 0; i < n; i++) {
    lines.push(
      `| ${TABLE8_TAU[i]} | ${TABLE8_RHO_AUDIO[i].toFixed(4)} | ${
        TABLE8_RHO_VIDEO[i].toFixed(4)
      } | ${fmt(implied[i], 4)} | ${fixedPred[i].toFixed(4)} | ${normPred[i].toFixed(4)} | ${
        fmt(atMeanGap[i], 4)
      } |`,
    );
  }
  lines.push(
    "",
    `One fixed gap cannot explain the table: the least-squares gap ${
      fmt(bestGap, 4)
    } misses by up to ${fmt(maxAbs(fixedErr))} (RMSE ${
      fmt(rmse(fixedErr))
    }). Table 8 reports means of a nonlinear function of the gap, and ` +
      `mean ρ ≠ ρ(mean gap): a gap that varies over training as N(μ = ${fmt(mu, 4)}, s = ${
        fmt(sd, 4)
      }) (least squares, the same distribution for every τ) comes far closer to the 13 points, ` +
      `RMSE ${fmt(rmse(normErr))} (max ${fmt(normMaxErr)}), while ρ at its mean gap would be ${
        fmt(atMeanGap[idx(0.1)])
      } at τ = 0.1 instead of ${fmt(normPred[idx(0.1)], 4)} (Jensen gap ${fmt(jensen[idx(0.1)])}; ${
        fmt(jensen[idx(1)])
      } at τ = 1). ` +
      `Even this shared distribution misses some points by ${fmt(normMaxErr)}, ${
        fmt(normMaxErr / ROUNDING)
      } times the table's rounding. Nothing requires the 13 runs to share one gap distribution (each ` +
      `τ is its own training run), and the table mixes τ's direct effect with whatever differs ` +
      `between the runs; it cannot isolate the former.`,
    "",
    `Verdict: **${verdict}** — "τ < 1 amplifies, τ > 1 diminishes the disparity" holds for every ` +
      `fixed gap (Eq. 4), Table 8's disparity is larger than at τ = 1 for every τ < 1 and smaller ` +
      `for every τ > 1, and its rows sum to 1. That no single gap reproduces the table is no ` +
      `condition on the statement: the paper states (Sec. 4.6) that its ρ are averages over the ` +
      `iterations of the first 10 epochs of batch-level ratios, so the gap varies by the paper's own ` +
      `account.`,
  );

  return {
    id: "table8",
    title: "Eq. 4: τ < 1 amplifies and τ > 1 diminishes the ratio disparity, as Table 8 shows",
    reference: "Sec. 3.2.1 Eq. 4; Sec. 4.6 Table 8",
    verdict,
    expected: "HOLDS",
    summary,
    numbers,
    details: lines.join("\n"),
    plots: [rhoPlot(bestGap, implied, mu, sd)],
  };
}

function rhoPlot(bestGap: number, implied: number[], mu: number, sd: number): Plot {
  const grid = Array.from({ length: 121 }, (_, i) => Math.pow(10, -1.2 + (1.9 * i) / 120));
  const curve = (f: (t: number) => number) => grid.map((t) => [t, f(t)] as [number, number]);
  const svg = linePlot({
    title: `Eq. 4: ρ vs τ, Table 8 (Kinetics-Sounds); gap ~ N(μ=${fmt(mu, 2)}, s=${fmt(sd, 2)})`,
    xLabel: "τ",
    yLabel: "ρ",
    xLog: true,
    width: 760,
    series: [
      {
        name: "Table 8 audio",
        points: TABLE8_TAU.map((t, i) => [t, TABLE8_RHO_AUDIO[i]] as [number, number]),
        scatter: true,
      },
      {
        name: "Table 8 video",
        points: TABLE8_TAU.map((t, i) => [t, TABLE8_RHO_VIDEO[i]] as [number, number]),
        scatter: true,
      },
      { name: "N(μ,s) gap audio", points: curve((t) => meanRhoNormalGap(mu, sd, t)) },
      {
        name: "N(μ,s) gap video",
        points: curve((t) => 1 - meanRhoNormalGap(mu, sd, t)),
      },
      {
        name: `fixed ${fmt(bestGap, 2)} (LSQ)`,
        points: curve((t) => rhoAudio(bestGap, t)),
        dashed: true,
      },
      {
        name: `fixed ${fmt(implied[0], 2)} (τ=0.1)`,
        points: curve((t) => rhoAudio(implied[0], t)),
        dashed: true,
      },
      {
        name: `fixed ${fmt(implied[implied.length - 1], 2)} (τ=4)`,
        points: curve((t) => rhoAudio(implied[implied.length - 1], t)),
        dashed: true,
      },
    ],
  });
  return { file: "table8_rho_vs_tau.svg", title: "ρ vs τ with Table 8's points", svg };
}

/** Claim 7 for `deno task proofs`. */
const claim: Claim = { id: "table8", run: runTable8 };
export default claim;
