/**
 * The bench's tables and report, from run folders: mean ± sd over seeds per method of the
 * validation-selected epoch's test metrics, beside what that selection can hide: the final epoch's
 * accuracy, how many seeds collapsed after their selected epoch (`collapseOf` in
 * src/train/collapse.ts) or diverged, and the paired difference of every method to `joint` over the
 * seeds both completed (same seed: same initialisation and data order) with a t-interval.
 *
 * @module
 */
import { linePlot } from "../src/report/svg.ts";
import { writeFileAtomic, writeJsonAtomic } from "../src/io/atomic.ts";
import { collapseOf, type CollapseRule, DEFAULT_COLLAPSE_RULE } from "../src/train/collapse.ts";
import type { RunSummary } from "../src/train/types.ts";
import {
  firstDifference,
  type InvocationRecord,
  readInvocations,
  readJson,
  readSweep,
  type SweepSettings,
} from "./run_folder.ts";
import { meanSd, type TInterval, tInterval } from "./stats.ts";
import { type SuiteContext, SUITES } from "./suites.ts";

export { meanSd };

/** A run that stopped on NaN/Inf (its folder holds diverged.json). */
export interface DivergedRun {
  label: string;
  seed: number;
  message: string;
}

/** A paper's reported figures for one method on one dataset, in %. */
export interface PaperFigures {
  acc?: number;
  mAP?: number;
  macroF1?: number;
  /** Where the numbers come from, e.g. "Table 2". */
  source?: string;
}

type Stat = { mean: number; sd: number };

/** One row of the bench table: a method label over its seeds. */
export interface TableRow {
  label: string;
  /** Completed seeds (the means are over these). */
  seeds: number;
  /** Seeds that diverged (loss, gradient or evaluation NaN/Inf). */
  diverged: number;
  /** Completed seeds that collapsed after their selected epoch. */
  collapsed: number;
  /** Test accuracy of the validation-selected epoch. */
  acc: Stat;
  /** Test accuracy of the final epoch. */
  finalAcc: Stat;
  mAP: Stat;
  macroF1: Stat;
  branchAcc: Record<string, Stat>;
  meanRho: Record<string, Stat>;
  msPerStep: Stat;
  /** Most test samples any seed left out because they could not be read (0 normally). */
  evalSkipped: number;
  /**
   * For uni-modal runs, the modality trained: `acc` and `finalAcc` are then its branch's accuracy
   * (the fused output also reads the other, untrained encoders), and mAP / macro-F1 are left out.
   */
  own?: string;
  /** The paper's figures for this row (e.g. Table 2), when it has them. */
  paper?: PaperFigures;
}

/**
 * Attaches the paper's figures to the rows whose label maps (through `keyOf`) to a key of
 * `paper`; other rows keep none.
 */
export function attachPaper(
  rows: TableRow[],
  paper: Record<string, PaperFigures>,
  keyOf: (label: string) => string | undefined,
): TableRow[] {
  return rows.map((r) => {
    const k = keyOf(r.label);
    return k !== undefined && paper[k] ? { ...r, paper: paper[k] } : r;
  });
}

/** The final epoch's test accuracy of a summary (its last history record). */
export function finalAcc(s: RunSummary): number {
  return s.final?.test.acc ?? s.history[s.history.length - 1]?.test.acc ?? s.test.acc;
}

/** The modality a uni-modal run trains (its label is `unimodal (NAME)`), else undefined. */
export function unimodalOf(s: RunSummary): string | undefined {
  if (s.method !== "unimodal") return undefined;
  const m = /unimodal \(([^()]+)\)$/.exec(s.label)?.[1];
  return m !== undefined && m in s.test.branchAcc ? m : undefined;
}

/** The accuracy a run is judged by: fused, or a uni-modal run's own branch. */
export function ownAcc(s: RunSummary, metrics: { acc: number; branchAcc: Record<string, number> }) {
  const m = unimodalOf(s);
  return m === undefined ? metrics.acc : metrics.branchAcc[m];
}

/** The final epoch's test metrics of a summary (its last history record). */
function finalTest(s: RunSummary) {
  return s.final?.test ?? s.history[s.history.length - 1]?.test ?? s.test;
}

/** Whether a run collapsed under `rule`, recomputed from its history. */
export function runCollapse(s: RunSummary, rule: Partial<CollapseRule> = {}) {
  return collapseOf(s.history, s.bestEpoch, rule);
}

