/**
 * Dataset configurations of the bench (`benchmarks/configs/<dataset>.json`): the paper's settings
 * per dataset (Appendix C.1 and the authors' reference commands), its reported numbers (Tables 2
 * and 3) and a `smoke` block that shrinks everything for end-to-end checks on the fixtures.
 *
 * @module
 */
import type { Dataset } from "../src/data/dataset.ts";
import type { NpyNormalise } from "../src/data/npy.ts";
import { ENCODER_KINDS, type EncoderKind } from "../src/models/encoders.ts";
import type { ModelSpec } from "../src/models/build.ts";
import { FUSION_KINDS, type FusionKind } from "../src/models/fusion.ts";
import type { PaperFigures } from "./report.ts";
import type { OptimizerConfig } from "../src/train/types.ts";
import { AmssArgumentError } from "../src/validate.ts";

/** One dataset's configuration (see the JSON files beside this module). */
export interface DatasetConfig {
  dataset: string;
  description?: string;
  /** Options passed to the dataset loader (image size, channels, frames, valFraction, ...). */
  loader: Record<string, unknown>;
  /** Encoder per modality name. */
  encoders: Record<string, { kind: EncoderKind; options?: Record<string, unknown> }>;
  fusion: ModelSpec["fusion"];
  optimizer: OptimizerConfig;
  epochs: number;
  batchSize: number;
  tau: number;
  units?: "paper" | "reference" | "neuron";
  /** Default `--methods` list. */
  methods?: string;
  /** Samples per split (smoke runs). */
  limit?: number;
  /** The paper's numbers: rows keyed by the bench's method tag (joint, amss, amss+-reference, ...). */
  paper?: { source: string; rows: Record<string, PaperFigures> };
  /** Overrides applied by `--smoke` (deep-merged). */
  smoke?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** `base` with `patch` merged in: objects recursively, everything else replaced. */
export function deepMerge<T>(base: T, patch: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out as T;
}

/** The JSON object in config file `path`; a missing file, bad JSON or a non-object names the file. */
async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new AmssArgumentError(`config not found: ${path}`);
    throw new AmssArgumentError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new AmssArgumentError(`${path}: a config must be a JSON object`);
  return raw;
}

/** Reads and checks a config; `smoke` applies its smoke block. Errors name the file and field. */
export async function readConfig(path: string, smoke = false): Promise<DatasetConfig> {
  const raw = await readJsonObject(path);
  let cfg = raw as unknown as DatasetConfig;
  if (smoke) {
    if (!isObject(cfg.smoke)) throw new AmssArgumentError(`${path}: --smoke needs a "smoke" block`);
    cfg = deepMerge(cfg, cfg.smoke);
  }
  const need = (field: string, ok: boolean, what: string) => {
    if (!ok) throw new AmssArgumentError(`${path}: "${field}" must be ${what}`);
  };
  need("dataset", typeof cfg.dataset === "string", "a dataset name");
  need("loader", isObject(cfg.loader), "an object");
  need("encoders", isObject(cfg.encoders), "an object {modality: {kind, options}}");
  need("optimizer", isObject(cfg.optimizer), "an object {kind, lr, ...}");
  need("optimizer.kind", ["sgd", "adam"].includes(cfg.optimizer?.kind), `"sgd" or "adam"`);
  need("optimizer.lr", cfg.optimizer?.lr > 0, "a number > 0");
  need("epochs", Number.isInteger(cfg.epochs) && cfg.epochs >= 1, "an integer >= 1");
  need("batchSize", Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1, "an integer >= 1");
  need("tau", cfg.tau > 0, "a number > 0");
  return cfg;
}

/**
 * The model of a config for a loaded dataset: each modality's encoder from `encoders` with the
 * dataset's input shape; a `tokens` modality gets a Transformer with the vocabulary's size.
 */
