/**
 * Small file helpers shared by the dataset loaders: delimited text (CSV/TSV lists), directory
 * listings, existence checks and a skip counter whose summary goes to the log.
 *
 * The delimited-text reader is our own (about 40 lines) rather than a package: the annotation lists
 * of the reference code are read with Python's `csv` module in its default dialect (quote char `"`,
 * doubled quotes inside quoted fields, no escape char), which is all we need to mirror, and an
 * error must name the file and line, which we control best here.
 *
 * @module
 */
import { AmssArgumentError } from "../validate.ts";
import {
  type Dataset,
  holdOut,
  type LazySplit,
  limitSplit,
  type ModalitySpec,
  validateSplit,
} from "./dataset.ts";
import { SampleLoadError } from "./loaders.ts";

/** Reads a UTF-8 text file (a leading BOM is dropped); a missing file is an error naming it. */
export async function readText(path: string, what = "file"): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AmssArgumentError(`${what} not found: ${path}`);
    }
    throw e;
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** One parsed row: its fields and its 1-based line number in the file. */
export interface Row {
  fields: string[];
  line: number;
}

/**
 * Parses delimited text like Python's `csv.reader(f, delimiter=d)`: fields may be quoted with `"`,
 * a doubled `""` inside quotes is one quote, and quoted fields may span lines. Blank lines are
 * skipped. An unterminated quote is an error naming `source`.
 */
export function parseDelimited(text: string, delimiter: string, source: string): Row[] {
  const rows: Row[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let atFieldStart = true;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0].trim() === "")) rows.push({ fields, line: rowLine });
    fields = [];
    field = "";
    atFieldStart = true;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else if (c === delimiter) {
      fields.push(field);
      field = "";
      atFieldStart = true;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      field += c;
      atFieldStart = false;
    }
  }
  if (quoted) throw new AmssArgumentError(`${source}: unterminated quoted field (line ${rowLine})`);
  if (field !== "" || fields.length) endRow();
  return rows;
}

/** True when `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The files of a folder whose names match `pattern`, in the order the OS lists them (what Python's
 * `os.listdir` returns, used by the reference loaders) and sorted by name. null when the folder
 * does not exist.
 */
export async function listFiles(
  dir: string,
  pattern = /\.(jpe?g|png)$/i,
): Promise<{ listed: string[]; sorted: string[] } | null> {
  const listed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && pattern.test(e.name)) listed.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
  return { listed, sorted: [...listed].sort() };
}

/** Reads a file for a sample; a missing file is a {@link SampleLoadError} naming it. */
export async function readSampleFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new SampleLoadError(`${path}: file not found`);
    throw e;
  }
}

/** Runs `fn`; any error it throws becomes a {@link SampleLoadError} prefixed with `path`. */
export async function asSampleError<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SampleLoadError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new SampleLoadError(msg.includes(path) ? msg : `${path}: ${msg}`);
  }
}

/** Counts skipped list rows by reason; `summary()` is the log line. */
export class SkipCounter {
  #counts = new Map<string, number>();
  #examples = new Map<string, string>();
  /** Counts one skip of `reason`, remembering the first example. */
  add(reason: string, example: string): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
    if (!this.#examples.has(reason)) this.#examples.set(reason, example);
  }
  /** Total skipped. */
  get total(): number {
    let t = 0;
    for (const v of this.#counts.values()) t += v;
    return t;
  }
  /** Counts per reason. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }
  /** One line per reason: count, reason, first example. */
  summary(where: string): string[] {
    return [...this.#counts.entries()].map(([r, n]) =>
      `${where}: skipped ${n} row(s): ${r} (first: ${this.#examples.get(r)})`
    );
  }
}

/**
 * Throws when a list kept no row after skipping (`kept` 0): an error naming the list file and
 * why its rows were skipped, instead of an empty split that fails later.
 */
export function requireUsableRows(list: string, kept: number, skips: SkipCounter): void {
  if (kept > 0) return;
  const why = Object.entries(skips.counts()).map(([r, n]) => `${n} x ${r}`).join("; ");
  throw new AmssArgumentError(
    `${list}: no usable row, the split would be empty (${skips.total} skipped${
      why ? `: ${why}` : ""
    }); expected at least 1 sample`,
  );
}

/** Options every real-dataset loader takes. */
export interface RealDatasetOptions {
  /** Seed of the validation hold-out (when the dataset has no val split). Default 1. */
  seed?: number;
  /** Fraction of train held out as validation when there is no val split. Default 0.1. */
  valFraction?: number;
  /** Keep only the first `limit` samples of each split (smoke runs). */
  limit?: number;
  /** Where skip counts and notes go (default console.log). */
  log?: (line: string) => void;
}

/**
 * Puts lazy splits together into a {@link Dataset}: holds out validation from train when there is
 * no val split (model selection never looks at test), applies `limit`, checks every split. An
 * empty split is an error naming its list file (`sources`, else the dataset name).
 */
export function finishDataset(
  name: string,
  modalities: ModalitySpec[],
  classes: string[],
  splits: { train: LazySplit; test: LazySplit; val?: LazySplit },
  opts: RealDatasetOptions,
  meta: Record<string, unknown>,
  sources: { train?: string; test?: string; val?: string } = {},
): Dataset {
  let { train, val } = splits;
  let valSource: Dataset["valSource"] = "split";
  if (!val) {
    const fraction = opts.valFraction ?? 0.1;
    const held = holdOut(train, fraction, opts.seed ?? 1, modalities);
    for (const [s, part] of [["validation", held.val], ["training", held.train]] as const) {
      if (part.n === 0) {
        throw new AmssArgumentError(
          `${
            sources.train ?? `${name} train split`
          }: the ${s} part of the hold-out (valFraction ${fraction} of ${train.n} usable samples, stratified by class) is empty; expected at least 1 sample: add a validation list, more training samples, or change valFraction`,
        );
      }
    }
    train = held.train;
    val = held.val;
    valSource = "held-out";
  }
  let test = splits.test;
  if (opts.limit !== undefined) {
    train = limitSplit(train, opts.limit, modalities);
    val = limitSplit(val, opts.limit, modalities);
    test = limitSplit(test, opts.limit, modalities);
  }
  for (const [s, split] of [["train", train], ["val", val], ["test", test]] as const) {
    if (split.n === 0) {
      throw new AmssArgumentError(
        `${sources[s] ?? name}: the ${s} split has no usable samples; expected at least 1`,
      );
    }
    validateSplit(`${name}.${s}`, split, modalities, classes.length);
  }
  return { name, modalities, classes, train, val, test, valSource, meta };
}

/** A lazy split from parallel lists of items and labels. */
export function lazySplit(
  loader: string,
  items: unknown[],
  labels: number[],
  options: Record<string, unknown>,
): LazySplit {
  return { n: items.length, labels: Int32Array.from(labels), loader, items, options };
}
