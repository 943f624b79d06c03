/**
 * Dataset configurations of the bench (`benchmarks/configs/<dataset>.json`): the paper's settings
 * per dataset (Appendix C.1 and the authors' reference commands), its reported numbers (Tables 2
 * and 3) and a `smoke` block that shrinks everything for end-to-end checks on the fixtures.
 *
 * @module
 */
import type { Dataset } from "../src/data/dataset.ts";
import type { EncoderKind } from "../src/models/encoders.ts";
import type { ModelSpec } from "../src/models/build.ts";
import type { PaperFigures } from "./report.ts";
import type { OptimizerConfig } from "../src/train/trainer.ts";
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

/** Reads and checks a config; `smoke` applies its smoke block. Errors name the file and field. */
export async function readConfig(path: string, smoke = false): Promise<DatasetConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new AmssArgumentError(`config not found: ${path}`);
    throw new AmssArgumentError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new AmssArgumentError(`${path}: a config must be a JSON object`);
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
