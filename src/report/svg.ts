/**
 * Minimal SVG line/scatter plots for reports (proofs and benchmarks), written here because the
 * npm plotting libraries we could use need a DOM or a canvas, and a report needs only a few
 * labelled series on linear or log axes. Output is a standalone SVG document.
 *
 * @example
 * ```ts
 * import { linePlot } from "./svg.ts";
 * const svg = linePlot({
 *   title: "rho vs tau",
 *   xLabel: "tau",
 *   yLabel: "rho",
 *   series: [{ name: "audio", points: [[0.1, 0.22], [1, 0.33], [4, 0.44]] }],
 *   xLog: true,
 * });
 * ```
 * @module
 */

/** One series: points [x, y]; `dashed` for bounds, `markers` for measured points. */
export interface Series {
  name: string;
  points: [number, number][];
  dashed?: boolean;
  markers?: boolean;
  /** Draw markers only (no line). */
  scatter?: boolean;
  /** Colour index (series with the same index share a colour); default the series' position. */
  color?: number;
}

/** A plot specification. */
export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xLog?: boolean;
  yLog?: boolean;
  /** Bounds the y axis may not pass (e.g. 0 and 1 for accuracies), after the 5% padding. */
  yMin?: number;
  yMax?: number;
  width?: number;
  /** Default 400, taller when the legend needs it. */
  height?: number;
}

/** Twelve qualitative colours; series 13-24 repeat them dotted, 25-36 dash-dotted, and so on. */
const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
  "#bcbd22",
  "#393b79",
  "#ad494a",
];
const CYCLE_DASHES = ["", "2 3", "8 3 2 3", "1 5"];

/** The colour and dash pattern of a series: distinct for the first 48 series. */
export function seriesStyle(
  s: Pick<Series, "color" | "dashed">,
  index: number,
): { color: string; dash: string } {
  const k = s.color ?? index;
  const color = COLORS[k % COLORS.length];
  const dash = s.dashed ? "6 4" : CYCLE_DASHES[Math.floor(k / COLORS.length) % CYCLE_DASHES.length];
  return { color, dash };
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmtTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return Number(v.toPrecision(3)).toString();
}

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    // decades; within fewer than two decades also 2x and 5x, so short ranges get labels too
    const mult = hi - lo < 2 ? [1, 2, 5] : [1];
    const out: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of mult) {
        const v = e + Math.log10(m);
        if (v >= lo - 1e-9 && v <= hi + 1e-9) out.push(v);
      }
    }
    return out.length >= 2 ? out : [lo, hi];
  }
  const span = hi - lo || 1;
  const step0 = Math.pow(10, Math.floor(Math.log10(span / 5)));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= 6) ?? step0 * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** Renders a line plot as an SVG document. Non-finite points (and non-positive ones on log axes) are skipped. */
export function linePlot(spec: PlotSpec): string {
  // legend column wide enough for the longest series name (about 7 px per character at 12 px)
  const legend = Math.max(150, 50 + 7 * Math.max(0, ...spec.series.map((s) => s.name.length)));
  const W = spec.width ?? 490 + legend;
  const H = spec.height ?? Math.max(400, 36 + 14 + 18 * spec.series.length + 50);
  const m = { l: 70, r: legend, t: 36, b: 50 };
  const tx = (v: number) => (spec.xLog ? Math.log10(v) : v);
  const ty = (v: number) => (spec.yLog ? Math.log10(v) : v);
  const ok = ([x, y]: [number, number]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!spec.xLog || x > 0) && (!spec.yLog || y > 0);
  const pts = spec.series.flatMap((s) => s.points.filter(ok)).map(([x, y]) => [tx(x), ty(y)]);
  let [x0, x1] = pts.length
    ? [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))]
    : [0, 1];
  let [y0, y1] = pts.length
    ? [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))]
    : [0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 0.5, x1 + 0.5];
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  if (!spec.yLog) {
    if (spec.yMin !== undefined) y0 = Math.max(y0, spec.yMin);
    if (spec.yMax !== undefined) y1 = Math.min(y1, spec.yMax);
  }
  const X = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(spec.title)}</text>`,
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${
      H - m.t - m.b
    }" fill="none" stroke="#444"/>`,
  ];
  for (const t of ticks(x0, x1, !!spec.xLog)) {
    const label = spec.xLog ? fmtTick(Math.pow(10, t)) : fmtTick(t);
    out.push(
      `<line x1="${X(t)}" x2="${X(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`,
      `<text x="${X(t)}" y="${H - m.b + 16}" text-anchor="middle">${label}</text>`,
    );
  }
  for (const t of ticks(y0, y1, !!spec.yLog)) {
    const label = spec.yLog ? fmtTick(Math.pow(10, t)) : fmtTick(t);
    out.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(t)}" y2="${Y(t)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${label}</text>`,
    );
  }
  out.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(spec.xLabel)}${
      spec.xLog ? " (log)" : ""
    }</text>`,
    `<text x="16" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 16 ${
      (m.t + H - m.b) / 2
    })">${esc(spec.yLabel)}${spec.yLog ? " (log)" : ""}</text>`,
  );
  spec.series.forEach((s, i) => {
    const { color, dash } = seriesStyle(s, i);
    const dashAttr = dash ? ` stroke-dasharray="${dash}"` : "";
    const p = s.points.filter(ok).map(([x, y]) => [X(tx(x)), Y(ty(y))]);
    if (!s.scatter && p.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.8"${dashAttr} points="${
          p.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")
        }"/>`,
      );
    }
    // a lone point has no line to show it
    if (s.markers || s.scatter || p.length === 1) {
      for (const [a, b] of p) {
        out.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${color}"/>`);
      }
    }
    const ly = m.t + 14 + i * 18;
    out.push(
      `<line x1="${W - m.r + 10}" x2="${W - m.r + 34}" y1="${ly - 4}" y2="${
        ly - 4
      }" stroke="${color}" stroke-width="2"${dashAttr}/>`,
      `<text x="${W - m.r + 40}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
