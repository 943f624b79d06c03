/**
 * `deno task bench --suite rebalance`: when does AMSS actually rebalance? One factor at a time
 * around AMSS+ with the authors' scale (the `amss+` default), every configuration trained on the
 * same seeds as joint training at the same learning rate, and judged by paired-by-seed
 * differences to it with 95% t-intervals:
 *
 * - scale: AMSS (0/1 masks), AMSS+ with the authors' scale 1/(p + 1/C_l), Horvitz-Thompson, and
 *   Horvitz-Thompson with a defensive mixture (eps 0.2) and a floor of 0.25 on every kept fraction
 *   (unbiased, weights bounded by about 1 / (eps * 0.25) = 20);
 * - mask units: the bench's default for the model (MLP: output neurons; ResNet: conv channels with
 *   everything else element-wise), the authors' 3x3 convs of ResNet layers 1-4 (ResNet models),
 *   element-wise dense weights (MLP models), the classifier rows of each modality, both;
 * - significance: the paper's (Eqs. 2-3, with momentum) or the authors' code's;
 * - chain order: masking the gradients (before the optimizer) or its updates;
 * - learning rate: the bench's and 0.05.
 *
 * Per configuration: the weak modality's branch accuracy and the fused accuracy, each as a paired
 * difference to joint, and the seeds that collapsed or diverged. The goal the suite checks: a
 * configuration lifts the weak branch by at least 5 points (mean, with an interval above 0) while
 * its fused accuracy stays within joint's seed spread or above (mean difference >= -1 sd of
 * joint's fused accuracy over seeds), with no seed collapsed or diverged.
 *
 * @module
 */
import { collapseOf } from "../src/train/collapse.ts";
import type { RunSummary } from "../src/train/types.ts";
import { pairs, showInterval } from "./claims.ts";
import { meanSd, tInterval } from "./stats.ts";
import type { Suite, SuiteContext, SuiteRun } from "./suites.ts";

/** One configuration of the suite: its run and what it changes from the base. */
export interface RebalanceConfig extends SuiteRun {
  /** The factor this configuration varies ("baseline" for joint training). */
  factor: string;
  /** What it sets, for the table. */
  setting: string;
  /** The joint run it is paired with. */
  joint: string;
}

/** The learning rate of the suite's second level. */
export const HIGH_LR = 0.05;

/** The configurations for a dataset whose model is ResNet (`allResNet`) or MLP. */
export function rebalanceConfigs(ctx: Pick<SuiteContext, "allResNet">): RebalanceConfig[] {
  const base = "amss+:reference";
  const j = "joint", jHigh = `joint-lr${HIGH_LR}`;
  const out: RebalanceConfig[] = [
    { tag: j, method: "joint", factor: "baseline", setting: "joint training", joint: j },
    {
      tag: jHigh,
      method: "joint",
      optimizer: { lr: HIGH_LR },
      factor: "baseline",
      setting: `joint training, lr ${HIGH_LR}`,
      joint: jHigh,
    },
    {
      tag: "amss+",
      method: base,
      factor: "base",
      setting: "AMSS+, authors' scale 1/(p + 1/C_l)",
      joint: j,
    },
    { tag: "amss", method: "amss", factor: "scale", setting: "AMSS, 0/1 masks", joint: j },
    {
      tag: "amss+-ht",
      method: "amss+:horvitz-thompson",
      factor: "scale",
      setting: "Horvitz-Thompson",
      joint: j,
    },
    {
      tag: "amss+-ht-bounded",
      method: "amss+:horvitz-thompson",
      options: { defensive: 0.2, minRatio: 0.25 },
      factor: "scale",
      setting: "Horvitz-Thompson, defensive 0.2, kept fraction >= 0.25",
      joint: j,
    },
    ...(ctx.allResNet
      ? [{
        tag: "amss+-units-reference",
        method: base,
        options: { units: "reference" as const },
        factor: "units",
        setting: "authors' 3x3 convs of layers 1-4",
        joint: j,
      }]
      : [{
        tag: "amss+-units-element",
        method: base,
        options: { units: "paper" as const },
        factor: "units",
        setting: "element-wise dense weights",
        joint: j,
      }]),
    {
      tag: "amss+-classifier",
      method: base,
      options: { maskTarget: "classifier" },
      factor: "units",
      setting: "classifier rows only",
      joint: j,
    },
    {
      tag: "amss+-both",
      method: base,
      options: { maskTarget: "both" },
      factor: "units",
      setting: "encoders and classifier rows",
      joint: j,
    },
    {
      tag: "amss+-sig-reference",
      method: base,
      options: { significance: "reference" },
      factor: "significance",
      setting: "authors' code (no momentum, +0.5, clamp)",
      joint: j,
    },
    {
      tag: "amss+-mask-updates",
      method: base,
      order: "mask-updates",
      factor: "order",
      setting: "mask the optimizer's updates",
      joint: j,
    },
    {
      tag: `amss+-lr${HIGH_LR}`,
      method: base,
      optimizer: { lr: HIGH_LR },
      factor: "lr",
      setting: `lr ${HIGH_LR}`,
      joint: jHigh,
    },
    {
      tag: `amss-lr${HIGH_LR}`,
      method: "amss",
      optimizer: { lr: HIGH_LR },
      factor: "lr",
      setting: `AMSS, lr ${HIGH_LR}`,
      joint: jHigh,
    },
  ];
  return out;
}

