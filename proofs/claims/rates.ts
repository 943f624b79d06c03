/**
 * Claim: convergence rates (Sec. 3.3, Theorems 1-4). With eta = 1/((1 + nu) L sqrt(T)) the averaged
 * squared gradient norm decays as O(1/sqrt(T)) (log-log slope -1/2) for SGD, AMSS and AMSS+; AMSS
 * is slower than unmasked SGD by about 1/(1 - delta^2) (Theorem 1's comparison with delta = 0);
 * AMSS+ with unbiased (Horvitz-Thompson) masks matches unmasked SGD up to its variance factor.
 *
 * Evidence: log-log curves of the averaged squared gradient norm against T from 10^2 to 10^5 (quick:
 * to 10^3.5), with each method's own bound drawn on them, the fitted slopes, and the measured
 * slowdown of each masked method relative to SGD next to the slowdown the bounds predict.
 *
 * Verdict rule ({@link ratesVerdict}), one part per clause of the claim. "O(1/sqrt T) with the
 * prescribed eta": every method's measured average at or below its own theorem's bound (Eq. 12 for
 * the biased masks, Eq. 25 for SGD and HT; a mean above it beyond seed noise or a divergence is a
 * counterexample), and a last-decade log-log slope at most {@link SLOPE_MAX}. "AMSS+ (HT) ~ SGD":
 * the HT slowdown relative to SGD at most {@link ABOUT} times the ratio of their bounds (at least
 * 1). Either part false: FAILS. "AMSS slower than SGD by about 1/(1 - delta^2)": the measured
 * slowdown of every biased mask within a factor {@link ABOUT} of 1/(1 - delta^2): HOLDS. If the
 * first two parts hold but the measured slowdown is not about 1/(1 - delta^2): HOLDS-UNDER-CONDITION
 * (the factor holds as the ratio of the bounds, which the paper compares in Sec. 3.3 after
 * Theorem 1, and every measured curve obeys its bound, but the measured slowdown is not that
 * factor; the paper does not say its factor is a ratio of bounds only). A mean above its bound
 * within the noise throws (inconclusive).
 *
 * @module
 */
import type { Claim, ClaimOptions, ClaimResult, Plot, Verdict } from "../claim.ts";
import { linePlot, type Series } from "../../src/report/svg.ts";
import { Rng } from "../../src/rng.ts";
import { makeObjective, type ObjectiveKind, uniformLayout } from "../../src/theory/objectives.ts";
import { gaussianOracle } from "../../src/theory/oracle.ts";
import { type MethodName, METHODS } from "../../src/theory/masked_sgd.ts";
import { convergenceExperiment, type ExperimentResult } from "../../src/theory/estimators.ts";
import { type BoundCase, boundOutcome } from "./_common.ts";

/** The verdict this suite has established (regression guard). */
export const EXPECTED: Verdict = "HOLDS-UNDER-CONDITION";

const METHOD_LIST: MethodName[] = ["sgd", "amss", "uniform", "amss+ht"];
/** Biased masks (Theorem 3) and unbiased ones (Theorem 4; SGD is the delta = 0 case). */
const BIASED: MethodName[] = ["amss", "uniform"];
const RATIOS = [0.5, 0.75];

/**
 * Largest log-log slope over the last decade of T still counted as O(1/sqrt(T)): the asymptotic
 * slope is -1/2; at finite T the average still carries the initial transient and the fitted slope
 * carries seed noise, and -0.4 leaves room for both (a judgement, not a statistical tolerance).
 */
export const SLOPE_MAX = -0.4;
/** "About": a measured slowdown within this factor of the predicted one. */
export const ABOUT = 1.1;

/** The measured numbers {@link ratesVerdict} decides on. */
export interface RatesEvidence {
  /** Every (objective, method, T): measured mean, its standard error and its own theorem's bound. */
  cases: readonly BoundCase[];
  /** Largest (shallowest) log-log slope over the last decade of T, over objectives and methods. */
  worstSlopeLastDecade: number;
  /** HT masks: measured slowdown vs SGD at the largest T, and the ratio of their bounds. */
  ht: readonly { measured: number; boundRatio: number }[];
  /** Biased masks: measured slowdown vs SGD at the largest T, and 1/(1 - delta^2). */
  biased: readonly { measured: number; predicted: number }[];
}

