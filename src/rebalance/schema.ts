/**
 * Option schemas of the rebalancing methods: each method module states the type and range of every
 * option it reads ({@link OptionsSchema}), the registry (./registry.ts) collects them, and
 * {@link checkField} checks a plain-data value against one field (the bench's `--method-options`
 * check uses it, with its own error type).
 *
 * @module
 */

/** A number range; `minOpen`/`maxOpen` exclude the bound. */
export interface Range {
  /** Lower bound. */
  min: number;
  /** Upper bound. */
  max: number;
  /** Exclude `min`. */
  minOpen?: boolean;
  /** Exclude `max`. */
  maxOpen?: boolean;
}

/** The type of one option field. */
export type Field =
  | ({ kind: "number" } & Range)
  | { kind: "int"; min: number; max: number }
  | { kind: "boolean" }
  | { kind: "enum"; values: readonly string[] }
  /** The name of one of the model's modalities. */
  | { kind: "modality" }
  /** An object keyed by modality name, each value a number in the range. */
  | { kind: "per-modality"; min: number; max: number }
  | { kind: "object"; fields: Record<string, Field> };

/** The schema of a method's options: one {@link Field} per option. */
export type OptionsSchema<T> = { readonly [K in keyof Required<T>]: Field };

/** The values of a method's options that it uses when an option is absent. */
export type OptionDefaults<T> = { readonly [K in keyof T]?: Exclude<T[K], undefined> };

/** Makes the error {@link checkField} throws: what is wrong, and what was expected. */
export type FieldError = (message: string, hint: string) => Error;

/** Describes what a field accepts, e.g. `a number in (0, 100]`. */
export function describeField(f: Field): string {
  const range = (t: Range) => `${t.minOpen ? "(" : "["}${t.min}, ${t.max}${t.maxOpen ? ")" : "]"}`;
  switch (f.kind) {
    case "number":
      return `a number in ${range(f)}`;
    case "int":
      return `an integer in ${range(f)}`;
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${f.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "modality":
      return "a modality name";
    case "per-modality":
      return `an object {modality: number in ${range(f)}}`;
    case "object":
      return `an object with fields ${Object.keys(f.fields).join(", ")}`;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

const inRange = (x: number, t: Range) =>
  Number.isFinite(x) && (t.minOpen ? x > t.min : x >= t.min) &&
  (t.maxOpen ? x < t.max : x <= t.max);

/**
 * Checks the value `v` of the option at `path` against `f` (modality-keyed fields against
 * `modalities`); throws `error(message, hint)` naming the field.
 */
export function checkField(
  path: string,
  f: Field,
  v: unknown,
  modalities: readonly string[],
  error: FieldError,
): void {
  const bad = (): never => {
    throw error(`${path} is ${JSON.stringify(v)}`, `expected ${describeField(f)}`);
  };
  switch (f.kind) {
    case "number":
      if (typeof v !== "number" || !inRange(v, f)) bad();
      return;
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v) || !inRange(v, f)) bad();
      return;
    case "boolean":
      if (typeof v !== "boolean") bad();
      return;
    case "enum":
      if (typeof v !== "string" || !f.values.includes(v)) bad();
      return;
    case "modality":
      if (typeof v !== "string" || !modalities.includes(v)) bad();
      return;
    case "per-modality": {
      if (!isObject(v)) bad();
      for (const [m, x] of Object.entries(v as Record<string, unknown>)) {
        if (!modalities.includes(m)) {
          throw error(
            `${path}.${m}: no modality ${JSON.stringify(m)}`,
            `the dataset's modalities are ${modalities.join(", ")}`,
          );
        }
        if (typeof x !== "number" || !inRange(x, f)) {
          throw error(
            `${path}.${m} is ${JSON.stringify(x)}`,
            `expected ${describeField({ kind: "number", min: f.min, max: f.max })}`,
          );
        }
      }
      return;
    }
    case "object": {
      if (!isObject(v)) bad();
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const sub = f.fields[k];
        if (!sub) {
          throw error(
            `unknown field ${path}.${k}`,
            `the fields of ${path} are ${Object.keys(f.fields).join(", ")}`,
          );
        }
        checkField(`${path}.${k}`, sub, x, modalities, error);
      }
    }
  }
}