/** Groups summaries by label (in first-seen order) and aggregates over seeds. */
export function aggregate(
  runs: readonly RunSummary[],
  diverged: readonly DivergedRun[] = [],
  rule: Partial<CollapseRule> = {},
): TableRow[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) groups.set(r.label, [...(groups.get(r.label) ?? []), r]);
  const nan = { mean: NaN, sd: NaN };
  const failedOnly = [...new Set(diverged.map((d) => d.label))].filter((l) => !groups.has(l));
  const mods = runs.length ? Object.keys(runs[0].test.branchAcc) : [];
  const rows: TableRow[] = [...groups.entries()].map(([label, rs]) => {
    const own = unimodalOf(rs[0]);
    const mine = own !== undefined && rs.every((r) => unimodalOf(r) === own);
    return {
      label,
      seeds: rs.length,
      diverged: diverged.filter((d) => d.label === label).length,
      collapsed: rs.filter((r) => r.history.length > 0 && runCollapse(r, rule).collapsed).length,
      acc: meanSd(rs.map((r) => ownAcc(r, r.test))),
      finalAcc: meanSd(rs.map((r) => ownAcc(r, finalTest(r)))),
      mAP: mine ? nan : meanSd(rs.map((r) => r.test.mAP)),
      macroF1: mine ? nan : meanSd(rs.map((r) => r.test.macroF1)),
      branchAcc: Object.fromEntries(
        mods.map((m) => [m, meanSd(rs.map((r) => r.test.branchAcc[m]))]),
      ),
      meanRho: Object.fromEntries(mods.map((m) => [m, meanSd(rs.map((r) => r.meanRho[m]))])),
      msPerStep: meanSd(rs.map((r) => r.msPerStep)),
      evalSkipped: Math.max(0, ...rs.map((r) => r.test.skipped ?? 0)),
      ...(mine ? { own } : {}),
    };
  });
  for (const label of failedOnly) {
    rows.push({
      label,
      seeds: 0,
      diverged: diverged.filter((d) => d.label === label).length,
      collapsed: 0,
      acc: nan,
      finalAcc: nan,
      mAP: nan,
      macroF1: nan,
      branchAcc: Object.fromEntries(mods.map((m) => [m, nan])),
      meanRho: Object.fromEntries(mods.map((m) => [m, nan])),
      msPerStep: nan,
      evalSkipped: 0,
    });
  }
  return rows;
}

const pct = (x: Stat) =>
  Number.isNaN(x.mean) ? "-" : `${(100 * x.mean).toFixed(2)} ± ${(100 * x.sd).toFixed(2)}`;

/** The footnote of tables with uni-modal rows (their accuracy cells carry a dagger). */
export const OWN_BRANCH_NOTE =
  "† uni-modal run: accuracy of its own branch (its fused output also reads the other, untrained " +
  "encoder); mAP and macro-F1 are of the fused output and left out.";

/**
 * Markdown table: seeds, diverged, collapsed, selected-epoch accuracy, final accuracy, mAP, macro
 * F1 (the paper's columns where it has them), branch accuracies in %, mean rho, ms/step.
 */
export function markdownTable(rows: readonly TableRow[]): string {
  if (rows.length === 0) return "(no runs)\n";
  const mods = Object.keys(rows[0].branchAcc);
  const anySkipped = rows.some((r) => r.evalSkipped > 0);
  const paperCols = (["acc", "mAP", "macroF1"] as const).filter((k) =>
    rows.some((r) => r.paper?.[k] !== undefined)
  );
  const head = [
    "method",
    "seeds",
    "diverged",
    "collapsed",
    "acc %",
    "final acc %",
    "mAP %",
    "macro-F1 %",
    ...paperCols.map((k) => `paper ${k === "macroF1" ? "macro-F1" : k} %`),
    ...mods.map((m) => `${m} branch acc %`),
    ...mods.map((m) => `mean rho ${m}`),
    ...(anySkipped ? ["test samples skipped"] : []),
    "ms/step",
  ];
  const lines = [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i < 1 ? "---" : "---:")).join(" | ")} |`,
  ];
  for (const r of rows) {
    lines.push(
      `| ${
        [
          r.label,
          String(r.seeds),
          String(r.diverged),
          `${r.collapsed}/${r.seeds}`,
          pct(r.acc) + (r.own ? " †" : ""),
          pct(r.finalAcc) + (r.own ? " †" : ""),
          pct(r.mAP),
          pct(r.macroF1),
          ...paperCols.map((k) => r.paper?.[k]?.toFixed(2) ?? "-"),
          ...mods.map((m) => pct(r.branchAcc[m])),
          ...mods.map((m) =>
            Number.isNaN(r.meanRho[m].mean)
              ? "-"
              : `${r.meanRho[m].mean.toFixed(3)} ± ${r.meanRho[m].sd.toFixed(3)}`
          ),
          ...(anySkipped ? [String(r.evalSkipped)] : []),
          Number.isNaN(r.msPerStep.mean) ? "-" : r.msPerStep.mean.toFixed(1),
        ].join(" | ")
      } |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Plain-text table for the terminal (the columns of a Markdown table, aligned). */
