/**
 * Claim: Theorem 4 (AMSS+, unbiased stochastic gradient; App. A.2, Eq. 25). Under Assumptions 1
 * and 4 (E[g ⊙ m_hat] = grad L, Eq. 23; variance <= nu ||grad L||^2 + sigma^2, Eq. 24) and
 * eta = 1/((1 + nu) L sqrt(T)),
 * (1/T) sum_t ||grad L(w(t))||^2 <= 2 (1 + nu) L L(w(1)) / sqrt(T) + sigma^2 / ((1 + nu) sqrt(T)).
 *
 * Evidence: (a) the bound with measured constants for the Horvitz-Thompson masks (weights with
 * E[m_j | g] = 1: the engine's adaptive sampling with rank-conditioning weights, and systematic
 * PPS with 1/pi_j) on the kit's three objectives over several T and seeds; (b) Eq. 23 itself,
 * measured by plain Monte Carlo over noise and masks, for HT and for the paper's 1/p_j (Eq. 5) and
 * the authors' 1/(p_j + 1/C_l) scales; (c) for the latter two, what happens under Theorem 4's
 * recipe anyway (the theorem does not cover them).
 *
 * Verdict rule ({@link theorem4Verdict}). The paper claims that AMSS+ (Eq. 5, and its practical
 * form 1/(p_j + a)) satisfies Eq. 23 and therefore Eq. 25. The implication "Assumption 4 => Eq. 25"
 * is tested on masks that do satisfy Eq. 23: the HT masks, whose unbiasedness is measured by plain
 * Monte Carlo over masks (no closed form); if they are not measured unbiased the test of the
 * implication is void and the claim throws (a control failure: HT weights are unbiased by
 * construction, so a measured bias is a defect of the engine or the estimator, not of the paper).
 * FAILS: an HT average exceeds Eq. 25 beyond seed noise or diverges (a counterexample to the
 * theorem). HOLDS-UNDER-CONDITION: Eq. 25 held for HT, but one of the AMSS+ scales the paper uses
 * (1/p_j, 1/(p_j + 1/C_l)) violates Eq. 23 (relative bias above {@link UNBIASED_TOL}): the theorem
 * holds for AMSS+ only with inclusion-probability weights. HOLDS: Eq. 25 held and the paper's
 * scales are unbiased as well. A mean above its bound within the noise throws (inconclusive).
 *
 * @module
 */
import type { Claim, ClaimOptions, ClaimResult, Plot, Verdict } from "../claim.ts";
import { linePlot, type Series } from "../../src/report/svg.ts";
import { Rng } from "../../src/rng.ts";
import {
  makeObjective,
  type Objective,
  type ObjectiveKind,
  uniformLayout,
} from "../../src/theory/objectives.ts";
import { gaussianOracle, type GradientOracle } from "../../src/theory/oracle.ts";
import {
  drawMask,
  keptPerLayer,
  maskedSgd,
  type MethodName,
  METHODS,
} from "../../src/theory/masked_sgd.ts";
import { convergenceExperiment, pointMoments } from "../../src/theory/estimators.ts";
import { type BoundCase, boundOutcome, OBJECTIVES } from "./_common.ts";

/** The verdict this suite has established (regression guard). */
export const EXPECTED: Verdict = "HOLDS-UNDER-CONDITION";

/** The unbiased AMSS+ masks (exact inclusion-probability weights). */
const HT: MethodName[] = ["amss+ht", "amss+ht-systematic"];
/** The AMSS+ scales the paper and the authors' code use. */
const BIASED: MethodName[] = ["amss+paper", "amss+reference"];
const RATIOS = [0.5, 0.75];

/**
 * Relative bias ||E[g ⊙ m] - grad L|| / ||grad L|| above which Eq. 23 counts as violated, and at or
 * below which as satisfied. For an unbiased mask, the debiased plain Monte-Carlo estimate of
 * ||g ⊙ (E[m | g] - 1)||^2 / ||g||^2 over M draws is a weighted sum of chi-square(1) terms minus
 * its mean s^2 (s the reported standard error, ∝ 1/sqrt(M)); its standard deviation is about
 * sqrt(2 / d_eff) s^2, with d_eff <= d the effective number of coordinates. With s ≈ 0.026
 * (M = 1024, quick mode) even d_eff = 8 gives 3.4e-4, and 0.05^2 = 2.5e-3 is over 7 of those.
 */
