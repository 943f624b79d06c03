/**
 * `buildModel(spec)`: a {@link Model} from a plain JSON spec, with errors that name the bad field.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { buildModel } from "@amss-ts/amss/models";
 * const widths = [16, 32, 64, 128];
 * const model = buildModel({
 *   modalities: [
 *     { name: "audio", kind: "resnet18", input: [128, 128, 1], options: { widths } },
 *     { name: "visual", kind: "resnet18", input: [3, 112, 112, 1], options: { widths } },
 *   ],
 *   fusion: { kind: "concat", unimodalBias: "half" },
 *   numClasses: 31,
 * });
 * // the paper's "Channel" and "ML-LSTM" fusions:
 * //   fusion: { kind: "mmtm", stages: [2, 3, 4], ratio: 4 }
 * //   fusion: { kind: "ml-lstm", layers: 2, hidden: 128 }
 * assert(model.describe().numClasses === 31 && model.modalities.join() === "audio,visual");
 * ```
 *
 * @module
 */
import { AmssArgumentError } from "../validate.ts";
import {
  type Encoder,
  ENCODER_KINDS,
  type EncoderKind,
  mlpEncoder,
  type MlpOptions,
  resnet18Encoder,
  type ResNet18Options,
  transformerEncoder,
  type TransformerOptions,
} from "./encoders.ts";
import {
  createFusion,
  FUSION_SPEC_KINDS_TEXT,
  type FusionKind,
  type FusionSpec,
} from "./fusion.ts";
import { createModel, type Model } from "./model.ts";

/**
 * One modality of a {@link ModelSpec}: its name, encoder and input shape. (Distinct from the
 * dataset's `ModalitySpec` in `src/data/dataset.ts`, which describes a modality's sample arrays.)
 */
export interface ModalityEncoderSpec {
  /** Parameter-name prefix: letters, digits, `_`, `-`, `.`; not `fusion`. */
  name: string;
  /** Encoder architecture. */
  kind: EncoderKind;
  /**
   * Shape of one sample: resnet18 `[H, W, C]` (spectrogram/image) or `[T, H, W, C]` (frames);
   * mlp `[D]`; transformer `[L, D]`.
   */
  input: number[];
  /** Encoder options ({@link ResNet18Options}, {@link MlpOptions}, {@link TransformerOptions}). */
  options?: ResNet18Options | MlpOptions | TransformerOptions;
}

/** @deprecated Renamed {@link ModalityEncoderSpec} (the dataset has its own `ModalitySpec`). */
export type ModalitySpec = ModalityEncoderSpec;

/** A model spec (plain JSON). */
export interface ModelSpec {
  /**
   * One entry per modality. AMSS needs K >= 2; K = 1 is accepted (except for film and mmtm) so
   * the paper's uni-modal baselines use the same builder. mmtm needs resnet18 encoders only.
   */
  modalities: ModalityEncoderSpec[];
  /** A fusion kind or a full {@link FusionSpec}. */
  fusion: FusionKind | "affine" | FusionSpec;
  /** Number of classes C >= 2. */
  numClasses: number;
}

/** A {@link ModelSpec} that does not describe a model; the message names the field. */
export class ModelSpecError extends AmssArgumentError {
  /** An error whose message starts with the field's path (`spec.modalities[1].input ...`). */
  constructor(message: string) {
    super(message);
    this.name = "ModelSpecError";
  }
}

const ENCODER_OPTIONS: Record<EncoderKind, Record<string, "int" | "ints" | "number" | "bool">> = {
  resnet18: { widths: "ints", bnEps: "number", bnMomentum: "number" },
  mlp: { hidden: "ints" },
  transformer: {
    dModel: "int",
    heads: "int",
    headDim: "int",
    layers: "int",
    ffDim: "int",
    lnEps: "number",
    positional: "bool",
    vocabSize: "int",
    padId: "int",
  },
};

const INPUT_RANKS: Record<EncoderKind, { ranks: number[]; doc: string }> = {
  resnet18: { ranks: [3, 4], doc: "[H, W, C] or [T, H, W, C]" },
  mlp: { ranks: [1], doc: "[D]" },
  transformer: { ranks: [1, 2], doc: "[L, D], or [L] token ids with options.vocabSize" },
};

/**
 * Fusion options by kind: an enum (array), a modality name ("string"), a finite number
 * ("number"), a number > 0 ("positive"), an integer >= 1 ("int"), or distinct ResNet18 stages
 * 1..4 ("stages").
 */
type FusionFieldType = readonly string[] | "string" | "number" | "positive" | "int" | "stages";

