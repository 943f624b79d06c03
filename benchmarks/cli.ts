/**
 * A strict command line from one declared table of flags: the same table parses, validates and
 * prints `--help`, so nothing is accepted by accident. `--key value` and `--key=value` are both
 * accepted; an unknown flag, a stray word, a flag given twice, a missing value or a value of the
 * wrong type or out of range is a {@link UsageError} whose message reads `<what> (<expected>)`.
 *
 * Written here rather than taken from a parser package: the packages reachable here (commander,
 * node:util's parseArgs) either accept unknown flags by default or word their errors in their own
 * way, and the checks that matter (ranges, lists, seeds, shards) would still be ours.
 *
 * @module
 */

/** A usage error: what is wrong, and what was expected. Printed as `bench: <what> (<expected>)`. */
export class UsageError extends Error {
  constructor(what: string, expected: string) {
    super(`${what} (${expected})`);
    this.name = "UsageError";
  }
}

/** The type and range of one flag's value. */
export type FlagType =
  | { kind: "boolean" }
  | { kind: "int"; min: number; max: number }
  | { kind: "number"; min: number; max: number; minOpen?: boolean; maxOpen?: boolean }
  /** A comma list of numbers, each in the range. */
  | { kind: "numbers"; min: number; max: number; minOpen?: boolean; maxOpen?: boolean }
  | { kind: "enum"; values: readonly string[] }
  /** Free text (a path, a list checked later); must not be empty. */
  | { kind: "string" }
  /** `N` (= seeds 1..N) or a comma list of distinct integers, each in [1, max]. */
  | { kind: "seeds"; maxCount: number; max: number }
  /** `i/n` with 0 <= i < n <= max. */
  | { kind: "shard"; max: number };

/** One flag of a command. */
export interface FlagSpec {
  name: string;
  type: FlagType;
  /** Placeholder of the value in `--help` (e.g. `N`, `DIR`, `LIST`). */
  value?: string;
  /** The default, as `--help` states it. */
  default?: string;
  /** One line (or a few) of help. */
  help: string;
}

/** A parsed value: booleans are true when given, numbers checked, lists split. */
export type FlagValue = boolean | number | string | number[];

/** What {@link parseFlags} returns: the flags given (only those) and the positional words. */
export interface ParsedFlags {
  values: Map<string, FlagValue>;
  positionals: string[];
}

function rangeText(t: { min: number; max: number; minOpen?: boolean; maxOpen?: boolean }): string {
  const lo = t.minOpen ? "(" : "[";
  const hi = t.maxOpen ? ")" : "]";
  if (t.max === Infinity) return t.minOpen ? `> ${t.min}` : `>= ${t.min}`;
  return `in ${lo}${t.min}, ${t.max}${hi}`;
}

/** What a value of type `t` must be, in words (the parenthesis of a usage error). */
export function expectedText(t: FlagType): string {
  switch (t.kind) {
    case "boolean":
      return "a switch: it takes no value";
    case "int":
      return `an integer ${rangeText(t)}`;
    case "number":
      return `a number ${rangeText(t)}`;
    case "numbers":
      return `a comma list of numbers, each ${rangeText(t)}`;
    case "enum":
      return `one of ${t.values.join(", ")}`;
    case "string":
      return "a non-empty value";
    case "seeds":
      return `N for seeds 1..N with 1 <= N <= ${t.maxCount}, or a comma list of distinct integers in [1, ${t.max}]`;
    case "shard":
      return `i/n with 0 <= i < n <= ${t.max}, e.g. 0/4`;
  }
}

function inRange(
  x: number,
  t: { min: number; max: number; minOpen?: boolean; maxOpen?: boolean },
): boolean {
  return Number.isFinite(x) && (t.minOpen ? x > t.min : x >= t.min) &&
    (t.maxOpen ? x < t.max : x <= t.max);
}

