import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import {
  aggregate,
  collapseNotes,
  markdownTable,
  meanSd,
  pairedComparisons,
  pairedMarkdown,
  readFolders,
} from "../benchmarks/report.ts";
import { tInterval, tQuantile } from "../benchmarks/stats.ts";
import { linePlot, seriesStyle } from "../src/report/svg.ts";
import type { EpochRecord, RunSummary } from "../src/train/types.ts";

/**
 * A summary whose selected epoch (1) has test accuracy `acc` and branch accuracy `branch`;
 * `tail` gives later epochs as [trainLoss, test acc] (epoch 1's training loss is 0.1).
 */
function run(
  label: string,
  seed: number,
  acc: number,
  branch: number,
  tail: [number, number][] = [],
): RunSummary {
  const m = { acc, mAP: acc, macroF1: acc, branchAcc: { audio: branch, visual: 1 - branch } };
  const rec = (epoch: number, trainLoss: number, a: number) =>
    ({ epoch, trainLoss, test: { ...m, acc: a } }) as unknown as EpochRecord;
  return {
    method: "joint",
    label,
    seed,
    epochs: 1 + tail.length,
    bestEpoch: 1,
    test: m,
    val: m,
    meanRho: { audio: 0.2, visual: 0.8 },
    msPerStep: 10,
    history: [rec(1, 0.1, acc), ...tail.map(([l, a], i) => rec(i + 2, l, a))],
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
  assertStringIncludes(md, "| joint | 2 | 0 | 0/2 | 80.00 ± 14.14 | 80.00 ± 14.14 |");
  assertStringIncludes(md, "| amss+ | 0 | 1 | 0/0 | - | - | - | - | - | - | - | - | - |");
});