export function textTable(md: string): string {
  const rows = md.trim().split("\n").filter((l, i) => i !== 1 && l.startsWith("|"));
  if (rows.length === 0) return md.trim();
  const cells = rows.map((l) => l.slice(2, -2).split(" | "));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => r[c]?.length ?? 0)));
  return cells.map((r) =>
    r.map((v, c) => (c < 1 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  ").trimEnd()
  ).join("\n");
}

/** One method's paired comparison with the baseline. */
export interface PairedRow {
  label: string;
  /** Seeds both completed. */
  seeds: number[];
  acc: TInterval;
  branchAcc: Record<string, TInterval>;
}

/**
 * Paired differences (method - baseline) over the seeds both completed, per method label: test
 * accuracy (a uni-modal run's own branch, against the baseline's fused accuracy) and each branch
 * accuracy of the selected epochs, with a 95% t-interval of the mean. `baseline` is a label; the
 * baseline's own row is left out.
 */
export function pairedComparisons(
  runs: readonly RunSummary[],
  baseline: string,
  level = 0.95,
): PairedRow[] {
  const base = new Map(runs.filter((r) => r.label === baseline).map((r) => [r.seed, r]));
  if (base.size === 0) return [];
  const mods = Object.keys(runs[0].test.branchAcc);
  const labels = [...new Set(runs.map((r) => r.label))].filter((l) => l !== baseline);
  return labels.map((label) => {
    const pairs = runs.filter((r) => r.label === label && base.has(r.seed))
      .map((r) => [r, base.get(r.seed)!] as const);
    return {
      label,
      seeds: pairs.map(([r]) => r.seed),
      acc: tInterval(pairs.map(([r, b]) => ownAcc(r, r.test) - b.test.acc), level),
      branchAcc: Object.fromEntries(
        mods.map((m) => [
          m,
          tInterval(pairs.map(([r, b]) => r.test.branchAcc[m] - b.test.branchAcc[m]), level),
        ]),
      ),
    };
  });
}

/** Points with a sign; a value that rounds to zero is +0.00. */
const pts = (x: number) => {
  const v = (100 * x).toFixed(2);
  return v.startsWith("-") && Number(v) !== 0 ? v : `+${v.replace("-", "")}`;
};
const interval = (t: TInterval) =>
  t.n === 0
    ? "-"
    : t.lo === null
    ? `${pts(t.mean)} (1 seed)`
    : `${pts(t.mean)} [${pts(t.lo)}, ${pts(t.hi!)}]${t.excludesZero ? " *" : ""}`;

/** The paired comparison as Markdown: a table and one plain sentence per method. */
export function pairedMarkdown(rows: readonly PairedRow[], baseline: string): string {
  if (rows.length === 0) return "";
  const mods = Object.keys(rows[0].branchAcc);
  const head = ["method", "paired seeds", "Δ acc (points)", ...mods.map((m) => `Δ ${m} branch`)];
  const lines = [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i < 1 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) =>
      `| ${
        [
          r.label,
          String(r.seeds.length),
          interval(r.acc),
          ...mods.map((m) => interval(r.branchAcc[m])),
        ]
          .join(" | ")
      } |`
    ),
  ];
  const sentences = rows.map((r) => {
    const n = r.seeds.length;
    if (n === 0) return `- ${r.label}: no seed in common with ${baseline}.`;
    if (n === 1) {
      return `- ${r.label}: one paired seed, so no interval; run more seeds (--seeds 3 or more) to tell a difference from noise.`;
    }
    const named = [
      ["accuracy", r.acc] as const,
      ...mods.map((m) => [`${m} branch`, r.branchAcc[m]] as const),
    ];
    const found = named.filter(([, t]) => t.excludesZero)
      .map(([what, t]) => `${what} ${pts(t.mean)} points [${pts(t.lo!)}, ${pts(t.hi!)}]`);
    const none = named.filter(([, t]) => !t.excludesZero).map(([what]) => what);
    return found.length
      ? `- ${r.label}: ${found.join(", ")} ${
        found.length === 1 ? "differs" : "differ"
      } from ${baseline} at ${n} seeds (95% t-interval excludes 0)${
        none.length ? `; ${none.join(", ")} not distinguishable from zero` : ""
      }.`
      : `- ${r.label}: not distinguishable from ${baseline} at ${n} seeds (every 95% t-interval contains 0).`;
  });
  return [
    ...lines,
    "",
    `Mean paired difference to ${baseline} in points (method minus ${baseline}, same seed: same`,
    `initialisation and data order), 95% t-interval over the paired seeds; * marks an interval`,
    "that excludes 0. A uni-modal run's accuracy is its own branch's.",
    "",
    ...sentences,
  ].join("\n") + "\n";
}