/**
 * The verdict rule of this claim (see the module doc): Theorems 3-4 (Eq. 12, 25) for the rate,
 * Sec. 3.3 after Theorem 1 for the factor 1/(1 - delta^2).
 *
 * @throws {Error} on missing evidence, or when a mean lies above its bound within the noise.
 */
export function ratesVerdict(e: RatesEvidence): Verdict {
  if (e.ht.length === 0 || e.biased.length === 0) throw new Error("rates: no slowdowns measured");
  const outcome = boundOutcome(e.cases);
  if (outcome === "violated") return "FAILS";
  if (outcome === "inconclusive") {
    throw new Error("rates: a measured mean is above its bound within seed noise; inconclusive");
  }
  if (!(e.worstSlopeLastDecade <= SLOPE_MAX)) return "FAILS";
  if (e.ht.some((h) => !(h.measured <= ABOUT * Math.max(1, h.boundRatio)))) return "FAILS";
  const about = e.biased.every((b) =>
    Math.max(b.measured / b.predicted, b.predicted / b.measured) <= ABOUT
  );
  return about ? "HOLDS" : "HOLDS-UNDER-CONDITION";
}

const fmt = (x: number, digits = 3) =>
  Number.isFinite(x) ? Number(x.toPrecision(digits)).toString() : String(x);

/** Least-squares slope of log y on log x. */
function logSlope(xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const n = lx.length;
  const mx = lx.reduce((a, b) => a + b, 0) / n;
  const my = ly.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (lx[i] - mx) ** 2;
    sxy += (lx[i] - mx) * (ly[i] - my);
  }
  return sxy / sxx;
}

