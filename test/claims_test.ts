import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import {
  type ClaimResult,
  combine,
  epochsToReach,
  imbalanceDistance,
  judge,
  judgeClaims,
  overheadBound,
  stepTime,
} from "../benchmarks/claims.ts";
import { tInterval } from "../benchmarks/stats.ts";
import type { EpochRecord, RunSummary } from "../src/train/types.ts";
import { bench, writeTinyNpy } from "./_bench.ts";
import { tempDir } from "./_helpers.ts";

const interval = (lo: number | null, hi: number | null, n = 3) => ({
  n,
  mean: lo === null ? 0 : (lo + hi!) / 2,
  lo,
  hi,
  excludesZero: lo !== null && (lo > 0 || hi! < 0),
});

Deno.test("judge: above / below a bound from the interval's side, undecided when it straddles or is missing", () => {
  assertEquals(judge(interval(0.1, 0.5), "above"), "HOLDS");
  assertEquals(judge(interval(-0.5, -0.1), "above"), "FAILS");
  assertEquals(judge(interval(-0.5, 0), "above"), "FAILS", "never above 0");
  assertEquals(judge(interval(-0.1, 0.5), "above"), "NOT DISTINGUISHABLE");
  assertEquals(judge(interval(null, null, 1), "above"), "NOT DISTINGUISHABLE", "one seed");
  assertEquals(judge(interval(-0.5, -0.1), "below"), "HOLDS");
  assertEquals(judge(interval(0.1, 0.5), "below"), "FAILS");
  assertEquals(judge(interval(0.02, 0.05), "below", 0.065), "HOLDS", "under the bound");
  assertEquals(judge(interval(0.07, 0.2), "below", 0.065), "FAILS", "over the bound");
  assertEquals(judge(interval(0.05, 0.2), "below", 0.065), "NOT DISTINGUISHABLE");
  assertEquals(combine(["HOLDS", "HOLDS"]), "HOLDS");
  assertEquals(combine(["HOLDS", "NOT DISTINGUISHABLE"]), "NOT DISTINGUISHABLE");
  assertEquals(combine(["NOT DISTINGUISHABLE", "FAILS"]), "FAILS");
  assertEquals(combine([]), "NOT DISTINGUISHABLE");
});

Deno.test("Table I overhead bounds: the dataset's own ratio, the largest for other datasets", () => {
  // Table I: Kinetics-Sounds 123.66 / 120.02 min (AMSS / joint), NVGesture 535.58 / 502.88 (AMSS+)
  assertAlmostEquals(overheadBound("kinetics-sounds", "amss").bound, 123.66 / 120.02 - 1, 1e-15);
  assertAlmostEquals(overheadBound("cremad", "amssPlus").bound, 92.46 / 90.62 - 1, 1e-15);
  const other = overheadBound("synthetic", "amssPlus");
  assertAlmostEquals(other.bound, 535.58 / 502.88 - 1, 1e-15);
  assertStringIncludes(other.source, "nvgesture");
});

Deno.test("imbalance distance: (r-1)/(r+1) of the clipped significances, 1 when the weak one carries none", () => {
  assertAlmostEquals(imbalanceDistance([2, 1]), 1 / 3, 1e-15);
  assertAlmostEquals(imbalanceDistance([1, 2]), 1 / 3, 1e-15, "symmetric: dominant over weak");
  assertEquals(imbalanceDistance([0.7, 0.7]), 0);
  assertEquals(imbalanceDistance([1.3, -0.4]), 1);
  assert(Number.isNaN(imbalanceDistance([-1, -2])));
  assertAlmostEquals(imbalanceDistance([3, 1, 2]), 0.5, 1e-15, "K = 3: max over min");
});

interface FakeRun {
  seed: number;
  acc?: number;
  weak?: number;
  /** Validation accuracy per epoch. */
  val?: number[];
  /** u per epoch, [strong, weak]. */
  u?: [number, number][];
  /** ms/step per epoch. */
  ms?: number[];
}

function fake(label: string, f: FakeRun): RunSummary {
  const val = f.val ?? [0.5, 0.6, 0.7];
  const acc = f.acc ?? 0.8, weak = f.weak ?? 0.4;
  const test = { acc, mAP: acc, macroF1: acc, branchAcc: { audio: 0.8, visual: weak } };
  const history = val.map((v, i) =>
    ({
      epoch: i + 1,
      val: { ...test, acc: v },
      test,
      meanU: { audio: (f.u?.[i] ?? [2, 1])[0], visual: (f.u?.[i] ?? [2, 1])[1] },
      msPerStep: f.ms?.[i] ?? 10,
    }) as unknown as EpochRecord
  );
  return {
    method: "joint",
    label,
    seed: f.seed,
    epochs: val.length,
    bestEpoch: val.length,
    test,
    val: test,
    meanRho: { audio: 0.5, visual: 0.5 },
    msPerStep: 10,
    history,
    stoppedEarly: false,
  };
}

const verdicts = (rs: ClaimResult[]) => Object.fromEntries(rs.map((r) => [r.id, r.verdict]));