export const UNBIASED_TOL = 0.05;

/** The measured numbers {@link theorem4Verdict} decides on. */
export interface Theorem4Evidence {
  /** Every (objective, HT mask, T) case: measured mean, its standard error, Eq. 25's bound. */
  htCases: readonly BoundCase[];
  /** Largest plain-Monte-Carlo relative bias ||g ⊙ (E[m | g] - 1)|| / ||g|| of the HT masks. */
  htMaxCondBias: number;
  /** Largest relative bias ||E[g ⊙ m] - grad L|| / ||grad L|| of the paper's AMSS+ scales. */
  amssPlusMaxRelBias: number;
}

/**
 * The verdict rule of this claim (see the module doc): Theorem 4 (Eq. 25) under Eq. 23.
 *
 * @throws {Error} when the HT masks are not measured unbiased (control), there are no cases, or an
 *   HT mean lies above its bound within the noise (inconclusive).
 */
export function theorem4Verdict(e: Theorem4Evidence): Verdict {
  if (!(e.htMaxCondBias <= UNBIASED_TOL)) {
    throw new Error(
      `theorem4: control check failed: HT masks measured biased (${e.htMaxCondBias} > ${UNBIASED_TOL})`,
    );
  }
  const outcome = boundOutcome(e.htCases);
  if (outcome === "violated") return "FAILS";
  if (outcome === "inconclusive") {
    throw new Error("theorem4: an HT mean is above Eq. 25 within seed noise; inconclusive");
  }
  return e.amssPlusMaxRelBias > UNBIASED_TOL ? "HOLDS-UNDER-CONDITION" : "HOLDS";
}

const fmt = (x: number, digits = 3) =>
  Number.isFinite(x) ? Number(x.toPrecision(digits)).toString() : String(x);

interface BiasRow {
  objective: ObjectiveKind;
  method: MethodName;
  /** max over points of ||E[g ⊙ m] - grad L|| / ||grad L|| (noise and mask integrated, exact moments). */
  relBias: number;
  /** its Monte Carlo standard error (noise draws). */
  stdErr: number;
  /** mean over points of <E[g ⊙ m], grad L> / ||grad L||^2. */
  gain: number;
  /** min over points of cos(E[g ⊙ m], grad L). */
  cosine: number;
  /** max over points of ||g ⊙ (E[m | g] - 1)|| / ||g|| by plain Monte Carlo over masks (debiased). */
  condBias: number;
  /** its standard error. */
  condStdErr: number;
}

/**
 * Direct check of E[m_j | g] = 1 (the step App. A.2's unbiasedness argument rests on) by plain
 * Monte Carlo over `draws` masks for one stochastic gradient g: returns the debiased
 * ||g ⊙ (mean m - 1)|| / ||g|| and its standard error. No closed form is used.
 */
function conditionalBias(
  oracle: GradientOracle,
  method: MethodName,
  w: Float64Array,
  draws: number,
  rng: Rng,
): { rel: number; stdErr: number } {
  const f = oracle.objective;
  const layout = f.layout;
  const d = f.dim;
  const k = keptPerLayer(layout, RATIOS);
  const g = oracle.sample(w, rng);
  const s1 = new Float64Array(d);
  const s2 = new Float64Array(d);
  const m = new Float64Array(d);
  for (let r = 0; r < draws; r++) {
    drawMask(layout, g, METHODS[method], k, rng, m);
    for (let i = 0; i < d; i++) {
      s1[i] += m[i];
      s2[i] += m[i] * m[i];
    }
  }
  let plug = 0;
  let mcVar = 0;
  let g2 = 0;
  for (let i = 0; i < d; i++) {
    const mean = s1[i] / draws;
    const varM = Math.max(0, (s2[i] - draws * mean * mean) / (draws - 1));
    plug += (g[i] * (mean - 1)) ** 2;
    mcVar += (g[i] * g[i] * varM) / draws;
    g2 += g[i] * g[i];
  }
  return { rel: Math.sqrt(Math.max(0, plug - mcVar) / g2), stdErr: Math.sqrt(mcVar / g2) };
}

