/**
 * `deno task proofs`: executable verdicts on the paper's theoretical claims.
 *
 * Runs every claim of the registry (`proofs/claims/mod.ts`), prints each claim's progress and a
 * verdict table, and writes `report.md`, `results.json` and the claims' SVG plots to the output
 * folder, each file atomically (temporary name in the same folder, then rename). Exits 1 when a
 * claim's verdict differs from the outcome the suite has established (`expected`) or a claim
 * fails to run (a broken control check throws), naming the claim; exits 2 on a usage error.
 *
 * ```
 * deno task proofs [--quick] [--out DIR] [--seed N] [--only id,id] [--readme] [--help]
 * ```
 *
 * The core, {@link runClaims}, takes the claim list as an argument so that tests can run it on
 * fake claims without spawning a process.
 *
 * @module
 */

import type { Claim, ClaimResult, Verdict } from "./claim.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";

export type { Claim, ClaimResult, Verdict };

/** Default output folder (relative to the working directory, the repository root under `deno task`). */
export const DEFAULT_OUT = "proofs/report";
/** Default base seed. */
export const DEFAULT_SEED = 1;
const VERDICTS: readonly Verdict[] = ["HOLDS", "FAILS", "HOLDS-UNDER-CONDITION"];

/** Options of {@link runClaims}. */
export interface RunOptions {
  /** CI mode (passed to every claim). */
  quick: boolean;
  /** Base seed (passed to every claim). */
  seed: number;
  /** Folder for report.md, results.json and the plots; created if missing. */
  outDir: string;
  /** Run only these claim ids (all when absent). Unknown ids throw {@link UsageError}. */
  only?: readonly string[];
  /** Progress and table output (default: console.log). */
  log?: (line: string) => void;
  /** The command line recorded in the report (default: built from the options). */
  command?: string;
}

/** What happened to one claim. */
export interface ClaimOutcome {
  /** The claim's id. */
  id: string;
  /** Wall time of `run`, seconds. */
  seconds: number;
  /** The claim's result, when it ran and its result was well-formed. */
  result?: ClaimResult;
  /** Why there is no result (exception or malformed result). */
  error?: string;
  /** Non-fatal remarks (e.g. non-finite numbers). */
  warnings: string[];
  /** True when the claim ran and its verdict equals its expected verdict. */
  ok: boolean;
}

/** The outcome of {@link runClaims}. */
export interface RunReport {
  /** One entry per claim run, in order. */
  outcomes: ClaimOutcome[];
  /** One line per failing claim, naming it (verdict changed, or error). */
  problems: string[];
  /** 0 when every claim ran and matched its expected verdict, else 1. */
  exitCode: 0 | 1;
  /** Total wall time, seconds. */
  seconds: number;
  /** Paths written, in order. */
  files: string[];
}

/** The JSON document written to `results.json` (and read back by `--readme`). */
export interface ResultsJson {
  /** ISO time the report was written. */
  generated: string;
  /** The command line that produced the report. */
  command: string;
  /** Quick (CI) mode? */
  quick: boolean;
  /** Base seed. */
  seed: number;
  /** Deno version. */
  deno: string;
  /** Total wall time, seconds. */
  seconds: number;
  /** The run's exit status (0 or 1). */
  exitCode: 0 | 1;
  /** One line per failing claim (see {@link RunReport.problems}). */
  problems: string[];
  /** One entry per claim run: its result without details and plots, or its error. */
  claims: ResultsClaim[];
}

/** One claim in {@link ResultsJson}: the result fields (absent when the claim failed to run). */
export interface ResultsClaim {
  /** The claim's id. */
  id: string;
  /** {@link ClaimResult.title}. */
  title?: string;
  /** {@link ClaimResult.reference}. */
  reference?: string;
  /** {@link ClaimResult.verdict}. */
  verdict?: Verdict;
  /** {@link ClaimResult.expected}. */
  expected?: Verdict;
  /** Ran, and verdict equals expected. */
  ok: boolean;
  /** Wall time of the claim, seconds. */
  seconds: number;
  /** {@link ClaimResult.summary}. */
  summary?: string;
  /** {@link ClaimResult.numbers} (non-finite numbers are written as strings). */
  numbers?: Record<string, number | string | boolean>;
  /** Plot file names, relative to the report folder. */
  plots?: string[];
  /** Why the claim has no result. */
  error?: string;
  /** Non-fatal remarks. */
  warnings: string[];
}