/** Strict decimal number syntax (Number("") is 0 and Number("0x10") is 16: neither is accepted). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INTEGER = /^[+-]?\d+$/;

/** Checks and converts the raw text of flag `spec`; throws a {@link UsageError}. */
export function convertValue(spec: FlagSpec, raw: string): FlagValue {
  const t = spec.type;
  const bad = (what = `--${spec.name} got ${JSON.stringify(raw)}`): never => {
    throw new UsageError(what, `expected ${expectedText(t)}`);
  };
  switch (t.kind) {
    case "boolean":
      return bad(`--${spec.name}=${raw}`);
    case "int": {
      if (!INTEGER.test(raw)) bad();
      const x = Number(raw);
      if (!Number.isSafeInteger(x) || x < t.min || x > t.max) bad();
      return x;
    }
    case "number": {
      if (!NUMBER.test(raw)) bad();
      const x = Number(raw);
      if (!inRange(x, t)) bad();
      return x;
    }
    case "numbers": {
      const parts = raw.split(",").map((s) => s.trim());
      if (parts.some((p) => !NUMBER.test(p) || !inRange(Number(p), t))) bad();
      return parts.map(Number);
    }
    case "enum":
      if (!t.values.includes(raw)) bad();
      return raw;
    case "string":
      if (raw.trim() === "") bad();
      return raw;
    case "seeds": {
      if (INTEGER.test(raw)) {
        const n = Number(raw);
        if (!(n >= 1 && n <= t.maxCount)) bad();
        return Array.from({ length: n }, (_, i) => i + 1);
      }
      const parts = raw.split(",").map((s) => s.trim());
      const xs = parts.map(Number);
      if (
        parts.some((p) => !INTEGER.test(p)) || xs.some((x) => x < 1 || x > t.max) ||
        new Set(xs).size !== xs.length || xs.length > t.maxCount
      ) {
        bad();
      }
      return xs;
    }
    case "shard": {
      const m = /^(\d+)\/(\d+)$/.exec(raw);
      if (!m) return bad();
      const i = Number(m[1]), n = Number(m[2]);
      if (!(i < n && n <= t.max)) bad();
      return [i, n];
    }
  }
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The closest of `names` to `name` when it is a plausible misspelling, else undefined. */
export function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const n of names) {
    const dd = distance(name, n);
    if (dd < bestD) [best, bestD] = [n, dd];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Parses `argv` against `specs`. `helpRef` names where the flags are listed (for the error's
 * parenthesis). Positional words are returned; the caller decides whether any are allowed.
 */
export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  helpRef: string,
): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = new Map<string, FlagValue>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-" || /^-\d/.test(a)) {
      positionals.push(a);
      continue;
    }
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec || !a.startsWith("--")) {
      const hint = closest(name, [...byName.keys()]);
      throw new UsageError(
        `unknown flag ${a.startsWith("--") ? `--${name}` : a}`,
        `${hint ? `did you mean --${hint}? ` : ""}${helpRef} lists the flags`,
      );
    }
    if (values.has(name)) {
      throw new UsageError(`--${name} given twice`, "give each flag once");
    }
    if (spec.type.kind === "boolean") {
      if (eq >= 0) {
        throw new UsageError(
          `--${name}=${body.slice(eq + 1)}`,
          `--${name} is a switch: it takes no value`,
        );
      }
      values.set(name, true);
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new UsageError(
          `--${name} needs a value`,
          `--${name} ${spec.value ?? "VALUE"}: ${expectedText(spec.type)}`,
        );
      }
      raw = next;
      i++;
    }
    values.set(name, convertValue(spec, raw));
  }
  return { values, positionals };
}

/** `--help` lines for a flag table: name and value placeholder, then the help and the default. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const heads = specs.map((s) =>
    `  --${s.name}${s.type.kind === "boolean" ? "" : ` ${s.value ?? "X"}`}`
  );
  const width = Math.min(28, Math.max(...heads.map((h) => h.length)) + 2);
  return specs.map((s, i) => {
    const text = `${s.help}${s.default !== undefined ? ` (default ${s.default})` : ""}`;
    const lines = text.split("\n");
    const head = heads[i].length >= width
      ? `${heads[i]}\n${" ".repeat(width)}`
      : heads[i].padEnd(width);
    return head + lines.join(`\n${" ".repeat(width)}`);
  }).join("\n");
}