/** One configuration's effects. */
export interface RebalanceEffect {
  config: RebalanceConfig;
  /** Paired difference of the weak branch's accuracy (fraction). */
  weak: ReturnType<typeof tInterval>;
  /** Paired difference of the fused accuracy (fraction). */
  fused: ReturnType<typeof tInterval>;
  /** Completed seeds that collapsed, and seeds that completed / were expected. */
  collapsed: number;
  completed: number;
  /** Whether it meets the suite's goal (module comment). */
  meetsGoal: boolean;
}

/** Every configuration's effects from the completed runs (by tag). */
export function rebalanceEffects(
  configs: readonly RebalanceConfig[],
  byTag: (tag: string) => readonly RunSummary[],
  modalities: readonly string[],
  seeds: number,
): { weak: string; effects: RebalanceEffect[]; jointSd: number } {
  const joint = byTag(configs.find((c) => c.factor === "baseline")!.tag);
  const branch = (m: string) =>
    joint.reduce((a, r) => a + r.test.branchAcc[m], 0) / Math.max(joint.length, 1);
  const weak = joint.length
    ? modalities.reduce((a, b) => (branch(b) < branch(a) ? b : a))
    : modalities[modalities.length - 1];
  const jointSd = meanSd(joint.map((r) => r.test.acc)).sd;
  const effects = configs.filter((c) => c.factor !== "baseline").map((config) => {
    const rs = byTag(config.tag);
    const ps = pairs(rs, byTag(config.joint));
    const weakT = tInterval(ps.map(([x, y]) => x.test.branchAcc[weak] - y.test.branchAcc[weak]));
    const fusedT = tInterval(ps.map(([x, y]) => x.test.acc - y.test.acc));
    const collapsed = rs.filter((r) => collapseOf(r.history, r.bestEpoch).collapsed).length;
    const meetsGoal = weakT.lo !== null && weakT.lo > 0 && weakT.mean >= 0.05 &&
      fusedT.mean >= -jointSd && collapsed === 0 && rs.length === seeds;
    return { config, weak: weakT, fused: fusedT, collapsed, completed: rs.length, meetsGoal };
  });
  return { weak, effects, jointSd };
}

/** The effects as Markdown: a table and a paragraph on what mattered. */
export function rebalanceMarkdown(
  r: ReturnType<typeof rebalanceEffects>,
  dataset: string,
  seeds: number,
): string {
  const pts = (t: RebalanceEffect["weak"]) => showInterval(t, 100, 2, "");
  const rows = r.effects.map((e) =>
    `| ${e.config.factor} | ${e.config.setting} | ${pts(e.weak)}${
      e.weak.excludesZero ? " *" : ""
    } | ${pts(e.fused)}${e.fused.excludesZero ? " *" : ""} | ${e.collapsed}/${e.completed}${
      e.completed < seeds ? ` (${seeds - e.completed} diverged)` : ""
    } | ${e.meetsGoal ? "yes" : "no"} |`
  );
  const lifts = r.effects.filter((e) => e.weak.lo !== null && e.weak.lo > 0);
  const lowers = r.effects.filter((e) => e.weak.hi !== null && e.weak.hi < 0);
  const costs = r.effects.filter((e) => e.fused.hi !== null && e.fused.hi < 0);
  const unstable = r.effects.filter((e) => e.collapsed > 0 || e.completed < seeds);
  const names = (es: RebalanceEffect[]) =>
    es.length ? es.map((e) => `${e.config.setting} (${e.config.factor})`).join("; ") : "none";
  const goal = r.effects.filter((e) => e.meetsGoal);
  const summary = [
    `Weak modality: ${r.weak} (the lower branch under joint training).`,
    `Lift the weak branch (interval above 0): ${names(lifts)}.`,
    `Lower it: ${names(lowers)}.`,
    `Cost fused accuracy (interval below 0): ${names(costs)}.`,
    `Collapsed or diverged in some seed: ${names(unstable)}.`,
    goal.length
      ? `Goal met (weak branch +5 points or more, fused accuracy within joint's seed spread of ${
        (100 * r.jointSd).toFixed(2)
      } points or above, no collapse) by: ${names(goal)}.`
      : `No configuration meets the goal (weak branch +5 points or more with an interval above 0, ` +
        `fused accuracy within joint's seed spread of ${
          (100 * r.jointSd).toFixed(2)
        } points or above, no collapse) at ${seeds} seeds.`,
  ].join(" ");
  return [
    `Dataset ${dataset}; each configuration changes one factor of the base (AMSS+ with the authors'`,
    "scale) and is paired by seed with joint training at its learning rate: mean difference in",
    "points with its 95% t-interval over seeds (* excludes 0). Accuracies are the",
    "validation-selected epoch's; collapsed uses the bench's rule.",
    "",
    `| factor | setting | Δ ${r.weak} branch (points) | Δ fused acc (points) | collapsed | goal |`,
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    summary,
    "",
  ].join("\n");
}

/** The suite. */
export const rebalanceSuite: Suite = {
  name: "rebalance",
  title: "When does AMSS rebalance? One factor at a time, paired by seed with joint training",
  file: "rebalance.md",
  defaultSeeds: 3,
  runs: (ctx) =>
    rebalanceConfigs(ctx).map(({ tag, method, options, optimizer, order }) => ({
      tag,
      method,
      options,
      optimizer,
      order,
    })),
  table(_rows, ctx, data) {
    const byTag = (tag: string) => data?.runs.filter((r) => data.tags.get(r.label) === tag) ?? [];
    const seeds = new Set(data?.runs.map((r) => r.seed) ?? []).size;
    const r = rebalanceEffects(rebalanceConfigs(ctx), byTag, ctx.modalities, seeds);
    return rebalanceMarkdown(r, ctx.dataset, seeds);
  },
};