/** A command-line or option error (exit status 2). */
export class UsageError extends Error {
  /**
   * A usage error.
   *
   * @param message what is wrong with the command line or the options.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Usage text of the command. */
export const USAGE = `Usage: deno task proofs [options]

Runs the verdicts on the paper's theoretical claims and writes a report.

Options:
  --quick        CI mode: fewer draws and shorter horizons (whole suite < 3 min on 2 cores)
  --out DIR      output folder for report.md, results.json and the SVG plots
                 (default ${DEFAULT_OUT})
  --seed N       base seed, an integer in [0, 2^32) (default ${DEFAULT_SEED})
  --only a,b     run only these claim ids
  --readme       print the README section summarising DIR/results.json (no claims are run)
  --help, -h     print this help

Exit status: 0 all verdicts as established; 1 a verdict changed or a claim failed to run;
2 usage error.`;

// ---------------------------------------------------------------------------------------------
// Files

function joinPath(dir: string, file: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + file : `${dir}/${file}`;
}

/** Atomic writes (temporary file, fsync, rename) are shared with the trainer: src/io/atomic.ts. */
export { writeFileAtomic };

// ---------------------------------------------------------------------------------------------
// Running

const PLOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.svg$/;

/** Checks a claim's result; returns the problems (empty when well-formed) and warnings. */
function checkResult(id: string, r: ClaimResult): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (r === null || typeof r !== "object") {
    return { errors: ["run() returned no result"], warnings };
  }
  if (r.id !== id) errors.push(`result id ${JSON.stringify(r.id)} differs from the claim's id`);
  if (!VERDICTS.includes(r.verdict)) errors.push(`invalid verdict ${JSON.stringify(r.verdict)}`);
  if (!VERDICTS.includes(r.expected)) errors.push(`invalid expected ${JSON.stringify(r.expected)}`);
  for (const k of ["title", "reference", "summary", "details"] as const) {
    if (typeof r[k] !== "string") errors.push(`${k} must be a string`);
  }
  if (r.numbers === null || typeof r.numbers !== "object") errors.push("numbers must be an object");
  else {
    for (const [k, v] of Object.entries(r.numbers)) {
      if (typeof v === "number" && !Number.isFinite(v)) warnings.push(`numbers.${k} is ${v}`);
    }
  }
  if (!Array.isArray(r.plots)) errors.push("plots must be an array");
  else {
    for (const p of r.plots) {
      if (!p || typeof p.file !== "string" || !PLOT_NAME.test(p.file)) {
        errors.push(`plot file name ${JSON.stringify(p?.file)} is not a plain NAME.svg`);
      } else if (typeof p.svg !== "string" || !p.svg.startsWith("<svg")) {
        errors.push(`plot ${p.file} has no SVG document`);
      }
    }
  }
  return { errors, warnings };
}

function fmtSeconds(s: number): string {
  return s < 10 ? s.toFixed(2) : s.toFixed(1);
}

/**
 * Runs `claims` (or the subset `opts.only`) one after the other, logs progress and the verdict
 * table, writes the report to `opts.outDir`, and returns the outcomes with the exit code: 1 when
 * a claim threw, returned a malformed result, or returned a verdict different from its
 * `expected`; else 0.
 *
 * @throws {UsageError} on an unknown id in `opts.only`, duplicate claim ids or a bad seed.
 */