Deno.test("judgeClaims: every claim HOLDS, FAILS or stays undecided on constructed runs", () => {
  const seeds = [1, 2, 3];
  // small seed-to-seed jitter so that the paired intervals are not degenerate
  const j = (s: number) => 0.001 * s;
  const joint = seeds.map((s) =>
    fake("joint", {
      seed: s,
      acc: 0.8 + j(s),
      weak: 0.4,
      val: [0.5, 0.6, 0.7],
      u: [[3, 1], [3, 1], [3, 1]],
      ms: [50, 10, 10],
    })
  );
  // better in every way: +5 points, weak branch +10, u balanced, reaches 0.7 at epoch 1 (AMSS+)
  // or 2 (AMSS), 3% slower per step (first epoch's warm-up ignored)
  const good = (label: string, reachAt: number) =>
    seeds.map((s) =>
      fake(label, {
        seed: s,
        acc: 0.85 + 2 * j(s),
        weak: 0.5 + j(s),
        val: reachAt === 1 ? [0.7, 0.7, 0.7] : [0.6, 0.7 + j(s), 0.7],
        u: [[1.2 + j(s), 1], [1.1, 1], [1, 1]],
        ms: [90, 10.3 + j(s), 10.3],
      })
    );
  const holds = judgeClaims(
    { joint, amss: good("amss", 2), amssPlus: good("amss+", 1) },
    "synthetic",
    ["audio", "visual"],
  );
  assertEquals(verdicts(holds), { a: "HOLDS", b: "HOLDS", c: "HOLDS", d: "HOLDS", e: "HOLDS" });
  assertStringIncludes(holds[1].claim, "(visual)", "the weaker modality is joint's lower branch");

  // worse in every way: -5 points, weak branch -10, u further apart, AMSS+ never reaches joint's
  // best while AMSS does at epoch 3, 50% slower
  const bad = (label: string, reaches: boolean) =>
    seeds.map((s) =>
      fake(label, {
        seed: s,
        acc: 0.75 + 2 * j(s),
        weak: 0.3 + j(s),
        val: reaches ? [0.5, 0.6, 0.7] : [0.5, 0.6, 0.6 + j(s)],
        u: [[5 + 10 * j(s), 0.5], [5, 0.5], [5, -0.1]],
        ms: [10, 15 + 10 * j(s), 15],
      })
    );
  const fails = judgeClaims(
    { joint, amss: bad("amss", true), amssPlus: bad("amss+", false) },
    "kinetics-sounds",
    ["audio", "visual"],
  );
  assertEquals(verdicts(fails), { a: "FAILS", b: "FAILS", c: "FAILS", d: "FAILS", e: "FAILS" });
  assertStringIncludes(fails[3].evidence[1], "AMSS+ 4, 4, 4; AMSS 3, 3, 3", "never = epochs + 1");
  assertStringIncludes(fails[4].evidence[0], "Table I, kinetics-sounds");

  // one method better, the other worse: a claim about both fails; one seed: nothing is decided
  const mixed = judgeClaims(
    { joint, amss: good("amss", 2), amssPlus: bad("amss+", true) },
    "synthetic",
    ["audio", "visual"],
  );
  assertEquals(verdicts(mixed).a, "FAILS");
  const one = judgeClaims(
    { joint: joint.slice(0, 1), amss: good("amss", 2), amssPlus: good("amss+", 1) },
    "synthetic",
    ["audio", "visual"],
  );
  for (const r of one) assertEquals(r.verdict, "NOT DISTINGUISHABLE", r.id);
  assertStringIncludes(one[0].evidence[0], "(1 seed: no interval)");
});

Deno.test("epochsToReach counts to the first epoch at the target, epochs + 1 when never; stepTime skips the first epoch", () => {
  const r = fake("x", { seed: 1, val: [0.5, 0.8, 0.9], ms: [100, 4, 6] });
  assertEquals(epochsToReach(r, 0.8), 2);
  assertEquals(epochsToReach(r, 0.95), 4);
  assertEquals(stepTime(r), 5, "median of 4 and 6; the first epoch's 100 left out");
  assertEquals(stepTime(fake("y", { seed: 1, val: [0.5], ms: [7] })), 7);
  // the interval the claims use is the paired t-interval of the bench
  assertEquals(tInterval([1, 1, 1]).lo, 1);
});

Deno.test("bench --suite claims writes claims.md with one verdict per claim (3 seeds by default, also quick)", async () => {
  const root = tempDir("amss-claims-");
  const data = await writeTinyNpy(`${root}/tiny`);
  const out = `${root}/out`;
  const r = await bench([
    "--suite",
    "claims",
    "--quick",
    "--dataset",
    "npy",
    "--data",
    data,
    "--backend",
    "cpu",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--progress",
    "none",
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.err);
  const md = await Deno.readTextFile(`${out}/claims.md`);
  const rows = md.split("\n").filter((l) => /^\| \([a-e]\)/.test(l));
  assertEquals(rows.length, 5, md);
  for (const row of rows) {
    assert(/\| (HOLDS|FAILS|NOT DISTINGUISHABLE) \|/.test(row), row);
    // (c) leaves out a seed whose significances were never positive, and says so
    assert(/\(3 seeds\)|left out/.test(row), row);
  }
  assertStringIncludes(await Deno.readTextFile(`${out}/report.md`), "experimental claims");
});