/** One sentence per method whose seeds collapsed or diverged (empty when none did). */
export function collapseNotes(
  runs: readonly RunSummary[],
  diverged: readonly DivergedRun[],
  rule: Partial<CollapseRule> = {},
): string[] {
  const labels = [...new Set([...runs.map((r) => r.label), ...diverged.map((d) => d.label)])];
  const notes: string[] = [];
  for (const label of labels) {
    const rs = runs.filter((r) => r.label === label);
    const ds = diverged.filter((d) => d.label === label);
    const col = rs.map((r) => ({ r, v: runCollapse(r, rule) })).filter((x) => x.v.collapsed);
    const total = rs.length + ds.length;
    const parts: string[] = [];
    if (col.length) {
      parts.push(
        `${col.length} of ${rs.length} completed seeds collapsed after their selected epoch (${
          col.map(({ r, v }) => `seed ${r.seed}: ${v.reason}`).join("; ")
        }); acc % is the validation-selected epoch's, the final epoch's is ${
          pct(meanSd(rs.map(finalAcc)))
        }`,
      );
    }
    if (ds.length) {
      parts.push(
        `${ds.length} of ${total} seeds diverged (${
          ds.map((d) => `seed ${d.seed}: ${d.message}`).join("; ")
        }), so its means are over ${rs.length} seed${rs.length === 1 ? "" : "s"}`,
      );
    }
    if (parts.length) notes.push(`- ${label}: ${parts.join("; ")}.`);
  }
  return notes;
}

/** SVG plots of the histories: test accuracy per epoch per method, branch accuracy, rho traces. */
export function historyPlots(
  runs: readonly RunSummary[],
): { file: string; title: string; svg: string }[] {
  const labels = [...new Set(runs.map((r) => r.label))];
  const meanCurve = (
    rs: RunSummary[],
    f: (h: RunSummary["history"][number], r: RunSummary) => number,
  ): [number, number][] => {
    const len = Math.min(...rs.map((r) => r.history.length));
    return Array.from(
      { length: len },
      (_, e) => [e + 1, rs.reduce((s, r) => s + f(r.history[e], r), 0) / rs.length],
    );
  };
  const by = (l: string) => runs.filter((r) => r.label === l);
  const mods = runs.length ? Object.keys(runs[0].test.branchAcc) : [];
  const plots = [{
    file: "test_accuracy.svg",
    title: "Test accuracy per epoch (mean over seeds)",
    svg: linePlot({
      title: "Test accuracy per epoch (mean over seeds; uni-modal runs: their own branch)",
      xLabel: "epoch",
      yLabel: "accuracy",
      series: labels.map((l) => ({
        name: l,
        points: meanCurve(by(l), (h, r) => ownAcc(r, h.test)),
      })),
      yMin: 0,
      yMax: 1,
    }),
  }];
  for (const m of mods) {
    plots.push({
      file: `branch_accuracy_${m}.svg`,
      title: `${m} branch accuracy inside the model`,
      svg: linePlot({
        title: `${m} branch accuracy inside the model (test, mean over seeds)`,
        xLabel: "epoch",
        yLabel: "accuracy",
        series: labels.map((l) => ({
          name: l,
          points: meanCurve(by(l), (h) => h.test.branchAcc[m]),
        })),
        yMin: 0,
        yMax: 1,
      }),
    });
  }
  plots.push({
    file: "rho.svg",
    title: "Mean update ratio rho per epoch",
    svg: linePlot({
      title: "Mean update ratio rho per epoch (AMSS family: applied; others: logged Eq. 4)",
      xLabel: "epoch",
      yLabel: "rho",
      yMin: 0,
      yMax: 1,
      series: labels.flatMap((l, j) =>
        mods.map((m, i) => ({
          name: `${l}: ${m}`,
          points: meanCurve(by(l), (h) => h.meanRho[m]),
          dashed: i > 0,
          color: j,
        }))
      ),
    }),
  });
  return plots;
}