export function modelFromConfig(ds: Dataset, cfg: DatasetConfig): ModelSpec {
  return {
    modalities: ds.modalities.map((m) => {
      const e = cfg.encoders[m.name];
      if (!e) {
        throw new AmssArgumentError(
          `config for ${cfg.dataset}: no encoder for modality ${m.name} (encoders: ${
            Object.keys(cfg.encoders).join(", ")
          })`,
        );
      }
      const options = { ...(e.options ?? {}) };
      if (m.kind === "tokens") {
        if (e.kind !== "transformer") {
          throw new AmssArgumentError(`modality ${m.name} holds token ids: use a transformer`);
        }
        options.vocabSize = ds.meta.vocabSize;
        // padId defaults to 0 ([PAD] in BERT's vocabulary); the spec takes ids >= 1 only when set
        if (typeof ds.meta.padId === "number" && ds.meta.padId !== 0) options.padId = ds.meta.padId;
      }
      return { name: m.name, kind: e.kind, input: m.shape, options };
    }),
    fusion: cfg.fusion,
    numClasses: ds.classes.length,
  };
}

/**
 * A config for `--dataset npy` (your own data in the generic layout) or an embedded dataset
 * (`synthetic`, `mnist-2view`): every field optional.
 */
export interface NpyConfig {
  /** The dataset's name when given ("npy", "synthetic" or "mnist-2view"). */
  dataset?: string;
  description?: string;
  /**
   * Encoder per modality (others keep the bench's default for their input rank). An `mlp` on an
   * image modality reads it flattened; options merge over the default encoder's when the kind is
   * the same (e.g. `{"kind": "resnet18", "options": {"widths": [16, 32, 64, 128]}}`).
   */
  encoders?: Record<string, { kind: EncoderKind; options?: Record<string, unknown> }>;
  fusion?: ModelSpec["fusion"];
  /** Merged over the default SGD (lr 0.01, momentum 0.9, weight decay 1e-4); `--lr` wins. */
  optimizer?: Partial<OptimizerConfig>;
  epochs?: number;
  batchSize?: number;
  tau?: number;
  units?: "paper" | "reference" | "neuron";
  methods?: string;
  /** npy only: input scaling of the arrays (src/data/npy.ts); `--normalise` wins. */
  normalise?: NpyNormalise;
  /** npy only: fraction of train held out for validation without a `val/` folder (default 0.1). */
  valFraction?: number;
}

const NPY_FIELDS: Record<keyof NpyConfig, string> = {
  dataset: "the dataset's name",
  description: "a string",
  encoders: "an object {modality: {kind, options}}",
  fusion: `one of ${FUSION_KINDS.join(", ")}`,
  optimizer: "an object {kind, lr, momentum, weightDecay, milestones, gamma}",
  epochs: "an integer >= 1",
  batchSize: "an integer >= 1",
  tau: "a number > 0",
  units: '"paper", "reference" or "neuron"',
  methods: "a --methods list",
  normalise: '"auto", "standardise" or "none"',
  valFraction: "a number in (0, 1)",
};

/**
 * Reads and checks a config for `dataset` (npy or an embedded one); errors name the file and the
 * field.
 */
