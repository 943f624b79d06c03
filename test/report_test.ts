import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { aggregate, markdownTable, meanSd } from "../src/report/runs.ts";
import { linePlot } from "../src/report/svg.ts";
import type { RunSummary } from "../src/train/trainer.ts";

function run(label: string, seed: number, acc: number, branch: number): RunSummary {
  const m = { acc, mAP: acc, macroF1: acc, branchAcc: { audio: branch, visual: 1 - branch } };
  return {
    method: "joint",
    label,
    seed,
    epochs: 1,
    bestEpoch: 1,
    test: m,
    val: m,
    meanRho: { audio: 0.2, visual: 0.8 },
    msPerStep: 10,
    history: [],
    stoppedEarly: false,
  };
}

Deno.test("meanSd is the mean and the sample standard deviation", () => {
  const { mean, sd } = meanSd([1, 2, 3, 4]);
  assertEquals(mean, 2.5);
  assertAlmostEquals(sd, Math.sqrt(5 / 3), 1e-15);
  assertEquals(meanSd([7]).sd, 0);
});

Deno.test("aggregate groups runs by label over seeds and counts diverged seeds", () => {
  const rows = aggregate(
    [run("joint", 1, 0.9, 0.4), run("amss", 1, 0.8, 0.5), run("joint", 2, 0.7, 0.6)],
    [{ label: "amss", seed: 2, message: "loss is NaN" }, { label: "amss+", seed: 1, message: "x" }],
  );
  assertEquals(rows.map((r) => [r.label, r.seeds, r.diverged]), [["joint", 2, 0], ["amss", 1, 1], [
    "amss+",
    0,
    1,
  ]]);
  assertAlmostEquals(rows[0].acc.mean, 0.8, 1e-15);
  assertAlmostEquals(rows[0].branchAcc.audio.mean, 0.5, 1e-15);
  assert(Number.isNaN(rows[2].acc.mean));
  const md = markdownTable(rows);
  assertStringIncludes(md, "| joint | 2 | 0 | 80.00 ± 14.14 |");
  assertStringIncludes(md, "diverged");
});

Deno.test("linePlot skips non-finite and, on log axes, non-positive points", () => {
  const svg = linePlot({
    title: "t",
    xLabel: "x",
    yLabel: "y",
    xLog: true,
    yLog: true,
    series: [{
      name: "s",
      points: [[1, 1], [10, 0.1], [0, 5], [100, NaN], [1000, -1]],
      markers: true,
    }],
  });
  assertEquals((svg.match(/<circle /g) ?? []).length, 2);
  assert(svg.startsWith("<svg") && svg.endsWith("</svg>"));
});