/** What run folders hold: runs, diverged runs, and the settings and commands that made them. */
export interface FolderContents {
  runs: RunSummary[];
  diverged: DivergedRun[];
  /** Run tag (the run folder's parent name: joint, amss+-reference, ...) of each label. */
  tags: Map<string, string>;
  /** Per source folder: its shared settings and the invocations that wrote it. */
  sources: { dir: string; sweep: SweepSettings | null; invocations: InvocationRecord[] }[];
  /** The paper's rows (from the first invocation that has them). */
  paper: { source: string; rows: Record<string, PaperFigures> } | null;
  /** The suite the runs belong to (from the first invocation that ran one). */
  suite: { name: string; context: SuiteContext } | null;
  /** Files that could not be read (named in the report). */
  unreadable: string[];
}

/** Table order: baselines first, then the rebalancing methods, the AMSS family last. */
const METHOD_ORDER = [
  "unimodal",
  "joint",
  "global-scale",
  "mses",
  "g-blending",
  "mslr",
  "ogm-ge",
  "greedy",
  "pmr",
  "agm",
  "random-mask",
  "amss",
  "amss+",
];

/**
 * Reads run folders (a sweep's `--out`, shards of one, or several to merge). When the folders'
 * shared settings differ, every label gets its folder's name appended, so that rows never merge
 * runs of different settings.
 */
export async function readFolders(dirs: readonly string[]): Promise<FolderContents> {
  const runs: RunSummary[] = [];
  const diverged: DivergedRun[] = [];
  const runTags: string[] = [], divergedTags: string[] = [];
  const runSrc: number[] = [], divergedSrc: number[] = [];
  const unreadable: string[] = [];
  const sources: FolderContents["sources"] = [];
  const tagOf = (p: string) => p.split("/").slice(-3, -2)[0];
  async function walk(d: string, src: number) {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) {
        if (e.name !== "invocations") await walk(p, src);
      } else if (e.name === "summary.json" || e.name === "diverged.json") {
        const r = await readJson(p);
        if (r.kind !== "ok") {
          unreadable.push(`${p} (${r.kind === "corrupt" ? r.error : "missing"})`);
          continue;
        }
        const s = r.value as RunSummary & { message?: string };
        if (e.name === "summary.json" && Array.isArray(s.history)) {
          runs.push(s);
          runTags.push(tagOf(p));
          runSrc.push(src);
        } else if (e.name === "diverged.json") {
          diverged.push({ label: s.label, seed: s.seed, message: String(s.message ?? "") });
          divergedTags.push(tagOf(p));
          divergedSrc.push(src);
        }
      }
    }
  }
  for (const [i, d] of dirs.entries()) {
    try {
      await Deno.stat(d);
    } catch {
      throw new Deno.errors.NotFound(`run folder not found: ${d}`);
    }
    sources.push({ dir: d, sweep: await readSweep(d), invocations: await readInvocations(d) });
    await walk(d, i);
  }
  const mixed = sources.some((s) => firstDifference(sources[0].sweep, s.sweep) !== null);
  const base = (d: string) => d.replace(/\/+$/, "").split("/").pop() ?? d;
  // a label shared by runs of different tags (same method, another fusion, optimizer, tau or
  // fixed ratios) gets its tag appended, so that rows never merge different settings
  const tagsOfLabel = new Map<string, Set<string>>();
  [
    ...runs.map((r, i) => [r.label, runTags[i]]),
    ...diverged.map((d, i) => [d.label, divergedTags[i]]),
  ].forEach(([l, t]) => tagsOfLabel.set(l, (tagsOfLabel.get(l) ?? new Set()).add(t)));
  const relabel = (label: string, tag: string, src: number) =>
    ((tagsOfLabel.get(label)?.size ?? 0) > 1 ? `${label} [${tag}]` : label) +
    (mixed ? ` [${base(dirs[src])}]` : "");
  const tags = new Map<string, string>();
  runs.forEach((r, i) => {
    r.label = relabel(r.label, runTags[i], runSrc[i]);
    tags.set(r.label, runTags[i]);
  });
  diverged.forEach((d, i) => {
    d.label = relabel(d.label, divergedTags[i], divergedSrc[i]);
    tags.set(d.label, divergedTags[i]);
  });
  const seen = new Map<string, number>();
  for (const [i, r] of runs.entries()) {
    const key = `${r.label}\u0000${r.seed}`;
    if (seen.has(key)) {
      throw new Error(
        `${r.label}, seed ${r.seed} is in ${dirs[runSrc[seen.get(key)!]]} and in ${
          dirs[runSrc[i]]
        } with the same settings: merge folders of different runs, or report one of them`,
      );
    }
    seen.set(key, i);
  }
  const rank = (m: string, label: string) =>
    `${String(METHOD_ORDER.indexOf(m)).padStart(2, "0")} ${label}`;
  const order = runs.map((_, i) => i).sort((a, b) =>
    rank(runs[a].method, runs[a].label).localeCompare(rank(runs[b].method, runs[b].label)) ||
    runs[a].seed - runs[b].seed
  );
  const invs = sources.flatMap((s) => s.invocations);
  const withPaper = invs.find((v) => v.paper);
  const withSuite = invs.find((v) => v.suite);
  return {
    runs: order.map((i) => runs[i]),
    diverged,
    tags,
    sources,
    paper: (withPaper?.paper as FolderContents["paper"]) ?? null,
    suite: (withSuite?.suite as FolderContents["suite"]) ?? null,
    unreadable,
  };
}