const FUSION_FIELDS: Record<FusionKind, Record<string, FusionFieldType>> = {
  concat: { unimodalBias: ["full", "half", "1/K"] },
  film: {
    unimodalBias: ["full", "half", "1/K"],
    target: "string",
    gammaOffset: "number",
  },
  sum: {},
  late: { combine: ["mean", "sum", "prob-mean"] },
  weight: { attention: ["global", "features"] },
  mmtm: { stages: "stages", ratio: "positive", unimodalBias: ["full", "half", "1/K"] },
  "ml-lstm": { layers: "int", hidden: "int" },
};

const json = (v: unknown) => JSON.stringify(v);
const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function checkOptions(where: string, kind: EncoderKind, options: unknown): void {
  if (options === undefined) return;
  if (!isObject(options)) {
    throw new ModelSpecError(`${where} must be an object, got ${json(options)}`);
  }
  const allowed = ENCODER_OPTIONS[kind];
  for (const [key, value] of Object.entries(options)) {
    const type = allowed[key];
    const field = `${where}.${key}`;
    if (!type) {
      throw new ModelSpecError(
        `${field} is not an option of ${kind} (options: ${Object.keys(allowed).join(", ")})`,
      );
    }
    const bad = (what: string) =>
      new ModelSpecError(`${field} must be ${what}, got ${json(value)}`);
    if (type === "int" && !isPosInt(value)) throw bad("a positive integer");
    if (type === "number" && !(typeof value === "number" && Number.isFinite(value) && value > 0)) {
      throw bad("a finite number > 0");
    }
    if (type === "bool" && typeof value !== "boolean") throw bad("true or false");
    if (type === "ints" && !(Array.isArray(value) && value.length > 0 && value.every(isPosInt))) {
      throw bad("a non-empty array of positive integers");
    }
  }
  const o = options as Record<string, unknown>;
  if (kind === "resnet18" && o.widths !== undefined && (o.widths as number[]).length !== 4) {
    throw new ModelSpecError(
      `${where}.widths must have 4 entries (layer1..layer4), got ${json(o.widths)}`,
    );
  }
  if (kind === "resnet18" && o.bnMomentum !== undefined && (o.bnMomentum as number) > 1) {
    throw new ModelSpecError(`${where}.bnMomentum must be in (0, 1], got ${json(o.bnMomentum)}`);
  }
  if (kind === "transformer" && o.headDim === undefined) {
    const d = (o.dModel as number | undefined) ?? 64;
    const h = (o.heads as number | undefined) ?? 4;
    if (d % h !== 0) {
      throw new ModelSpecError(
        `${where}: dModel ${d} is not divisible by heads ${h}; set ${where}.headDim`,
      );
    }
  }
}

function checkModality(m: unknown, i: number, seen: Set<string>): ModalityEncoderSpec {
  const where = `spec.modalities[${i}]`;
  if (!isObject(m)) throw new ModelSpecError(`${where} must be an object, got ${json(m)}`);
  for (const key of Object.keys(m)) {
    if (!["name", "kind", "input", "options"].includes(key)) {
      throw new ModelSpecError(
        `${where}.${key} is not a field (fields: name, kind, input, options)`,
      );
    }
  }
  if (typeof m.name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(m.name)) {
    throw new ModelSpecError(
      `${where}.name must be a non-empty string of letters, digits, "_", "-", ".", got ${
        json(m.name)
      }`,
    );
  }
  if (m.name === "fusion") {
    throw new ModelSpecError(
      `${where}.name must not be "fusion" (reserved for shared fusion parameters)`,
    );
  }
  if (seen.has(m.name)) throw new ModelSpecError(`${where}.name ${json(m.name)} is used twice`);
  seen.add(m.name);
  if (typeof m.kind !== "string" || !(m.kind in INPUT_RANKS)) {
    throw new ModelSpecError(
      `${where}.kind must be one of ${ENCODER_KINDS.map(json).join(", ")}, got ${json(m.kind)}`,
    );
  }
  const kind = m.kind as EncoderKind;
  const { ranks, doc } = INPUT_RANKS[kind];
  if (!Array.isArray(m.input) || !m.input.every(isPosInt) || !ranks.includes(m.input.length)) {
    throw new ModelSpecError(
      `${where}.input must be ${doc} of positive integers for kind ${json(kind)}, got ${
        json(m.input)
      }`,
    );
  }
  checkOptions(`${where}.options`, kind, m.options);
  return m as unknown as ModalityEncoderSpec;
}