export async function readNpyConfig(path: string, dataset = "npy"): Promise<NpyConfig> {
  const raw = await readJsonObject(path);
  for (const k of Object.keys(raw)) {
    if (!(k in NPY_FIELDS)) {
      throw new AmssArgumentError(
        `${path}: unknown field "${k}" (a --dataset ${dataset} config has ${
          Object.keys(NPY_FIELDS).join(", ")
        })`,
      );
    }
  }
  const cfg = raw as NpyConfig;
  const need = (field: keyof NpyConfig | string, ok: boolean, what?: string) => {
    if (!ok) {
      throw new AmssArgumentError(
        `${path}: "${field}" must be ${what ?? NPY_FIELDS[field as keyof NpyConfig]}`,
      );
    }
  };
  const has = (k: keyof NpyConfig) => cfg[k] !== undefined;
  const int1 = (x: unknown) => Number.isInteger(x) && (x as number) >= 1;
  const pos = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x > 0;
  if (has("dataset")) need("dataset", cfg.dataset === dataset, JSON.stringify(dataset));
  for (const k of ["normalise", "valFraction"] as const) {
    if (has(k) && dataset !== "npy") {
      throw new AmssArgumentError(
        `${path}: "${k}" applies to --dataset npy (${dataset} makes its own inputs and splits)`,
      );
    }
  }
  if (has("description")) need("description", typeof cfg.description === "string");
  if (has("fusion")) need("fusion", FUSION_KINDS.includes(cfg.fusion as FusionKind));
  if (has("epochs")) need("epochs", int1(cfg.epochs));
  if (has("batchSize")) need("batchSize", int1(cfg.batchSize));
  if (has("tau")) need("tau", pos(cfg.tau));
  if (has("units")) need("units", ["paper", "reference", "neuron"].includes(cfg.units as string));
  if (has("methods")) need("methods", typeof cfg.methods === "string" && cfg.methods !== "");
  if (has("normalise")) {
    need("normalise", ["auto", "standardise", "none"].includes(cfg.normalise as string));
  }
  if (has("valFraction")) {
    need("valFraction", pos(cfg.valFraction) && (cfg.valFraction as number) < 1);
  }
  if (has("encoders")) {
    need("encoders", isObject(cfg.encoders));
    for (const [m, e] of Object.entries(cfg.encoders!)) {
      need(`encoders.${m}`, isObject(e), "an object {kind, options}");
      need(
        `encoders.${m}.kind`,
        ENCODER_KINDS.includes(e.kind),
        `one of ${ENCODER_KINDS.join(", ")}`,
      );
      if (e.options !== undefined) need(`encoders.${m}.options`, isObject(e.options), "an object");
    }
  }
  if (has("optimizer")) {
    const o = cfg.optimizer!;
    need("optimizer", isObject(o));
    const known = ["kind", "lr", "momentum", "weightDecay", "milestones", "gamma"];
    for (const k of Object.keys(o)) {
      need(`optimizer.${k}`, known.includes(k), `one of the fields ${known.join(", ")}`);
    }
    if (o.kind !== undefined) {
      need(
        "optimizer.kind",
        ["sgd", "adam", "adagrad"].includes(o.kind),
        '"sgd", "adam" or "adagrad"',
      );
    }
    if (o.lr !== undefined) need("optimizer.lr", pos(o.lr), "a number > 0");
    for (const k of ["momentum", "weightDecay"] as const) {
      const v = o[k];
      if (v !== undefined) {
        need(
          `optimizer.${k}`,
          typeof v === "number" && v >= 0 && Number.isFinite(v),
          "a number >= 0",
        );
      }
    }
    if (o.milestones !== undefined) {
      need(
        "optimizer.milestones",
        Array.isArray(o.milestones) && o.milestones.every(int1),
        "a list of epochs (integers >= 1)",
      );
    }
    if (o.gamma !== undefined) need("optimizer.gamma", pos(o.gamma), "a number > 0");
  }
  return cfg;
}

/**
 * The model of a `--dataset npy` config: `base` (the bench's default for the dataset) with each
 * configured modality's encoder and the configured fusion.
 */
export function modelFromNpyConfig(ds: Dataset, base: ModelSpec, cfg: NpyConfig): ModelSpec {
  const names = ds.modalities.map((m) => m.name);
  for (const m of Object.keys(cfg.encoders ?? {})) {
    if (!names.includes(m)) {
      throw new AmssArgumentError(
        `config encoders.${m}: no modality ${JSON.stringify(m)} (the dataset's modalities are ${
          names.join(", ")
        })`,
      );
    }
  }
  return {
    ...base,
    modalities: base.modalities.map((b) => {
      const e = cfg.encoders?.[b.name];
      if (!e) return b;
      const options = { ...(e.kind === b.kind ? b.options ?? {} : {}), ...(e.options ?? {}) };
      return { ...b, kind: e.kind, options };
    }),
    fusion: cfg.fusion ?? base.fusion,
  };
}