/** The rule a report applies: the flags given, else the first invocation's, else the default. */
export function reportRule(c: FolderContents, given: Partial<CollapseRule> = {}): CollapseRule {
  const rec = c.sources.flatMap((s) => s.invocations).find((v) => v.collapse)?.collapse;
  return {
    lossFactor: given.lossFactor ?? rec?.lossFactor ?? DEFAULT_COLLAPSE_RULE.lossFactor,
    accDrop: given.accDrop ?? rec?.accDrop ?? DEFAULT_COLLAPSE_RULE.accDrop,
  };
}

/** One line per source: its settings and the commands (with shards) that produced it. */
export function sourceLines(c: FolderContents): string[] {
  return c.sources.flatMap((s) => {
    const st = s.sweep;
    const opt = st?.optimizer as
      | {
        kind?: string;
        lr?: number;
        momentum?: number;
        weightDecay?: number;
        milestones?: number[];
        gamma?: number;
      }
      | undefined;
    const settings = st
      ? `dataset ${st.dataset.name} (${st.dataset.sizes.train}/${st.dataset.sizes.val}/${st.dataset.sizes.test} train/val/test); backend ${st.backend}; ${st.epochs} epoch${
        st.epochs === 1 ? "" : "s"
      }, batch ${st.batchSize}, ${opt?.kind} lr ${opt?.lr}${
        opt?.kind === "sgd" ? ` momentum ${opt.momentum ?? 0.9} wd ${opt.weightDecay ?? 1e-4}` : ""
      }${
        opt?.milestones?.length ? `, x${opt.gamma ?? 0.1} after epochs ${opt.milestones}` : ""
      }; order ${st.order}; encoders: ${
        Array.isArray(st.pretrained) && st.pretrained.length
          ? `pretrained ${
            (st.pretrained as { modality: string }[]).map((p) => p.modality).join(", ")
          }, the others from scratch`
          : "all trained from scratch"
      }; code ${st.version}`
      : "no sweep.json (written by an older version of the bench)";
    const cmds = s.invocations.map((v) =>
      `  - \`${v.command}\` (shard ${v.shard}, ${v.host} pid ${v.pid}, ${v.status}, ${v.runs.length} runs: ${
        v.runs.filter((r) => r.outcome === "trained" || r.outcome === "resumed").length
      } trained here)`
    );
    return [`- ${s.dir}: ${settings}`, ...cmds];
  });
}