/** Runs the check; see the module doc. */
export function runRates(opts: ClaimOptions): ClaimResult {
  const t0 = performance.now();
  const quick = opts.quick;
  const Ts = quick ? [100, 316, 1000, 3162, 10000] : [100, 316, 1000, 3162, 10000, 31623, 100000];
  const seeds = quick ? 2 : 3;
  const pairs = quick ? 6 : 16;
  const points = quick ? 3 : 4;
  const objectives: { kind: ObjectiveKind; L: number; noise: number }[] = quick
    ? [{ kind: "logsum", L: 2, noise: 1 }]
    : [{ kind: "logsum", L: 2, noise: 1 }, { kind: "tanh-regression", L: 1, noise: 0.25 }];
  const layout = uniformLayout(["audio", "video"], 2, 16, 8);
  const seedRng = new Rng(opts.seed ^ 0x7a7e);
  const numbers: ClaimResult["numbers"] = {};
  const plots: Plot[] = [];
  const slopeLines = [
    "| objective | method | slope (all T) | slope (last decade) | nu | sigma^2 | delta | measured at T_max | bound at T_max |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const ratioLines = [
    "| objective | method | measured slowdown vs SGD at T_max | 1/(1 - delta^2) | ratio of the bounds | 1/gain (mean gain over points) |",
    "|---|---|---|---|---|---|",
  ];
  const cases: BoundCase[] = [];
  const htSlowdowns: RatesEvidence["ht"][number][] = [];
  const biasedSlowdowns: RatesEvidence["biased"][number][] = [];
  let worstSlope = -Infinity;
  let boundsHeld = true;
  let factorOk = true;
  let htOk = true;
  let worstFactor = 1;
  let maxSlowdown = 0;
  let maxPredicted = 0;
  let closerToGain = true;
  let gainMin = Infinity;
  let gainMax = -Infinity;
  let cosMin = Infinity;
  for (const ob of objectives) {
    const f = makeObjective(ob.kind, { layout, smoothness: ob.L, seed: seedRng.uint32() });
    const g1 = f.gradient(f.start);
    const oracle = gaussianOracle(f, { sigma2: ob.noise * g1.reduce((a, v) => a + v * v, 0) });
    const results: Partial<Record<MethodName, ExperimentResult>> = {};
    const series: Series[] = [];
    for (const m of METHOD_LIST) {
      const biased = BIASED.includes(m);
      const ex = convergenceExperiment({
        oracle,
        method: METHODS[m],
        ratios: RATIOS,
        Ts,
        seeds,
        seed: seedRng.uint32(),
        reference: biased ? "mean" : "gradient", // Eq. 10 (Theorem 3) / Eq. 24 (Theorem 4)
        pairs,
        points,
        pilotT: Ts[Math.min(2, Ts.length - 1)],
      });
      results[m] = ex;
      const means = ex.rows.map((r) => r.mean);
      const bound = ex.rows.map((r) => (biased ? r.bound3 : r.bound4));
      const all = logSlope(Ts, means);
      const k = Ts.findIndex((T) => T >= Ts[Ts.length - 1] / 10);
      const last = logSlope(Ts.slice(k), means.slice(k));
      worstSlope = Math.max(worstSlope, last);
      ex.rows.forEach((r, i) => {
        if (!(r.mean <= bound[i]) || r.diverged) boundsHeld = false;
        cases.push({ mean: r.mean, stdErr: r.stdErr, bound: bound[i], diverged: r.diverged });
      });
      const key = `${ob.kind}.${m}`;
      numbers[`${key}.slope`] = all;
      numbers[`${key}.slopeLastDecade`] = last;
      numbers[`${key}.delta`] = ex.constants.delta;
      const n = means.length - 1;
      slopeLines.push(
        `| ${ob.kind} | ${m} | ${fmt(all)} | ${fmt(last)} | ${fmt(ex.constants.nu)} | ${
          fmt(ex.constants.sigma2)
        } | ${fmt(ex.constants.delta)} | ${fmt(means[n])} | ${fmt(bound[n])} |`,
      );
      series.push(
        { name: m, points: ex.rows.map((r, i) => [r.T, means[i]]), markers: true },
        { name: `${m} bound`, points: ex.rows.map((r, i) => [r.T, bound[i]]), dashed: true },
      );
    }
    // slowdowns at the largest T, relative to SGD
    const sgd = results.sgd as ExperimentResult;
    const n = Ts.length - 1;
    for (const m of METHOD_LIST.filter((x) => x !== "sgd")) {
      const ex = results[m] as ExperimentResult;
      const measured = ex.rows[n].mean / sgd.rows[n].mean;
      const biased = BIASED.includes(m);
      const delta = ex.constants.delta;
      const predicted = biased ? 1 / (1 - delta * delta) : 1;
      const boundRatio = (biased ? ex.rows[n].bound3 : ex.rows[n].bound4) / sgd.rows[n].bound4;
      const gains = ex.constants.moments.map((x) => x.gain).filter(Number.isFinite);
      const meanGain = gains.reduce((a, b) => a + b, 0) / gains.length;
      const key = `${ob.kind}.${m}`;
      numbers[`${key}.slowdown`] = measured;
      numbers[`${key}.predicted`] = predicted;
      numbers[`${key}.boundRatio`] = boundRatio;
      numbers[`${key}.inverseGain`] = 1 / meanGain;
      if (biased) biasedSlowdowns.push({ measured, predicted });
      else htSlowdowns.push({ measured, boundRatio });
      if (biased) {
        for (const x of ex.constants.moments) {
          if (Number.isFinite(x.gain)) {
            gainMin = Math.min(gainMin, x.gain);
            gainMax = Math.max(gainMax, x.gain);
          }
          if (Number.isFinite(x.cosine)) cosMin = Math.min(cosMin, x.cosine);
        }
        const dGain = Math.abs(Math.log(measured * meanGain));
        if (!(dGain < Math.abs(Math.log(measured / predicted)))) closerToGain = false;
        const off = Math.max(measured / predicted, predicted / measured);
        worstFactor = Math.max(worstFactor, off);
        if (off > ABOUT) factorOk = false;
        if (measured / predicted > maxSlowdown / Math.max(maxPredicted, 1e-300)) {
          maxSlowdown = measured;
          maxPredicted = predicted;
        }
      } else if (!(measured <= ABOUT * Math.max(1, boundRatio))) {
        htOk = false; // HT should match SGD up to its variance factor (the bounds' ratio)
      }
      ratioLines.push(
        `| ${ob.kind} | ${m} | ${fmt(measured)} | ${biased ? fmt(predicted) : "1 (unbiased)"} | ${
          fmt(boundRatio)
        } | ${fmt(1 / meanGain)} |`,
      );
    }
    plots.push({
      file: `rates_${ob.kind.replace(/-/g, "_")}.svg`,
      title: `Convergence rates on ${ob.kind}`,
      svg: linePlot({
        title: `(1/T) sum ||grad L||^2 vs T, eta = 1/((1+nu) L sqrt T), ${ob.kind}`,
        xLabel: "T",
        yLabel: "(1/T) sum ||grad L(w_t)||^2",
        series,
        xLog: true,
        yLog: true,
      }),
    });
  }
  const verdict = ratesVerdict({
    cases,
    worstSlopeLastDecade: worstSlope,
    ht: htSlowdowns,
    biased: biasedSlowdowns,
  });
  const seconds = (performance.now() - t0) / 1000;
  Object.assign(numbers, {
    worstSlopeLastDecade: worstSlope,
    boundsHeld,
    htMatchesSgd: htOk,
    slowdownWithinAbout: factorOk,
    worstSlowdownMismatch: worstFactor,
    seconds,
  });
  const summary = verdict === "HOLDS-UNDER-CONDITION"
    ? `O(1/sqrt T) holds (last-decade slopes <= ${
      fmt(worstSlope)
    }, every curve under its bound, HT ~ SGD); ` +
      `but 1/(1-delta^2) is only the ratio of the bounds: measured AMSS/uniform slowdown up to ${
        fmt(maxSlowdown)
      } vs 1/(1-delta^2) = ${fmt(maxPredicted)}${
        closerToGain ? " (it tracks 1/gain of the mean update)" : ""
      }`
    : verdict === "HOLDS"
    ? `O(1/sqrt T) with slopes <= ${fmt(worstSlope)}; slowdowns within ${ABOUT}x of 1/(1-delta^2)`
    : `rate or bound failed: last-decade slope ${
      fmt(worstSlope)
    }, bounds held ${boundsHeld}, HT ~ SGD ${htOk}`;
  const details = [
    `Masked SGD with eta = 1/((1+nu) L sqrt(T)) on ${
      objectives.map((o) => `${o.kind} (L = ${o.L}, sigma^2 = ${o.noise} ||grad L(w(1))||^2)`)
        .join(" and ")
    }, d = 512, rho = (${RATIOS.join(", ")}); T in {${Ts.join(", ")}}, ${seeds} seeds per T.`,
    "nu, sigma^2, delta measured as in the Theorem 3/4 checks (Eq. 10 for the biased 0/1 masks,",
    "Eq. 24 for SGD and HT); each curve is drawn with its own theorem's bound (dashed).",
    "",
    ...slopeLines,
    "",
    "Slowdown at the largest T (measured mean / SGD's mean) against what the theory suggests:",
    "",
    ...ratioLines,
    "",
    "The slope is -1/2 asymptotically (shallower at small T, where the average still contains the",
    "initial transient), as Theorems 3 and 4 allow. The factor 1/(1 - delta^2) comes from the proof's",
    "worst case for the bias (Eq. 15-17: -<grad L, grad L + b> + ||grad L + b||^2 / 2 with",
    "||b|| <= delta ||grad L||). For the biased masks measured here the bias mostly shrinks the",
    `gradient (cosine(E[g ⊙ m], grad L) >= ${
      fmt(cosMin)
    }, gain <E[g ⊙ m], grad L> / ||grad L||^2 in [${fmt(gainMin)}, ${
      fmt(gainMax)
    }]): the mean update is about gain x grad L, and the deterministic part of the`,
    "sum scales with 1/gain (1/(1 - delta) for a pure shrink), which exceeds 1/(1 - delta^2).",
    `The measured slowdowns are ${
      closerToGain ? "closer to 1/gain than to 1/(1 - delta^2)" : "not closer to 1/gain"
    } in every biased case. ${
      factorOk
        ? "They agree with 1/(1 - delta^2) within the tolerance."
        : "The bounds hold; 1/(1 - delta^2) compares the bounds, not the measured rates."
    }`,
    "",
    `This run: ${quick ? "quick" : "full"} mode, ${seconds.toFixed(1)} s. ` +
    "Full mode (T to 10^5, 3 seeds, two objectives) takes about 3 minutes of CPU time (single-threaded).",
  ].join("\n");
  return {
    id: "rates",
    title:
      "O(1/sqrt T) rates with the prescribed eta; AMSS slower than SGD by about 1/(1-delta^2); AMSS+ (HT) ~ SGD",
    reference: "Sec. 3.3 Theorems 1-2; Theorems 3-4, Eq. 12 and 25",
    verdict,
    expected: EXPECTED,
    summary,
    numbers,
    details,
    plots,
  };
}

/** The claim module. */
const claim: Claim = { id: "rates", run: runRates };
export default claim;
