/**
 * `deno task proofs`: claims 4-8 in quick mode (verdict as established, pinned as a literal;
 * finite numbers; plots), and the runner's core on fake claim lists: atomic writes, report files, exit-code logic
 * (verdict change -> 1, claim error -> 1, usage error -> 2), `--only`, `--readme`.
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertLess,
  assertLessOrEqual,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import type { Claim, ClaimResult, Verdict } from "../proofs/claim.ts";
import {
  main,
  parseArgs,
  readmeSection,
  type ResultsJson,
  runClaims,
  UsageError,
  writeFileAtomic,
} from "../proofs/main.ts";
import { CLAIMS } from "../proofs/claims/mod.ts";
import unbiasedness, { EXACT_TOL, Z_MAX } from "../proofs/claims/unbiasedness.ts";
import rebalancing from "../proofs/claims/rebalancing.ts";
import barberAgakov from "../proofs/claims/barber_agakov.ts";
import table8, { impliedGap, ROUNDING } from "../proofs/claims/table8.ts";
import referenceVsPaper, { EQ4_F32_TOL, FORMULA_TOL } from "../proofs/claims/reference_vs_paper.ts";

import { checkClaim } from "./_claims.ts";

const QUICK = { quick: true, seed: 1 };

Deno.test("claim unbiasedness (quick): 1/p gain = k for p ∝ g², HT unbiased by MC -> FAILS", () => {
  const r = unbiasedness.run(QUICK) as ClaimResult;
  checkClaim(r, "unbiasedness", "FAILS");
  const n = r.numbers;
  assertLess(n.paper_gain_equals_k_rel_err as number, 1e-8);
  assertGreater(n.paper_gain_min as number, 2); // k >= 7 at n = 64, k/n = 0.1
  // every configuration of the paper's setting is biased, not just one
  assertGreater(n.paper_min_rel_bias as number, EXACT_TOL);
  assertGreater(n.min_sampling_weight as number, 1e-5); // the premise of EXACT_TOL
  // HT: the engine's masks by Monte Carlo (3000 draws per configuration, seed 1): each mean within
  // Z_MAX standard errors sd/sqrt(3000) of E[m_j] = 1, i.e. |z| <= 5
  assertLessOrEqual(n.ht_mc_max_abs_z as number, Z_MAX);
  assertEquals(n.mc_draws, 3000);
  assertLess(n.k1_paper_max_mask_bias as number, 1e-8); // k = 1: p_j = pi_j
  assertLess(n.reference_uniform_gain_vs_half_k_rel_err as number, 1e-9);
  assertGreater(n.paper_worst_angle_deg as number, 10);
});

Deno.test("claim rebalancing (quick): HT gain 1 for both modalities, reference ≈ rho C / 2", () => {
  const r = rebalancing.run(QUICK) as ClaimResult;
  checkClaim(r, "rebalancing", "FAILS");
  const n = r.numbers;
  // which scales the rule found unbiased and rebalancing at the largest gap
  assertEquals(n.unbiased_scales_at_max_gap, "horvitz-thompson");
  assertEquals(n.rebalancing_scales_at_max_gap, "none,paper,reference");
  // HT gains by Monte Carlo (2000 draws, seed 1): within Z_MAX = 5 standard errors sd/sqrt(2000)
  // of 1, the standard errors being those the claim measured
  assertEquals(n.mc_draws, 2000);
  for (const m of ["audio", "video"]) {
    const se = n[`ht_gain_${m}_se_at_max_gap`] as number;
    assertGreater(se, 0);
    assertLessOrEqual(Math.abs((n[`ht_gain_${m}_at_max_gap`] as number) - 1), Z_MAX * se);
  }
  assertLess(n.reference_vs_rhoC2_max_rel_err_near_uniform as number, 0.1);
  assertLess(n.paper_gain_vs_k_max_rel_err as number, 1e-8);
  // the biased scales rebalance in expectation roughly like rho_audio / rho_video
  const rhoRatio = n.rho_ratio_at_max_gap as number;
  assertAlmostEquals(n.reference_gain_ratio_at_max_gap as number, rhoRatio, 0.1);
  assertGreater(n.ht_variance_ratio_at_max_gap as number, 2);
});

Deno.test("claim barber_agakov (quick): population bound holds; batch estimate biased low", () => {
  const r = barberAgakov.run(QUICK) as ClaimResult;
  checkClaim(r, "barber_agakov", "HOLDS");
  const n = r.numbers;
  assertLess(n.max_bound_minus_I as number, 1e-12);
  assertLess(n.max_tightness_error as number, 1e-12);
  assertLess(n.max_kl_identity_error as number, 1e-10);
  assertLess(n.batch_bias_C31_B64 as number, 0);
  assertGreater(n.p_exceed_C10_B256 as number, n.p_exceed_C10_B4 as number);
});

Deno.test("claim table8: Eq. 4 monotone, Table 8 agrees, means over iterations -> HOLDS", () => {
  const r = table8.run(QUICK) as ClaimResult;
  checkClaim(r, "table8", "HOLDS");
  const n = r.numbers;
  assertEquals(n.monotonicity_violations, 0);
  assertEquals(n.paper_states_mean_over_iterations, true);
  assertGreater(n.table_disparity_tau0_1 as number, n.table_disparity_tau1 as number);
  assertGreater(n.table_disparity_tau1 as number, n.table_disparity_tau4 as number);
  // a shared normal gap distribution is far outside the table's rounding (reported, not judged)
  assertGreater(n.normal_gap_max_abs_err as number, 10 * ROUNDING);
  assertAlmostEquals(n.implied_gap_tau0_1 as number, 0.1 * Math.log(0.7762 / 0.2238), 1e-12);
  assertAlmostEquals(n.implied_gap_tau1 as number, Math.log(0.6695 / 0.3305), 1e-12);
  assertAlmostEquals(n.implied_gap_tau4 as number, 4 * Math.log(0.5596 / 0.4404), 1e-12);
  assertEquals(n.rounding_intervals_overlap, false);
  assertLess(n.normal_gap_rmse as number, n.best_fixed_gap_rmse as number);
  // impliedGap inverts Eq. 4: rho = 1 - 1/(1 + exp(-gap/tau))
  const g = impliedGap(0.25, 0.3);
  assertAlmostEquals(1 - 1 / (1 + Math.exp(-g / 0.25)), 0.3, 1e-15);
});

Deno.test("claim reference_vs_paper (quick): the modes differ -> FAILS", () => {
  const r = referenceVsPaper.run(QUICK) as ClaimResult;
  checkClaim(r, "reference_vs_paper", "FAILS");
  const n = r.numbers;
  // the formulas, both in float64, differ (the verdict's evidence)
  assertGreater(n.formula_max_abs_ref_minus_paper as number, FORMULA_TOL);
  assertGreater(n.differing_batch_rate as number, 0);
  assertGreater(n.mean_abs_rho_ref_minus_paper as number, 0.01);
  // the ladder's last step is the reference's formula: on the reference's own float32 pieces it
  // reproduces referenceSignificance up to Eq. 4's float32 rounding
  assertLessOrEqual(n.ladder_on_reference_pieces_vs_reference_max_abs as number, EQ4_F32_TOL);
  assertLess(n.balanced_href_err as number, 1e-5);
});

Deno.test("registry: unique ids, claims 4-8 listed", () => {
  const ids = CLAIMS.map((c) => c.id);
  assertEquals(new Set(ids).size, ids.length);
  for (
    const id of ["unbiasedness", "rebalancing", "barber_agakov", "table8", "reference_vs_paper"]
  ) {
    assert(ids.includes(id), id);
  }
});

// ---------------------------------------------------------------------------------------------
// Runner core on fake claims

function fake(id: string, verdict: Verdict, expected: Verdict, file = `${id}.svg`): Claim {
  return {
    id,
    run: () => ({
      id,
      title: `fake ${id}`,
      reference: "Eq. 0",
      verdict,
      expected,
      summary: `summary of ${id} | with a pipe`,
      numbers: { x: 1, label: "a" },
      details: `details of ${id}`,
      plots: [{ file, title: `plot ${id}`, svg: `<svg xmlns="http://www.w3.org/2000/svg"></svg>` }],
    }),
  };
}

const quiet = { log: () => {} };

async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeFileAtomic: writes, overwrites, leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/a.txt`;
    await writeFileAtomic(path, "first");
    assertEquals(await Deno.readTextFile(path), "first");
    await writeFileAtomic(path, "second, longer");
    assertEquals(await Deno.readTextFile(path), "second, longer");
    await writeFileAtomic(path, new TextEncoder().encode("bytes"));
    assertEquals(await Deno.readTextFile(path), "bytes");
    assertEquals(await listDir(dir), ["a.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic: a failed rename keeps the target and removes the temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // the target is a non-empty folder: rename over it fails after the data was written
    await Deno.mkdir(`${dir}/target`);
    await Deno.writeTextFile(`${dir}/target/keep.txt`, "old");
    await assertRejects(() => writeFileAtomic(`${dir}/target`, "new"));
    assertEquals(await listDir(dir), ["target"]);
    assertEquals(await Deno.readTextFile(`${dir}/target/keep.txt`), "old");
    // a missing folder: nothing is created
    await assertRejects(() => writeFileAtomic(`${dir}/missing/x.txt`, "x"));
    assertEquals(await listDir(dir), ["target"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runClaims: all verdicts as expected -> exit 0, report files written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/nested/report`;
    const rep = await runClaims(
      [fake("a", "HOLDS", "HOLDS"), fake("b", "FAILS", "FAILS")],
      { quick: true, seed: 3, outDir: out, ...quiet },
    );
    assertEquals(rep.exitCode, 0);
    assertEquals(rep.problems, []);
    assertEquals(await listDir(out), ["a.svg", "b.svg", "report.md", "results.json"]);
    const json: ResultsJson = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assertEquals(json.seed, 3);
    assertEquals(json.quick, true);
    assertEquals(json.claims.map((c) => [c.id, c.verdict, c.ok]), [
      ["a", "HOLDS", true],
      ["b", "FAILS", true],
    ]);
    const md = await Deno.readTextFile(`${out}/report.md`);
    assertStringIncludes(md, "![plot a](a.svg)");
    assertStringIncludes(md, "summary of a \\| with a pipe"); // escaped in the table
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runClaims: a changed verdict or a throwing claim -> exit 1 naming the claim", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const boom: Claim = {
      id: "boom",
      run: () => {
        throw new Error("control check failed");
      },
    };
    const lines: string[] = [];
    const rep = await runClaims(
      [fake("ok", "HOLDS", "HOLDS"), fake("changed", "HOLDS", "FAILS"), boom],
      { quick: true, seed: 1, outDir: dir, log: (l) => lines.push(l) },
    );
    assertEquals(rep.exitCode, 1);
    assertEquals(rep.problems.length, 2);
    assertStringIncludes(
      rep.problems[0],
      "claim changed: verdict HOLDS differs from the established FAILS",
    );
    assertStringIncludes(rep.problems[1], "claim boom: Error: control check failed");
    assertStringIncludes(lines.join("\n"), "VERDICT CHANGED");
    assertStringIncludes(lines.join("\n"), "FAILED: claim boom");
    const json: ResultsJson = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertEquals(json.exitCode, 1);
    assertEquals(json.claims.map((c) => c.ok), [true, false, false]);
    assertStringIncludes(await Deno.readTextFile(`${dir}/report.md`), "**ERROR**");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runClaims: malformed results, duplicate plot names, --only, bad ids", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rep = await runClaims(
      [
        fake("a", "HOLDS", "HOLDS", "../escape.svg"),
        fake("b", "HOLDS", "HOLDS", "same.svg"),
        fake("c", "HOLDS", "HOLDS", "same.svg"),
      ],
      { quick: true, seed: 1, outDir: dir, ...quiet },
    );
    assertEquals(rep.exitCode, 1);
    assertStringIncludes(rep.problems[0], "claim a: malformed result");
    assertStringIncludes(rep.problems[1], "claim c: plot file same.svg is also written by claim b");
    assertEquals((await listDir(dir)).filter((f) => f.endsWith(".tmp")), []);

    const only = await runClaims(
      [fake("a", "HOLDS", "HOLDS"), fake("b", "HOLDS", "FAILS")],
      { quick: true, seed: 1, outDir: dir, only: ["a"], ...quiet },
    );
    assertEquals(only.exitCode, 0);
    assertEquals(only.outcomes.map((o) => o.id), ["a"]);
    await assertRejects(
      () =>
        runClaims([fake("a", "HOLDS", "HOLDS")], {
          quick: true,
          seed: 1,
          outDir: dir,
          only: ["zz"],
          ...quiet,
        }),
      UsageError,
    );
    await assertRejects(
      () =>
        runClaims([fake("a", "HOLDS", "HOLDS"), fake("a", "HOLDS", "HOLDS")], {
          quick: true,
          seed: 1,
          outDir: dir,
          ...quiet,
        }),
      UsageError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseArgs: flags and usage errors", () => {
  assertEquals(parseArgs([]), {
    quick: false,
    seed: 1,
    outDir: "proofs/report",
    readme: false,
    help: false,
  });
  const a = parseArgs(["--quick", "--out", "x/y", "--seed=7", "--only", "a,b", "--only=c"]);
  assertEquals([a.quick, a.outDir, a.seed, a.only], [true, "x/y", 7, ["a", "b", "c"]]);
  assertEquals(parseArgs(["-h"]).help, true);
  assertEquals(parseArgs(["--readme"]).readme, true);
  for (
    const bad of [
      ["--bogus"],
      ["--seed", "x"],
      ["--seed", "-1"],
      ["--seed", "4294967296"],
      ["--out"],
      ["--only", ","],
      ["--quick=1"],
    ]
  ) {
    assertThrows(() => parseArgs(bad), UsageError, undefined, bad.join(" "));
  }
});

Deno.test("main: exit codes 0/1/2 and --readme from results.json", async () => {
  const dir = await Deno.makeTempDir();
  const log = console.log;
  const err = console.error;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  console.error = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    assertEquals(await main(["--help"], []), 0);
    assertEquals(await main(["--nope"], []), 2);
    assertEquals(await main(["--only", "zz", "--out", dir], [fake("a", "HOLDS", "HOLDS")]), 2);
    assertEquals(await main(["--readme", "--out", `${dir}/none`], []), 2);
    assertEquals(await main(["--quick", "--out", dir], [fake("a", "HOLDS", "FAILS")]), 1);
    assertEquals(await main(["--quick", "--out", dir], [fake("a", "FAILS", "FAILS")]), 0);
    printed.length = 0;
    assertEquals(await main(["--readme", "--out", dir], []), 0);
    const section = printed.join("\n");
    assertStringIncludes(section, `deno task proofs --quick --out ${dir}`);
    assertStringIncludes(section, "| a: fake a | Eq. 0 | **FAILS** |");
    const json: ResultsJson = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertEquals(readmeSection(json, dir).trim(), section.trim());
  } finally {
    console.log = log;
    console.error = err;
    await Deno.remove(dir, { recursive: true });
  }
});
