/**
 * The schema of `--method-options`: every field of `MethodOptions` (src/rebalance/registry.ts), its
 * type and range, and the methods that read it. The bench checks a user's JSON against it before
 * anything runs: an unknown field, a value of the wrong type or out of range, or a field that no
 * selected method reads is a usage error naming the field and listing the known ones.
 *
 * @module
 */
import {
  type Field,
  METHOD_NAMES,
  METHOD_OPTIONS_SCHEMA,
  type MethodName,
  type MethodOptions,
  METHODS,
} from "../src/train/methods.ts";
import { checkField } from "../src/rebalance/schema.ts";
import { UsageError } from "./cli.ts";

interface OptionSpec {
  field: Field;
  /** Methods that read the option. */
  methods: readonly MethodName[];
  /** When set, the option is not for `--method-options`: this says where it is set instead. */
  setBy?: string;
}

/** Options that the bench sets by another flag. */
const SET_BY: Partial<Record<keyof MethodOptions, string>> = {
  modality: "--methods unimodal:NAME",
};

/**
 * Every field of `MethodOptions`, with its type and the methods that read it: derived from the
 * method registry (each method's own option schema).
 */
export const METHOD_OPTION_SCHEMA: Record<keyof MethodOptions, OptionSpec> = Object.fromEntries(
  (Object.entries(METHOD_OPTIONS_SCHEMA) as [keyof MethodOptions, Field][]).map(([k, field]) => [
    k,
    {
      field,
      methods: METHOD_NAMES.filter((m) => Object.hasOwn(METHODS[m].schema, k)),
      ...(SET_BY[k] ? { setBy: SET_BY[k] } : {}),
    },
  ]),
) as unknown as Record<keyof MethodOptions, OptionSpec>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

const usage = (message: string, hint: string) =>
  new UsageError(`--method-options: ${message}`, hint);

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
    checkField(k, spec.field, x, modalities, usage);
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