export async function runClaims(claims: readonly Claim[], opts: RunOptions): Promise<RunReport> {
  const log = opts.log ?? ((line: string) => console.log(line));
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed >= 2 ** 32) {
    throw new UsageError(`seed must be an integer in [0, 2^32), got ${opts.seed}`);
  }
  const ids = claims.map((c) => c.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new UsageError(`two claims share the id ${JSON.stringify(dup)}`);
  let selected = claims;
  if (opts.only !== undefined) {
    const unknown = opts.only.filter((id) => !ids.includes(id));
    if (unknown.length > 0) {
      throw new UsageError(`unknown claim id(s) ${unknown.join(", ")}; known: ${ids.join(", ")}`);
    }
    selected = claims.filter((c) => opts.only!.includes(c.id));
  }
  const command = opts.command ?? commandLine(opts);
  const t0 = performance.now();
  const outcomes: ClaimOutcome[] = [];
  for (let i = 0; i < selected.length; i++) {
    const claim = selected[i];
    log(`[${i + 1}/${selected.length}] ${claim.id} ...`);
    const start = performance.now();
    const outcome: ClaimOutcome = { id: claim.id, seconds: 0, warnings: [], ok: false };
    try {
      const result = await claim.run({ quick: opts.quick, seed: opts.seed });
      const { errors, warnings } = checkResult(claim.id, result);
      outcome.warnings = warnings;
      if (errors.length > 0) outcome.error = `malformed result: ${errors.join("; ")}`;
      else {
        outcome.result = result;
        outcome.ok = result.verdict === result.expected;
      }
    } catch (e) {
      outcome.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    outcome.seconds = (performance.now() - start) / 1000;
    outcomes.push(outcome);
    const r = outcome.result;
    log(
      r
        ? `      ${r.verdict} (expected ${r.expected})${
          outcome.ok ? "" : "  <-- VERDICT CHANGED"
        }  ${fmtSeconds(outcome.seconds)} s`
        : `      ERROR after ${fmtSeconds(outcome.seconds)} s: ${outcome.error}`,
    );
    for (const w of outcome.warnings) log(`      warning: ${w}`);
  }
  // plot names must be unique across the report
  const seen = new Map<string, string>();
  for (const o of outcomes) {
    for (const p of o.result?.plots ?? []) {
      const other = seen.get(p.file);
      if (other !== undefined) {
        o.error = `plot file ${p.file} is also written by claim ${other}`;
        o.result = undefined;
        o.ok = false;
        break;
      }
      seen.set(p.file, o.id);
    }
  }
  const problems = outcomes.filter((o) => !o.ok).map((o) =>
    o.result
      ? `claim ${o.id}: verdict ${o.result.verdict} differs from the established ${o.result.expected}`
      : `claim ${o.id}: ${o.error}`
  );
  const seconds = (performance.now() - t0) / 1000;
  const exitCode: 0 | 1 = problems.length > 0 ? 1 : 0;

  log("");
  log(verdictTable(outcomes));
  log("");
  log(`total ${fmtSeconds(seconds)} s (${opts.quick ? "quick" : "full"} mode, seed ${opts.seed})`);

  const json: ResultsJson = {
    generated: new Date().toISOString(),
    command,
    quick: opts.quick,
    seed: opts.seed,
    deno: Deno.version.deno,
    seconds,
    exitCode,
    problems,
    claims: outcomes.map((o) => ({
      id: o.id,
      title: o.result?.title,
      reference: o.result?.reference,
      verdict: o.result?.verdict,
      expected: o.result?.expected,
      ok: o.ok,
      seconds: o.seconds,
      summary: o.result?.summary,
      numbers: o.result?.numbers,
      plots: o.result?.plots.map((p) => p.file),
      error: o.error,
      warnings: o.warnings,
    })),
  };
  const files: string[] = [];
  await Deno.mkdir(opts.outDir, { recursive: true });
  for (const o of outcomes) {
    for (const p of o.result?.plots ?? []) {
      const path = joinPath(opts.outDir, p.file);
      await writeFileAtomic(path, p.svg);
      files.push(path);
    }
  }
  const jsonPath = joinPath(opts.outDir, "results.json");
  await writeFileAtomic(jsonPath, JSON.stringify(json, jsonReplacer, 2) + "\n");
  files.push(jsonPath);
  const mdPath = joinPath(opts.outDir, "report.md");
  await writeFileAtomic(mdPath, markdownReport(json, outcomes));
  files.push(mdPath);
  log(`wrote ${files.length} files to ${opts.outDir}`);
  for (const p of problems) log(`FAILED: ${p}`);
  return { outcomes, problems, exitCode, seconds, files };
}

/** JSON.stringify replacer: non-finite numbers become strings ("NaN", "Infinity"). */
function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? String(value) : value;
}