/** Writes report.md, table.json, table.txt, the SVG plots (and suite.md) into `dir`. */
export async function writeReport(
  dir: string,
  c: FolderContents,
  rule: CollapseRule,
): Promise<string> {
  const { runs, diverged, tags, paper, suite } = c;
  let rows = aggregate(runs, diverged, rule);
  // paper figures are keyed by method tag, without a tau suffix
  const paperKey = (label: string) => tags.get(label)?.replace(/-tau[0-9.]+$/, "");
  if (paper) rows = attachPaper(rows, paper.rows, paperKey);
  let suiteText = "";
  if (suite && SUITES[suite.name]) {
    const byTag = new Map(rows.map((r) => [tags.get(r.label) ?? r.label, r]));
    const s = SUITES[suite.name];
    suiteText = `## ${s.title}\n\n${s.table(byTag, suite.context, { runs, tags })}`;
  }
  const baseline =
    [...new Set(runs.map((r) => r.label))].find((l) =>
      runs.some((r) => r.label === l && r.method === "joint" && tags.get(l) === "joint")
    ) ?? [...new Set(runs.filter((r) => r.method === "joint").map((r) => r.label))][0];
  const paired = baseline ? pairedComparisons(runs, baseline) : [];
  const notes = collapseNotes(runs, diverged, rule);
  const plots = historyPlots(runs);
  for (const p of plots) await writeFileAtomic(`${dir}/${p.file}`, p.svg);
  const table = markdownTable(rows);
  const md = [
    `# Bench report`,
    "",
    "Produced by:",
    "",
    ...sourceLines(c),
    "",
    ...(suiteText ? [suiteText, "", "## All runs", ""] : []),
    "Test metrics of the validation-selected epoch (acc %, mAP %, macro-F1 %, branches), mean ± sd",
    "over the completed seeds; final acc % is the last epoch's test accuracy; a seed counts as",
    `collapsed when its final training loss is more than ${rule.lossFactor} x its minimum or its final test`,
    `accuracy is more than ${
      100 * rule.accDrop
    } points below the selected epoch's; diverged seeds (NaN/Inf) are`,
    "counted, not averaged. Branch accuracy = the modality's uni-modal prediction inside the model",
    "(paper Sec. 3.2.1); mean rho: applied by the AMSS family, logged (what Eq. 4 would give) for the",
    "others.",
    ...(paper ? [`Paper columns: ${paper.source}.`] : []),
    "",
    table,
    ...(rows.some((r) => r.own) ? [OWN_BRANCH_NOTE, ""] : []),
    ...(notes.length ? ["Collapsed and diverged seeds:", "", ...notes, ""] : []),
    ...(paired.length
      ? [`## Paired difference to ${baseline}`, "", pairedMarkdown(paired, baseline!)]
      : []),
    ...(c.unreadable.length
      ? ["Unreadable files (left out):", "", ...c.unreadable.map((u) => `- ${u}`), ""]
      : []),
    ...plots.map((p) => `![${p.title}](${p.file})`),
    "",
  ].join("\n");
  await writeFileAtomic(`${dir}/report.md`, md);
  await writeJsonAtomic(`${dir}/table.json`, { rows, paired, collapseRule: rule });
  const text = [
    textTable(table),
    ...(rows.some((r) => r.own) ? [OWN_BRANCH_NOTE] : []),
    ...(notes.length ? ["", ...notes] : []),
    ...(paired.length
      ? [
        "",
        `Paired difference to ${baseline} (points, 95% t-interval, * excludes 0):`,
        textTable(pairedMarkdown(paired, baseline!)),
      ]
      : []),
  ].join("\n");
  await writeFileAtomic(`${dir}/table.txt`, text + "\n");
  if (suiteText) {
    await writeFileAtomic(`${dir}/${SUITES[suite!.name].file ?? "suite.md"}`, suiteText);
  }
  return suiteText ? `${text}\n\n${suiteText}` : text;
}

/** The terminal text of runs without writing anything (a partial sweep). */
export function partialText(c: FolderContents, rule: CollapseRule): string {
  const rows = aggregate(c.runs, c.diverged, rule);
  return [textTable(markdownTable(rows)), ...(rows.some((r) => r.own) ? [OWN_BRANCH_NOTE] : [])]
    .join("\n");
}
