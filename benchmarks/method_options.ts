/**
 * The schema of `--method-options`: every field of `MethodOptions` (src/train/methods.ts), its
 * type and range, and the methods that read it. The bench checks a user's JSON against it before
 * anything runs: an unknown field, a value of the wrong type or out of range, or a field that no
 * selected method reads is a usage error naming the field and listing the known ones.
 *
 * @module
 */
import type { MethodName, MethodOptions } from "../src/train/methods.ts";
import { UsageError } from "./cli.ts";

/** The type of one option field. */
type Field =
  | { kind: "number"; min: number; max: number; minOpen?: boolean; maxOpen?: boolean }
  | { kind: "int"; min: number; max: number }
  | { kind: "boolean" }
  | { kind: "enum"; values: readonly string[] }
  /** An object keyed by modality name, each value a number in the range. */
  | { kind: "per-modality"; min: number; max: number }
  | { kind: "object"; fields: Record<string, Field> };

interface OptionSpec {
  field: Field;
  /** Methods that read the option. */
  methods: readonly MethodName[];
  /** When set, the option is not for `--method-options`: this says where it is set instead. */
  setBy?: string;
}

const AMSS_FAMILY = ["amss", "amss+", "random-mask"] as const;

/** Every field of `MethodOptions`, with its type and the methods that read it. */
export const METHOD_OPTION_SCHEMA: Record<keyof MethodOptions, OptionSpec> = {
  modality: {
    field: { kind: "enum", values: [] },
    methods: ["unimodal"],
    setBy: "--methods unimodal:NAME",
  },
  significance: { field: { kind: "enum", values: ["paper", "reference"] }, methods: AMSS_FAMILY },
  tau: { field: { kind: "number", min: 0, max: 100, minOpen: true }, methods: AMSS_FAMILY },
  lambda: { field: { kind: "number", min: 0, max: 1, maxOpen: true }, methods: AMSS_FAMILY },
  scale: {
    field: { kind: "enum", values: ["none", "paper", "reference", "horvitz-thompson"] },
    methods: ["amss+", "random-mask"],
  },
  sampler: {
    field: { kind: "enum", values: ["adaptive", "uniform", "topk", "systematic"] },
    methods: ["amss", "amss+"],
  },
  units: {
    field: { kind: "enum", values: ["paper", "reference", "neuron"] },
    methods: AMSS_FAMILY,
  },
  defensive: { field: { kind: "number", min: 0, max: 1 }, methods: AMSS_FAMILY },
  importance: { field: { kind: "enum", values: ["gn", "fisher"] }, methods: AMSS_FAMILY },
  normalise: { field: { kind: "enum", values: ["layer", "modality"] }, methods: AMSS_FAMILY },
  minRatio: { field: { kind: "number", min: 0, max: 1 }, methods: AMSS_FAMILY },
  ratios: { field: { kind: "per-modality", min: 0, max: 1 }, methods: AMSS_FAMILY },
  apply: { field: { kind: "enum", values: ["mask", "gain-matched"] }, methods: AMSS_FAMILY },
  maskTarget: {
    field: { kind: "enum", values: ["backbone", "classifier", "both"] },
    methods: AMSS_FAMILY,
  },
  scales: { field: { kind: "per-modality", min: 0, max: 1e6 }, methods: ["global-scale", "mslr"] },
  alpha: { field: { kind: "number", min: -1e6, max: 1e6 }, methods: ["ogm-ge"] },
  noise: { field: { kind: "boolean" }, methods: ["ogm-ge"] },
  pmr: {
    field: {
      kind: "object",
      fields: {
        beta: { kind: "number", min: 0, max: 1e6 },
        mu: { kind: "number", min: 0, max: 1e6 },
        momentum: { kind: "number", min: 0, max: 1, maxOpen: true },
        perEpochs: { kind: "int", min: 0, max: 1e6 },
        fraction: { kind: "number", min: 0, max: 1, minOpen: true },
      },
    },
    methods: ["pmr"],
  },
  agm: {
    field: {
      kind: "object",
      fields: {
        alpha: { kind: "number", min: 0, max: 1e6 },
        cap: { kind: "number", min: 0, max: 1e6, minOpen: true },
      },
    },
    methods: ["agm"],
  },
  greedy: {
    field: {
      kind: "object",
      fields: {
        threshold: { kind: "number", min: 0, max: 1e6 },
        window: { kind: "int", min: 1, max: 1e6 },
        startEpoch: { kind: "int", min: 1, max: 1e6 },
        bypass: { kind: "enum", values: ["auto", "mmtm", "fusion-inputs"] },
      },
    },
    methods: ["greedy"],
  },
  mses: {
    field: {
      kind: "object",
      fields: {
        monitor: { kind: "enum", values: ["acc", "loss"] },
        patience: { kind: "int", min: 1, max: 1e6 },
        minDelta: { kind: "number", min: 0, max: 1e6 },
      },
    },
    methods: ["mses"],
  },
  gblend: {
    field: {
      kind: "object",
      fields: {
        superEpoch: { kind: "int", min: 1, max: 1e6 },
        negative: { kind: "enum", values: ["zero", "abs"] },
        eps: { kind: "number", min: 0, max: 1, minOpen: true },
      },
    },
    methods: ["g-blending"],
  },
};