function commandLine(opts: RunOptions): string {
  const parts = ["deno task proofs"];
  if (opts.quick) parts.push("--quick");
  if (opts.seed !== DEFAULT_SEED) parts.push(`--seed ${opts.seed}`);
  if (opts.outDir !== DEFAULT_OUT) parts.push(`--out ${opts.outDir}`);
  if (opts.only) parts.push(`--only ${opts.only.join(",")}`);
  return parts.join(" ");
}

// ---------------------------------------------------------------------------------------------
// Tables and reports

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** The plain-text verdict table: claim, paper reference, verdict, expected, status; key numbers below each row. */
export function verdictTable(outcomes: readonly ClaimOutcome[]): string {
  const rows = outcomes.map((o) => [
    o.id,
    o.result?.reference ?? "-",
    o.result?.verdict ?? "ERROR",
    o.result?.expected ?? "-",
    o.ok ? "ok" : o.result ? "CHANGED" : "ERROR",
  ]);
  const head = ["claim", "paper reference", "verdict", "expected", "status"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => pad(c, widths[i])).join("  ").trimEnd();
  const out = [line(head), widths.map((w) => "-".repeat(w)).join("  ")];
  outcomes.forEach((o, i) => {
    out.push(line(rows[i]));
    out.push(`    ${o.result?.summary ?? o.error ?? ""}`);
  });
  return out.join("\n");
}

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** The Markdown report: run metadata, the verdict table, then each claim's details and plots. */
export function markdownReport(json: ResultsJson, outcomes: readonly ClaimOutcome[]): string {
  const out: string[] = [
    "# Verdicts on the paper's theoretical claims",
    "",
    `Generated by \`${json.command}\` (${json.quick ? "quick" : "full"} mode, seed ${json.seed}) ` +
    `with Deno ${json.deno} on ${json.generated}; total ${fmtSeconds(json.seconds)} s. ` +
    `Each claim checks one statement of the paper by computation; "expected" is the verdict this ` +
    `suite has established, and a change fails the run.`,
    "",
    "| claim | paper reference | verdict | expected | time (s) | key numbers |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const o of outcomes) {
    const r = o.result;
    out.push(
      `| [${o.id}](#${o.id}) | ${cell(r?.reference ?? "-")} | ${
        r ? `**${r.verdict}**${o.ok ? "" : " (CHANGED)"}` : "**ERROR**"
      } | ${r?.expected ?? "-"} | ${fmtSeconds(o.seconds)} | ${
        cell(r?.summary ?? o.error ?? "")
      } |`,
    );
  }
  if (json.problems.length > 0) {
    out.push("", "**Failures:**", "", ...json.problems.map((p) => `- ${p}`));
  }
  for (const o of outcomes) {
    const r = o.result;
    out.push("", `<a id="${o.id}"></a>`, "", `## ${o.id}: ${r?.title ?? "(no result)"}`, "");
    if (!r) {
      out.push(`**ERROR** after ${fmtSeconds(o.seconds)} s: ${o.error}`);
      continue;
    }
    out.push(
      `**Verdict: ${r.verdict}** (expected ${r.expected}) · ${r.reference} · ${
        fmtSeconds(o.seconds)
      } s`,
      "",
      r.details,
    );
    for (const p of r.plots) out.push("", `![${p.title}](${p.file})`);
    for (const w of o.warnings) out.push("", `Warning: ${w}`);
  }
  return out.join("\n") + "\n";
}

/**
 * The README section summarising a report's verdicts (Markdown), generated from `results.json`;
 * it names the command that produced the report and the command that printed the section.
 */
