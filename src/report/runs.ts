/**
 * Aggregation of run summaries into the bench table and report: mean +/- sd over seeds per method
 * label, a fixed-width text table for the terminal, a Markdown table, and SVG plots of the
 * per-epoch histories (test accuracy, per-modality branch accuracy, rho traces).
 *
 * @module
 */
import type { RunSummary } from "../train/trainer.ts";
import { linePlot } from "./svg.ts";

/** Mean and sample standard deviation (0 for a single value). */
export function meanSd(xs: number[]): { mean: number; sd: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/** A run that stopped on NaN/Inf (its folder holds diverged.json). */
export interface DivergedRun {
  label: string;
  seed: number;
  message: string;
}

/** One row of the bench table: a method label over its seeds. */
export interface TableRow {
  label: string;
  /** Completed seeds (the means are over these). */
  seeds: number;
  /** Seeds that diverged (loss or gradient NaN/Inf). */
  diverged: number;
  acc: { mean: number; sd: number };
  mAP: { mean: number; sd: number };
  macroF1: { mean: number; sd: number };
  branchAcc: Record<string, { mean: number; sd: number }>;
  meanRho: Record<string, { mean: number; sd: number }>;
  msPerStep: { mean: number; sd: number };
  /** The paper's figures for this row, in % (e.g. Table 2), when it has them. */
  paper?: PaperFigures;
}

/** A paper's reported figures for one method on one dataset, in %. */
export interface PaperFigures {
  acc?: number;
  mAP?: number;
  macroF1?: number;
  /** Where the numbers come from, e.g. "Table 2". */
  source?: string;
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

/** Groups summaries by label (in first-seen order) and aggregates over seeds. */
export function aggregate(runs: RunSummary[], diverged: DivergedRun[] = []): TableRow[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) groups.set(r.label, [...(groups.get(r.label) ?? []), r]);
  const nan = { mean: NaN, sd: NaN, n: 0 };
  const failedOnly = [...new Set(diverged.map((d) => d.label))].filter((l) => !groups.has(l));
  const mods = runs.length ? Object.keys(runs[0].test.branchAcc) : [];
  const rows: TableRow[] = [...groups.entries()].map(([label, rs]) => {
    return {
      label,
      seeds: rs.length,
      diverged: diverged.filter((d) => d.label === label).length,
      acc: meanSd(rs.map((r) => r.test.acc)),
      mAP: meanSd(rs.map((r) => r.test.mAP)),
      macroF1: meanSd(rs.map((r) => r.test.macroF1)),
      branchAcc: Object.fromEntries(
        mods.map((m) => [m, meanSd(rs.map((r) => r.test.branchAcc[m]))]),
      ),
      meanRho: Object.fromEntries(mods.map((m) => [m, meanSd(rs.map((r) => r.meanRho[m]))])),
      msPerStep: meanSd(rs.map((r) => r.msPerStep)),
    };
  });
  for (const label of failedOnly) {
    rows.push({
      label,
      seeds: 0,
      diverged: diverged.filter((d) => d.label === label).length,
      acc: nan,
      mAP: nan,
      macroF1: nan,
      branchAcc: Object.fromEntries(mods.map((m) => [m, nan])),
      meanRho: Object.fromEntries(mods.map((m) => [m, nan])),
      msPerStep: nan,
    });
  }
  return rows;
}

const pct = (x: { mean: number; sd: number }) =>
  `${(100 * x.mean).toFixed(2)} ± ${(100 * x.sd).toFixed(2)}`;

/** Markdown table (accuracy, mAP, macro F1 and branch accuracies in %, rho, ms/step). */
export function markdownTable(rows: TableRow[]): string {
  if (rows.length === 0) return "(no runs)\n";
  const mods = Object.keys(rows[0].branchAcc);
  const anyDiverged = rows.some((r) => r.diverged > 0);
  const paperCols = (["acc", "mAP", "macroF1"] as const).filter((k) =>
    rows.some((r) => r.paper?.[k] !== undefined)
  );
  const head = [
    "method",
    "seeds",
    ...(anyDiverged ? ["diverged"] : []),
    "acc %",
    "mAP %",
    "macro-F1 %",
    ...paperCols.map((k) => `paper ${k === "macroF1" ? "macro-F1" : k} %`),
    ...mods.map((m) => `${m} branch acc %`),
    ...mods.map((m) => `mean rho ${m}`),
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
          ...(anyDiverged ? [String(r.diverged)] : []),
          pct(r.acc),
          pct(r.mAP),
          pct(r.macroF1),
          ...paperCols.map((k) => r.paper?.[k]?.toFixed(2) ?? "-"),
          ...mods.map((m) => pct(r.branchAcc[m])),
          ...mods.map((m) => `${r.meanRho[m].mean.toFixed(3)} ± ${r.meanRho[m].sd.toFixed(3)}`),
          r.msPerStep.mean.toFixed(1),
        ].join(" | ")
      } |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Plain-text table for the terminal (same columns as {@link markdownTable}). */
export function textTable(rows: TableRow[]): string {
  const md = markdownTable(rows).trim().split("\n").filter((_, i) => i !== 1);
  const cells = md.map((l) => l.slice(2, -2).split(" | "));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => r[c]?.length ?? 0)));
  return cells.map((r) =>
    r.map((v, c) => (c < 1 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  ")
  ).join("\n");
}

/** SVG plots of the histories: test accuracy per epoch per method, branch accuracy, rho traces. */
export function historyPlots(runs: RunSummary[]): { file: string; title: string; svg: string }[] {
  const labels = [...new Set(runs.map((r) => r.label))];
  const meanCurve = (
    rs: RunSummary[],
    f: (h: RunSummary["history"][number]) => number,
  ): [number, number][] => {
    const len = Math.min(...rs.map((r) => r.history.length));
    return Array.from(
      { length: len },
      (_, e) => [e + 1, rs.reduce((s, r) => s + f(r.history[e]), 0) / rs.length],
    );
  };
  const by = (l: string) => runs.filter((r) => r.label === l);
  const mods = runs.length ? Object.keys(runs[0].test.branchAcc) : [];
  const plots = [{
    file: "test_accuracy.svg",
    title: "Test accuracy per epoch (mean over seeds)",
    svg: linePlot({
      title: "Test accuracy per epoch (mean over seeds)",
      xLabel: "epoch",
      yLabel: "accuracy",
      series: labels.map((l) => ({ name: l, points: meanCurve(by(l), (h) => h.test.acc) })),
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