/** Bias figures of one method at the given points (see {@link BiasRow}). */
function measureBias(
  oracle: GradientOracle,
  method: MethodName,
  pts: Float64Array[],
  pairs: number,
  draws: number,
  rng: Rng,
): Omit<BiasRow, "objective" | "method"> {
  const out = { relBias: 0, stdErr: 0, gain: 0, cosine: 1, condBias: 0, condStdErr: 0 };
  for (const w of pts) {
    const m = pointMoments(w, { oracle, method: METHODS[method], ratios: RATIOS, pairs, rng });
    out.relBias = Math.max(out.relBias, m.delta);
    out.stdErr = Math.max(out.stdErr, m.deltaStdErr);
    out.gain += m.gain / pts.length;
    out.cosine = Math.min(out.cosine, m.cosine);
    const c = conditionalBias(oracle, method, w, draws, rng);
    out.condBias = Math.max(out.condBias, c.rel);
    out.condStdErr = Math.max(out.condStdErr, c.stdErr);
  }
  return out;
}

/** Runs the check; see the module doc. */
export function runTheorem4(opts: ClaimOptions): ClaimResult {
  const t0 = performance.now();
  const quick = opts.quick;
  const Ts = quick ? [100, 1000] : [100, 1000, 10000, 100000];
  const seeds = quick ? 3 : 4;
  const pairs = quick ? 8 : 24;
  const points = quick ? 3 : 5;
  const layout = uniformLayout(["audio", "video"], 2, 16, 8);
  const seedRng = new Rng(opts.seed ^ 0x7e04);
  const numbers: ClaimResult["numbers"] = {};
  const plots: Plot[] = [];
  const boundLines = [
    "| objective | mask | T | measured (mean ± s.e.) | bound (Eq. 25) | slack | nu | sigma^2 |",
    "|---|---|---|---|---|---|---|---|",
  ];
  const biasRows: BiasRow[] = [];
  const recipeLines = [
    "| objective | scale | T | measured | Eq. 25 with its Eq. 24 constants | held numerically |",
    "|---|---|---|---|---|---|",
  ];
  const htCases: BoundCase[] = [];
  let htHolds = true;
  let htMinSlack = Infinity;
  let recipeHeld = true;
  const objectives: { ob: (typeof OBJECTIVES)[number]; f: Objective; oracle: GradientOracle }[] =
    [];
  for (const ob of OBJECTIVES) {
    const f = makeObjective(ob.kind, { layout, smoothness: ob.L, seed: seedRng.uint32() });
    const g1 = f.gradient(f.start);
    const oracle = gaussianOracle(f, { sigma2: ob.noise * g1.reduce((a, v) => a + v * v, 0) });
    objectives.push({ ob, f, oracle });
  }
  for (const { ob, oracle } of objectives) {
    // (a) Theorem 4 for the unbiased masks
    const series: Series[] = [];
    for (const mask of HT) {
      const ex = convergenceExperiment({
        oracle,
        method: METHODS[mask],
        ratios: RATIOS,
        Ts,
        seeds,
        seed: seedRng.uint32(),
        reference: "gradient", // Eq. 24: variance against ||grad L||^2
        pairs,
        points,
      });
      const c = ex.constants;
      const key = `${ob.kind}.${mask}`;
      numbers[`${key}.nu`] = c.nu;
      numbers[`${key}.sigma2`] = c.sigma2;
      for (const r of ex.rows) {
        const slack = r.bound4 / r.mean;
        htMinSlack = Math.min(htMinSlack, slack);
        if (!(r.mean <= r.bound4) || r.diverged) htHolds = false;
        htCases.push({ mean: r.mean, stdErr: r.stdErr, bound: r.bound4, diverged: r.diverged });
        numbers[`${key}.T${r.T}.measured`] = r.mean;
        numbers[`${key}.T${r.T}.bound`] = r.bound4;
        boundLines.push(
          `| ${ob.kind} | ${mask} | ${r.T} | ${fmt(r.mean)} ± ${fmt(r.stdErr, 2)} | ${
            fmt(r.bound4)
          } | ${fmt(slack)} | ${fmt(c.nu)} | ${fmt(c.sigma2)} |`,
        );
      }
      series.push(
        { name: mask, points: ex.rows.map((r) => [r.T, r.mean]), markers: true },
        { name: `${mask} bound`, points: ex.rows.map((r) => [r.T, r.bound4]), dashed: true },
      );
    }
    plots.push({
      file: `theorem4_${ob.kind.replace(/-/g, "_")}.svg`,
      title: `Theorem 4 on ${ob.kind}`,
      svg: linePlot({
        title: `Theorem 4 (Eq. 25) with HT masks on ${ob.kind} (L = ${ob.L})`,
        xLabel: "T",
        yLabel: "(1/T) sum ||grad L(w_t)||^2",
        series,
        xLog: true,
        yLog: true,
      }),
    });

    // (b) Eq. 23 at points of an HT trajectory (start and end; full mode also the middle)
    const traj = maskedSgd({
      oracle,
      method: METHODS["amss+ht"],
      ratios: RATIOS,
      T: Ts[Ts.length - 1],
      nu: 0,
      seed: seedRng.uint32(),
      keepPoints: quick ? 2 : 3,
    });
    const pts = traj.points.map((p) => p.w);
    for (const method of [...HT, ...BIASED]) {
      const b = measureBias(
        oracle,
        method,
        pts,
        quick ? 4 : 16,
        quick ? 1024 : 4096,
        new Rng(seedRng.uint32()),
      );
      biasRows.push({ objective: ob.kind, method, ...b });
      numbers[`${ob.kind}.${method}.relBias`] = b.relBias;
      numbers[`${ob.kind}.${method}.gain`] = b.gain;
    }
  }

  // (c) the paper's and the reference scales under Theorem 4's recipe (not covered by it)
  const recipeObjectives = quick ? objectives.slice(0, 1) : objectives;
  for (const { ob, oracle } of recipeObjectives) {
    for (const mask of BIASED) {
      const ex = convergenceExperiment({
        oracle,
        method: METHODS[mask],
        ratios: RATIOS,
        Ts,
        seeds: 2,
        seed: seedRng.uint32(),
        reference: "gradient",
        pairs: quick ? 4 : 12,
        points: quick ? 2 : points,
      });
      numbers[`${ob.kind}.${mask}.delta`] = ex.constants.delta;
      for (const r of ex.rows) {
        const held = r.mean <= r.bound4 && !r.diverged;
        recipeHeld &&= held;
        recipeLines.push(
          `| ${ob.kind} | ${mask} | ${r.T} | ${fmt(r.mean)} | ${fmt(r.bound4)} | ${
            held ? "yes" : "NO"
          } |`,
        );
      }
    }
  }

  const htRows = biasRows.filter((b) => HT.includes(b.method));
  // HT: only the direct Monte Carlo check of E[m | g] = 1 counts as evidence; the integrated bias
  // of the HT rows uses E[m | g] = 1 by construction and antithetic noise, so it is 0 by design
  const htBias = Math.max(...htRows.map((b) => b.condBias));
  const biasedRows = biasRows.filter((b) => BIASED.includes(b.method));
  const minBias = Math.min(...biasedRows.map((b) => b.relBias));
  const maxBias = Math.max(...biasedRows.map((b) => b.relBias));
  const avg = (m: MethodName, f: (b: BiasRow) => number) => {
    const rs = biasRows.filter((b) => b.method === m);
    return rs.reduce((a, b) => a + f(b), 0) / rs.length;
  };
  const gainPaper = avg("amss+paper", (b) => b.gain);
  const gainRef = avg("amss+reference", (b) => b.gain);
  const biasPaper = avg("amss+paper", (b) => b.relBias);
  const biasRef = avg("amss+reference", (b) => b.relBias);
  const verdict = theorem4Verdict({ htCases, htMaxCondBias: htBias, amssPlusMaxRelBias: maxBias });
  const seconds = (performance.now() - t0) / 1000;
  Object.assign(numbers, {
    htBoundHeld: htHolds,
    htMinSlack,
    htMaxCondBias: htBias,
    paperGain: gainPaper,
    paperRelBias: biasPaper,
    referenceGain: gainRef,
    referenceRelBias: biasRef,
    biasedMinRelBias: minBias,
    biasedMaxRelBias: maxBias,
    biasedRecipeHeldNumerically: recipeHeld,
    seconds,
  });
  const summary = verdict === "HOLDS-UNDER-CONDITION"
    ? `holds only with exact inclusion-probability (HT) weights: Eq. 25 held for HT masks (min slack ${
      fmt(htMinSlack)
    }, relative bias <= ${fmt(htBias, 2)}); the paper's 1/p_j is biased (gain ${
      fmt(gainPaper)
    }, ||b||/||grad L|| ${fmt(biasPaper)}) and so is 1/(p_j + 1/C) (gain ${fmt(gainRef)}, ${
      fmt(biasRef)
    }): Eq. 23 fails, the theorem does not apply`
    : verdict === "HOLDS"
    ? `Eq. 25 held (min slack ${fmt(htMinSlack)}) and all scales measured unbiased`
    : `HT masks: bound held = ${htHolds} (min slack ${fmt(htMinSlack)}), relative bias ${
      fmt(htBias)
    }`;
  const biasLines = [
    "| objective | scale | ‖E[g ⊙ m] − ∇L‖ / ‖∇L‖ | MC s.e. | gain ⟨E[g ⊙ m], ∇L⟩ / ‖∇L‖² | min cosine | ‖g ⊙ (E[m given g] − 1)‖ / ‖g‖ (plain MC) | MC s.e. |",
    "|---|---|---|---|---|---|---|---|",
    ...biasRows.map((b) =>
      `| ${b.objective} | ${b.method} | ${fmt(b.relBias)} | ${fmt(b.stdErr, 2)} | ${
        fmt(b.gain)
      } | ${fmt(b.cosine)} | ${fmt(b.condBias)} | ${fmt(b.condStdErr, 2)} |`
    ),
  ];
  const details = [
    "Same objectives, layout (d = 512, 4 layers of 16 units) and ratios rho = (0.5, 0.75) as the",
    "Theorem 3 check. Constants per Eq. 24 (variance against ||grad L||^2), nu minimising the bound",
    "(fixed by a pilot run), sigma^2 the upper envelope over every measured point.",
    "",
    "**(a) Eq. 25 for the unbiased (Horvitz-Thompson) AMSS+ masks.** `amss+ht` is the engine's",
    "adaptive (successive) sampling with its rank-conditioning weights (E[m_j | g] = 1 exactly);",
    "`amss+ht-systematic` is systematic PPS sampling with weights 1/pi_j.",
    "",
    ...boundLines,
    "",
    "**(b) Eq. 23 (unbiasedness)** at points of an HT trajectory (start and end). First columns: the",
    "bias integrated over noise (antithetic pairs) and masks (exact conditional moments: inclusion",
    "probabilities by quadrature; for the rank-conditioning HT weights E[m_j | g] = 1 by construction),",
    "max over the points; gain and cosine compare E[g ⊙ m] with grad L. Last columns: an independent",
    "check that uses no closed form, E[m | g] by plain Monte Carlo over masks for one stochastic",
    "gradient g per point (debiased relative error, max over points); for the HT rows only this",
    "check counts as evidence (their first column is 0 by construction). App. A.2 (Eq. 22) defines p_j",
    "as the INCLUSION probability",
    "P(unit j selected); Eq. 5 and Sec. 3.2.2 use the normalised importance (the sampling weight)",
    "instead. For k > 1 units drawn without replacement the two differ (pi_j ~ k p_j), so 1/p_j",
    "multiplies the expected update by about k and 1/(p_j + 1/C) by about k/2 (k = 8 and 12 here):",
    "",
    ...biasLines,
    "",
    "Since ||b|| / ||grad L|| >= 1 for those scales, Assumption 3 (delta < 1) fails as well: neither",
    "Theorem 3 nor Theorem 4 gives them a bound.",
    "",
    "**(c) The paper's and reference scales run under Theorem 4's recipe anyway** (their own",
    "Eq. 24 constants measured around their own mean; outside the theorem's hypotheses):",
    "",
    ...recipeLines,
    "",
    recipeHeld
      ? "The inequality happens to hold numerically there: the bias acts as a larger learning rate " +
        "(gain ~k) and their measured nu is large, which shrinks eta; the theorem itself says nothing."
      : "The inequality fails there: a concrete case outside the theorem's hypotheses.",
    "",
    `This run: ${quick ? "quick" : "full"} mode, ${seconds.toFixed(1)} s. ` +
    "Full mode (T up to 10^5, 4 seeds, all objectives in (c)) takes about 5 minutes of CPU time (single-threaded).",
  ].join("\n");
  return {
    id: "theorem4",
    title:
      "AMSS+ (unbiased masks) converges as Theorem 4's bound says; the unbiasedness it assumes holds for HT weights only",
    reference: "Theorem 4, Eq. 25; Assumptions 1, 4; Eq. 5, Eq. 22-23 (App. A.2)",
    verdict,
    expected: EXPECTED,
    summary,
    numbers,
    details,
    plots,
  };
}

/** The claim module. */
const claim: Claim = { id: "theorem4", run: runTheorem4 };
export default claim;