Deno.test("a uni-modal row reports its own branch's accuracy, marked, without fused mAP / macro-F1", () => {
  // run(): fused acc 0.9 / 0.7, audio branch 0.4 / 0.6, visual branch 0.6 / 0.4
  const uni = (seed: number, acc: number, branch: number) => ({
    ...run("unimodal (visual)", seed, acc, branch),
    method: "unimodal",
  });
  const joint = [run("joint", 1, 0.92, 0.5), run("joint", 2, 0.9, 0.5)];
  const rows = aggregate([...joint, uni(1, 0.9, 0.4), uni(2, 0.7, 0.6)]);
  const u = rows.find((r) => r.label === "unimodal (visual)")!;
  assertEquals(u.own, "visual");
  assertAlmostEquals(u.acc.mean, 0.5, 1e-15, "mean visual branch (0.6, 0.4), not fused (0.9, 0.7)");
  assertAlmostEquals(u.finalAcc.mean, 0.5, 1e-15);
  assert(Number.isNaN(u.mAP.mean) && Number.isNaN(u.macroF1.mean));
  assertEquals(rows.find((r) => r.label === "joint")!.own, undefined);
  const md = markdownTable(rows);
  assertStringIncludes(
    md,
    "| unimodal (visual) | 2 | 0 | 0/2 | 50.00 ± 14.14 † | 50.00 ± 14.14 † | - | - |",
  );
  // paired: the uni-modal run's own branch against joint's fused accuracy, per seed
  const p = pairedComparisons([...joint, uni(1, 0.9, 0.4), uni(2, 0.7, 0.6)], "joint");
  assertAlmostEquals(p[0].acc.mean, ((0.6 - 0.92) + (0.4 - 0.9)) / 2, 1e-12);
  // a run named like a uni-modal one but of another method keeps its fused accuracy
  const other = aggregate([{ ...run("unimodal (visual)", 1, 0.9, 0.4), method: "joint" }]);
  assertEquals(other[0].own, undefined);
  assertAlmostEquals(other[0].acc.mean, 0.9, 1e-15);
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

Deno.test("linePlot stays readable: distinct styles for many series, lone points drawn, bounded axes, room for the legend", () => {
  const styles = Array.from({ length: 30 }, (_, i) => seriesStyle({}, i))
    .map((st) => `${st.color}/${st.dash}`);
  assertEquals(new Set(styles).size, 30, "no two of 30 series look alike");
  // 30 series of one epoch each, the highest at accuracy 1
  const many = Array.from({ length: 30 }, (_, i) => ({
    name: `m${i}`,
    points: [[1, 0.5 + i / 58]] as [number, number][],
  }));
  const svg = linePlot({ title: "t", xLabel: "epoch", yLabel: "acc", series: many, yMax: 1 });
  const cys = [...svg.matchAll(/<circle [^>]*cy="([^"]+)"/g)].map((m) => Number(m[1]));
  assertEquals(cys.length, 30, "one epoch: a point per series");
  assertEquals((svg.match(/<polyline /g) ?? []).length, 0);
  const height = Number(/height="(\d+)"/.exec(svg)![1]);
  assert(height >= 36 + 14 + 18 * 30, `legend of 30 entries fits: height ${height}`);
  // the plot area starts at y = 36: with yMax 1 the top of the axis is 1 (no padding above it)
  assertEquals(Math.min(...cys), 36);
  const unbounded = linePlot({ title: "t", xLabel: "x", yLabel: "y", series: many });
  const free = [...unbounded.matchAll(/<circle [^>]*cy="([^"]+)"/g)].map((m) => Number(m[1]));
  assert(Math.min(...free) > 36, "control: without yMax the axis is padded past 1");
});

Deno.test("the table counts collapsed seeds and shows the final epoch's accuracy beside the selected one", () => {
  const runs = [
    run("amss+", 1, 0.94, 0.5, [[0.2, 0.92], [1529.8, 0.3]]), // loss 15298 x its minimum
    run("amss+", 2, 0.93, 0.5, [[0.09, 0.86]]), // 7 points below the selected epoch
    run("amss+", 3, 0.92, 0.5, [[0.5, 0.9]]), // 5x the loss, 2 points: not collapsed
  ];
  const [row] = aggregate(runs, []);
  assertEquals(row.collapsed, 2);
  assertAlmostEquals(row.finalAcc.mean, (0.3 + 0.86 + 0.9) / 3, 1e-12);
  assertAlmostEquals(row.acc.mean, 0.93, 1e-12);
  assertStringIncludes(markdownTable([row]), "| amss+ | 3 | 0 | 2/3 | 93.00 ± 1.00 | 68.67 ±");
  // a stricter rule (loss factor 4) also counts seed 3
  assertEquals(aggregate(runs, [], { lossFactor: 4 })[0].collapsed, 3);
  const notes = collapseNotes(runs, [{ label: "amss+", seed: 4, message: "loss is NaN" }]);
  assertEquals(notes.length, 1);
  assertStringIncludes(notes[0], "2 of 3 completed seeds collapsed after their selected epoch");
  assertStringIncludes(
    notes[0],
    "seed 1: final training loss 1529.8 is more than 10 x its minimum 0.1",
  );
  assertStringIncludes(notes[0], "1 of 4 seeds diverged (seed 4: loss is NaN)");
  assertEquals(collapseNotes([run("joint", 1, 0.9, 0.5, [[0.1, 0.9]])], []), []);
});

Deno.test("tQuantile matches tabulated Student t quantiles; tInterval is mean ± t sd / sqrt(n)", () => {
  // two-sided 95% quantiles from standard tables
  for (const [dof, t] of [[1, 12.7062], [2, 4.3027], [4, 2.7764], [9, 2.2622], [29, 2.0452]]) {
    assertAlmostEquals(tQuantile(0.95, dof), t, 1e-4);
  }
  const iv = tInterval([0.02, 0.03, 0.025]);
  const half = 4.302653 * 0.005 / Math.sqrt(3);
  assertAlmostEquals(iv.lo!, 0.025 - half, 1e-6);
  assertAlmostEquals(iv.hi!, 0.025 + half, 1e-6);
  assert(iv.excludesZero);
  assert(!tInterval([0.01, 0.03, 0.02]).excludesZero, "[-0.48, +4.48] points contains 0");
  assert(!tInterval([0.05, -0.04, 0.01]).excludesZero);
  assertEquals(tInterval([0.05]).lo, null);
});

Deno.test("paired comparison: differences to joint by seed, with an interval and a plain sentence", () => {
  const runs = [
    run("joint", 1, 0.90, 0.40),
    run("joint", 2, 0.92, 0.45),
    run("joint", 3, 0.91, 0.50),
    // amss: +2, +2.5, +3 points of accuracy (same seeds); branch: -0.5, +2, -1.5 points
    run("amss", 1, 0.92, 0.395),
    run("amss", 2, 0.945, 0.47),
    run("amss", 3, 0.94, 0.485),
    run("ogm", 2, 0.93, 0.45), // one seed in common: no interval
  ];
  const rows = pairedComparisons(runs, "joint");
  assertEquals(rows.map((r) => [r.label, r.seeds]), [["amss", [1, 2, 3]], ["ogm", [2]]]);
  assertAlmostEquals(rows[0].acc.mean, 0.025, 1e-12);
  assert(rows[0].acc.excludesZero);
  assert(!rows[0].branchAcc.audio.excludesZero);
  const md = pairedMarkdown(rows, "joint");
  assertStringIncludes(md, "| amss | 3 | +2.50 [+1.26, +3.74] * |");
  assertStringIncludes(
    md,
    "- amss: accuracy +2.50 points [+1.26, +3.74] differs from joint at 3 seeds",
  );
  assertStringIncludes(md, "audio branch, visual branch not distinguishable from zero");
  assertStringIncludes(md, "- ogm: one paired seed, so no interval");
});

Deno.test("merging folders of different settings keeps their rows apart and names each source", async () => {
  const root = await Deno.makeTempDir({ prefix: "amss-report-" });
  try {
    for (const [name, lr] of [["a", 0.01], ["b", 0.05]] as const) {
      const dir = `${root}/${name}/joint/seed-1`;
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(`${dir}/summary.json`, JSON.stringify(run("joint", 1, 0.9, 0.5)));
      await Deno.writeTextFile(
        `${root}/${name}/sweep.json`,
        JSON.stringify({ optimizer: { kind: "sgd", lr }, dataset: { name: "d", sizes: {} } }),
      );
    }
    const c = await readFolders([`${root}/a`, `${root}/b`]);
    assertEquals(c.runs.map((r) => r.label).sort(), ["joint [a]", "joint [b]"]);
    const same = await readFolders([`${root}/a`]);
    assertEquals(same.runs.map((r) => r.label), ["joint"]);
    await Deno.writeTextFile(`${root}/a/joint/seed-1/summary.json`, "{");
    assertEquals((await readFolders([`${root}/a`])).unreadable.length, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