function checkFusion(fusion: unknown, mods: ModalityEncoderSpec[]): FusionSpec {
  const names = mods.map((m) => m.name);
  const spec: unknown = typeof fusion === "string" ? { kind: fusion } : fusion;
  if (!isObject(spec)) {
    throw new ModelSpecError(`spec.fusion must be a fusion kind or an object, got ${json(fusion)}`);
  }
  const kind = spec.kind === "affine" ? "film" : spec.kind;
  if (typeof kind !== "string" || !(kind in FUSION_FIELDS)) {
    throw new ModelSpecError(
      `spec.fusion.kind must be one of ${FUSION_SPEC_KINDS_TEXT}, got ${json(spec.kind)}`,
    );
  }
  const fields = FUSION_FIELDS[kind as FusionKind];
  for (const [key, value] of Object.entries(spec)) {
    if (key === "kind") continue;
    const type = fields[key];
    const field = `spec.fusion.${key}`;
    if (!type) {
      const known = Object.keys(fields);
      throw new ModelSpecError(
        `${field} does not apply to ${kind} fusion${
          known.length ? ` (options: ${known.join(", ")})` : ""
        }`,
      );
    }
    if (Array.isArray(type) && !type.includes(value as string)) {
      throw new ModelSpecError(
        `${field} must be one of ${type.map(json).join(", ")}, got ${json(value)}`,
      );
    }
    if (type === "number" && !(typeof value === "number" && Number.isFinite(value))) {
      throw new ModelSpecError(`${field} must be a finite number, got ${json(value)}`);
    }
    if (type === "string" && !names.includes(value as string)) {
      throw new ModelSpecError(
        `${field} must be one of the modalities ${names.map(json).join(", ")}, got ${json(value)}`,
      );
    }
    if (
      type === "positive" && !(typeof value === "number" && Number.isFinite(value) && value > 0)
    ) {
      throw new ModelSpecError(`${field} must be a finite number > 0, got ${json(value)}`);
    }
    if (type === "int" && !isPosInt(value)) {
      throw new ModelSpecError(`${field} must be a positive integer, got ${json(value)}`);
    }
    if (
      type === "stages" &&
      !(Array.isArray(value) && value.length > 0 && new Set(value).size === value.length &&
        value.every((s) => Number.isInteger(s) && s >= 1 && s <= 4))
    ) {
      throw new ModelSpecError(
        `${field} must be a non-empty array of distinct ResNet18 stages 1..4 (an MMTM after ` +
          `layer<s>), got ${json(value)}`,
      );
    }
  }
  if ((kind === "film" || kind === "mmtm") && names.length < 2) {
    throw new ModelSpecError(
      `spec.fusion: ${kind} fusion needs at least 2 modalities, got ${names.length}`,
    );
  }
  if (kind === "mmtm") {
    // MMTM recalibrates CNN channels between stages (Joze et al. 2020); the paper also finds
    // "Channel" unsuited to the Transformer (Sec. 4.2)
    const i = mods.findIndex((m) => m.kind !== "resnet18");
    if (i >= 0) {
      throw new ModelSpecError(
        `spec.modalities[${i}].kind: mmtm fusion needs resnet18 (CNN) encoders for every ` +
          `modality, but ${json(mods[i].name)} is ${json(mods[i].kind)}`,
      );
    }
  }
  return { ...spec, kind } as FusionSpec;
}

/** Builds a {@link Model} from a plain JSON spec; throws {@link ModelSpecError} naming the bad field. */
export function buildModel(spec: ModelSpec): Model {
  if (!isObject(spec)) throw new ModelSpecError(`spec must be an object, got ${json(spec)}`);
  for (const key of Object.keys(spec)) {
    if (!["modalities", "fusion", "numClasses"].includes(key)) {
      throw new ModelSpecError(
        `spec.${key} is not a field (fields: modalities, fusion, numClasses)`,
      );
    }
  }
  if (!Number.isInteger(spec.numClasses) || spec.numClasses < 2) {
    throw new ModelSpecError(
      `spec.numClasses must be an integer >= 2, got ${json(spec.numClasses)}`,
    );
  }
  if (!Array.isArray(spec.modalities) || spec.modalities.length === 0) {
    throw new ModelSpecError(
      `spec.modalities must be a non-empty array, got ${json(spec.modalities)}`,
    );
  }
  const seen = new Set<string>();
  const mods = spec.modalities.map((m, i) => checkModality(m, i, seen));
  const fusion = checkFusion(spec.fusion, mods);
  const encoders: Encoder[] = mods.map((m) => {
    switch (m.kind) {
      case "resnet18":
        return resnet18Encoder(m.name, m.input, m.options as ResNet18Options);
      case "mlp":
        return mlpEncoder(m.name, m.input, m.options as MlpOptions);
      case "transformer":
        return transformerEncoder(m.name, m.input, m.options as TransformerOptions);
    }
  });
  return createModel(
    encoders,
    createFusion(
      fusion,
      encoders.map((e) => e.modality),
      encoders.map((e) => e.dim),
      spec.numClasses,
      encoders,
    ),
    spec.numClasses,
  );
}
