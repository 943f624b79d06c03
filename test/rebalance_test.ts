import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  type RebalanceConfig,
  rebalanceConfigs,
  rebalanceEffects,
  rebalanceMarkdown,
} from "../benchmarks/rebalance.ts";
import type { EpochRecord, RunSummary } from "../src/train/types.ts";
import { bench, writeTinyNpy } from "./_bench.ts";
import { tempDir } from "./_helpers.ts";

/** A run whose selected (and final) epoch has fused accuracy `acc` and weak branch `weak`. */
function fake(tag: string, seed: number, acc: number, weak: number, lossEnd = 0.1): RunSummary {
  const test = { acc, mAP: acc, macroF1: acc, branchAcc: { strong: 0.8, weak } };
  const rec = (epoch: number, trainLoss: number) =>
    ({ epoch, trainLoss, test, val: test }) as unknown as EpochRecord;
  return {
    method: "amss+",
    label: tag,
    seed,
    epochs: 2,
    bestEpoch: 1,
    test,
    val: test,
    meanRho: { strong: 0.2, weak: 0.8 },
    msPerStep: 1,
    history: [rec(1, 0.1), rec(2, lossEnd)],
    stoppedEarly: false,
  };
}

const cfg = (tag: string, factor = "scale"): RebalanceConfig => ({
  tag,
  method: "amss+",
  factor,
  setting: tag,
  joint: "joint",
});

Deno.test("rebalance effects: the goal needs a +5-point weak-branch lift above 0, fused accuracy within joint's spread, no collapse", () => {
  const configs = [cfg("joint", "baseline"), cfg("lifts"), cfg("costly"), cfg("collapses")];
  const seeds = [1, 2, 3];
  const j = (s: number) => 0.01 * s; // joint's fused accuracy spread: sd 0.01
  const runs: Record<string, RunSummary[]> = {
    joint: seeds.map((s) => fake("joint", s, 0.9 + j(s), 0.4)),
    // +8 points on the weak branch, fused 0.5 points lower (within joint's 1-point spread)
    lifts: seeds.map((s) => fake("lifts", s, 0.895 + j(s), 0.48 + 0.001 * s)),
    // the same lift at 3 points of fused accuracy
    costly: seeds.map((s) => fake("costly", s, 0.87 + j(s), 0.48 + 0.001 * s)),
    // the same lift, fused fine, but the loss climbs 20x after the selected epoch
    collapses: seeds.map((s) => fake("collapses", s, 0.9 + j(s), 0.48 + 0.001 * s, 2)),
  };
  const r = rebalanceEffects(configs, (t) => runs[t] ?? [], ["strong", "weak"], 3);
  assertEquals(r.weak, "weak");
  assertEquals(r.effects.map((e) => [e.config.tag, e.meetsGoal]), [
    ["lifts", true],
    ["costly", false],
    ["collapses", false],
  ]);
  assertEquals(r.effects[2].collapsed, 3);
  const md = rebalanceMarkdown(r, "toy", 3);
  assertStringIncludes(md, "Goal met");
  assertStringIncludes(md, "lifts (scale)");
  assertStringIncludes(
    md,
    "Cost fused accuracy (interval below 0): lifts (scale); costly (scale).",
  );
  // a missing seed (diverged) is counted and keeps a config from the goal
  const partial = rebalanceEffects(
    configs,
    (t) => (t === "lifts" ? runs.lifts.slice(0, 2) : runs[t] ?? []),
    ["strong", "weak"],
    3,
  );
  assertEquals(partial.effects[0].meetsGoal, false);
  assertStringIncludes(
    rebalanceMarkdown(partial, "toy", 3),
    "2/2 (1 diverged)".replace("2/2", "0/2"),
  );
});

Deno.test("rebalance configurations: one factor at a time, paired with joint at the same learning rate", () => {
  for (const allResNet of [false, true]) {
    const cs = rebalanceConfigs({ allResNet });
    const tags = cs.map((c) => c.tag);
    assertEquals(new Set(tags).size, tags.length, "tags are distinct");
    for (const c of cs) {
      const joint = cs.find((x) => x.tag === c.joint)!;
      assertEquals(joint.method, "joint");
      assertEquals(joint.optimizer?.lr, c.optimizer?.lr, `${c.tag}: joint at its learning rate`);
    }
    assert(cs.some((c) => c.order === "mask-updates"));
    assertEquals(
      cs.filter((c) => c.factor === "units" && c.options?.units).map((c) => c.options!.units),
      [allResNet ? "reference" : "paper"],
    );
  }
});

Deno.test("bench --suite rebalance writes rebalance.md with every configuration's effects", async () => {
  const root = tempDir("amss-rebalance-");
  const data = await writeTinyNpy(`${root}/tiny`);
  const out = `${root}/out`;
  const r = await bench([
    "--suite",
    "rebalance",
    "--dataset",
    "npy",
    "--data",
    data,
    "--model",
    "mlp",
    "--backend",
    "cpu",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--seeds",
    "2",
    "--progress",
    "none",
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.err);
  const md = await Deno.readTextFile(`${out}/rebalance.md`);
  const rows = md.split("\n").filter((l) =>
    /^\| (base|scale|units|significance|order|lr) \|/.test(l)
  );
  assertEquals(rows.length, rebalanceConfigs({ allResNet: false }).length - 2, md);
  assertStringIncludes(md, "Weak modality:");
});