export function readmeSection(json: ResultsJson, outDir = DEFAULT_OUT): string {
  const total = json.claims.length;
  const ok = json.claims.filter((c) => c.ok).length;
  const out = [
    "## Verdicts on the paper's theory",
    "",
    `Produced by \`${json.command}\` (${json.quick ? "quick" : "full"} mode, seed ${json.seed}, ` +
    `${fmtSeconds(json.seconds)} s, Deno ${json.deno}); this summary was printed by ` +
    `\`deno task proofs --readme${outDir === DEFAULT_OUT ? "" : ` --out ${outDir}`}\` from ` +
    `\`${joinPath(outDir, "results.json")}\`. Full evidence and plots: \`${
      joinPath(outDir, "report.md")
    }\`. ${ok} of ${total} claims match the verdict the suite has established.`,
    "",
    "| claim | paper | verdict | key numbers |",
    "| --- | --- | --- | --- |",
  ];
  for (const c of json.claims) {
    out.push(
      `| ${c.id}${c.title ? `: ${cell(c.title)}` : ""} | ${cell(c.reference ?? "-")} | ${
        c.verdict ? `**${c.verdict}**${c.ok ? "" : ` (expected ${c.expected})`}` : "**ERROR**"
      } | ${cell(c.summary ?? c.error ?? "")} |`,
    );
  }
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Command line

/** Parsed command line. */
export interface CliArgs {
  /** `--quick`. */
  quick: boolean;
  /** `--seed N` (default {@link DEFAULT_SEED}). */
  seed: number;
  /** `--out DIR` (default {@link DEFAULT_OUT}). */
  outDir: string;
  /** `--only a,b` (repeatable; absent: all claims). */
  only?: string[];
  /** `--readme`: print the README section from DIR/results.json. */
  readme: boolean;
  /** `--help` / `-h`. */
  help: boolean;
}

/** Parses the command line. @throws {UsageError} on an unknown flag or a bad value. */
export function parseArgs(args: readonly string[]): CliArgs {
  const out: CliArgs = {
    quick: false,
    seed: DEFAULT_SEED,
    outDir: DEFAULT_OUT,
    readme: false,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    let value: string | undefined;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const need = (): string => {
      if (value !== undefined) return value;
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const noValue = () => {
      if (value !== undefined) throw new UsageError(`${a} takes no value`);
    };
    switch (a) {
      case "--quick":
        noValue();
        out.quick = true;
        break;
      case "--readme":
        noValue();
        out.readme = true;
        break;
      case "--help":
      case "-h":
        noValue();
        out.help = true;
        break;
      case "--out": {
        const v = need();
        if (v.length === 0) throw new UsageError("--out needs a folder");
        out.outDir = v;
        break;
      }
      case "--seed": {
        const v = need();
        const n = Number(v);
        if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n >= 2 ** 32) {
          throw new UsageError(`--seed must be an integer in [0, 2^32), got ${JSON.stringify(v)}`);
        }
        out.seed = n;
        break;
      }
      case "--only": {
        const ids = need().split(",").map((s) => s.trim()).filter((s) => s.length > 0);
        if (ids.length === 0) throw new UsageError("--only needs at least one claim id");
        out.only = [...(out.only ?? []), ...ids];
        break;
      }
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(args[i])}`);
    }
  }
  return out;
}

/**
 * The command: parses `args`, runs the registry's claims (or prints the README section with
 * `--readme`), and returns the exit status (0, 1 or 2).
 */
export async function main(args: readonly string[], claims?: readonly Claim[]): Promise<number> {
  let cli: CliArgs;
  try {
    cli = parseArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (cli.help) {
    console.log(USAGE);
    return 0;
  }
  if (cli.readme) {
    const path = joinPath(cli.outDir, "results.json");
    let json: ResultsJson;
    try {
      json = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      console.error(
        `error: cannot read ${path} (${
          e instanceof Error ? e.message : e
        }); run deno task proofs first`,
      );
      return 2;
    }
    console.log(readmeSection(json, cli.outDir));
    return 0;
  }
  const list = claims ?? (await import("./claims/mod.ts")).CLAIMS;
  try {
    const report = await runClaims(list, {
      quick: cli.quick,
      seed: cli.seed,
      outDir: cli.outDir,
      only: cli.only,
    });
    return report.exitCode;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    // e.g. the report folder cannot be written (permission, disk): the run did not complete
    console.error(`error: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