function describe(f: Field): string {
  const range = (t: { min: number; max: number; minOpen?: boolean; maxOpen?: boolean }) =>
    `${t.minOpen ? "(" : "["}${t.min}, ${t.max}${t.maxOpen ? ")" : "]"}`;
  switch (f.kind) {
    case "number":
      return `a number in ${range(f)}`;
    case "int":
      return `an integer in ${range(f)}`;
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${f.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "per-modality":
      return `an object {modality: number in ${range(f)}}`;
    case "object":
      return `an object with fields ${Object.keys(f.fields).join(", ")}`;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function check(path: string, f: Field, v: unknown, modalities: readonly string[]): void {
  const bad = (): never => {
    throw new UsageError(
      `--method-options: ${path} is ${JSON.stringify(v)}`,
      `expected ${describe(f)}`,
    );
  };
  const inRange = (
    x: number,
    t: { min: number; max: number; minOpen?: boolean; maxOpen?: boolean },
  ) =>
    Number.isFinite(x) && (t.minOpen ? x > t.min : x >= t.min) &&
    (t.maxOpen ? x < t.max : x <= t.max);
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
    case "per-modality": {
      if (!isObject(v)) bad();
      for (const [m, x] of Object.entries(v as Record<string, unknown>)) {
        if (!modalities.includes(m)) {
          throw new UsageError(
            `--method-options: ${path}.${m}: no modality ${JSON.stringify(m)}`,
            `the dataset's modalities are ${modalities.join(", ")}`,
          );
        }
        if (typeof x !== "number" || !inRange(x, f)) {
          throw new UsageError(
            `--method-options: ${path}.${m} is ${JSON.stringify(x)}`,
            `expected ${describe({ kind: "number", min: f.min, max: f.max })}`,
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
          throw new UsageError(
            `--method-options: unknown field ${path}.${k}`,
            `the fields of ${path} are ${Object.keys(f.fields).join(", ")}`,
          );
        }
        check(`${path}.${k}`, sub, x, modalities);
      }
    }
  }
}

/**
 * Parses and checks `--method-options` JSON against {@link METHOD_OPTION_SCHEMA} for the selected
 * methods and the dataset's modalities; throws a {@link UsageError} naming the field.
 */
export function parseMethodOptions(
  json: string,
  selected: readonly MethodName[],
  modalities: readonly string[],
): MethodOptions {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new UsageError(
      `--method-options is not valid JSON: ${(e as Error).message}`,
      `a JSON object such as '{"alpha":0.3}'`,
    );
  }
  if (!isObject(v)) {
    throw new UsageError(
      `--method-options is ${JSON.stringify(v)}`,
      `a JSON object such as '{"alpha":0.3}'`,
    );
  }
  const known = Object.keys(METHOD_OPTION_SCHEMA);
  for (const [k, x] of Object.entries(v)) {
    const spec = METHOD_OPTION_SCHEMA[k as keyof MethodOptions];
    if (!spec) {
      throw new UsageError(
        `--method-options: unknown field ${k}`,
        `known fields: ${known.join(", ")}`,
      );
    }
    if (spec.setBy) {
      throw new UsageError(
        `--method-options: ${k} is not a method option here`,
        `use ${spec.setBy}`,
      );
    }
    if (!spec.methods.some((m) => selected.includes(m))) {
      throw new UsageError(
        `--method-options: ${k} applies to ${spec.methods.join(", ")}, none of which is selected`,
        `selected methods: ${[...new Set(selected)].join(", ")}`,
      );
    }
    check(k, spec.field, x, modalities);
  }
  return v as MethodOptions;
}

/** The fields of `options` that `method` reads (the others are left out of its run). */
export function optionsFor(method: MethodName, options: MethodOptions): MethodOptions {
  return Object.fromEntries(
    Object.entries(options).filter(([k]) =>
      METHOD_OPTION_SCHEMA[k as keyof MethodOptions]?.methods.includes(method)
    ),
  ) as MethodOptions;
}
