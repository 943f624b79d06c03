/**
 * Every rebalancing method behind one registry: {@link METHODS} maps a method name to its
 * constructor, the schema of the options it reads and their defaults, so that the trainer (and the
 * bench's `--method-options` check) has no per-method branches. A method says which logits the
 * default loss uses and which gradient transformation stands before the optimizer, and may replace
 * the loss (PMR, G-Blending), act per epoch (PMR's prototypes, MSES, G-Blending) and keep
 * checkpointed state (see ./base.ts for the interface). The trainer passes every transformation the
 * same per-step extras (`{ batch, fused, epoch }`: labels, uni-modal logits, features, fused
 * logits).
 *
 * One module per method family, each with the paper, the formula and every choice the paper leaves
 * open in its header: ./baselines.ts (joint, unimodal), ./amss.ts (amss, amss+, random-mask),
 * ./scaling.ts (global-scale, mslr, ogm-ge), ./pmr.ts, ./agm.ts, ./greedy.ts, ./mses.ts,
 * ./gblend.ts.
 *
 * @module
 */
import { AmssArgumentError } from "../validate.ts";
import { AGM_DEFAULTS, AGM_SCHEMA, type AgmOptions, createAgm } from "./agm.ts";
import {
  AMSS_DEFAULTS,
  AMSS_FAMILY_SCHEMA,
  type AmssFamilyOptions,
  amssSchemaWithout,
  createAmssFamily,
} from "./amss.ts";
import { createJoint, createUnimodal, UNIMODAL_SCHEMA, type UnimodalOptions } from "./baselines.ts";
import { type Method, METHOD_NAMES, type MethodContext, type MethodName } from "./base.ts";
import { createGBlend, GBLEND_DEFAULTS, GBLEND_SCHEMA, type GBlendOptions } from "./gblend.ts";
import { createGreedy, GREEDY_DEFAULTS, GREEDY_SCHEMA, type GreedyOptions } from "./greedy.ts";
import { createMses, MSES_DEFAULTS, MSES_SCHEMA, type MsesOptions } from "./mses.ts";
import { createPmr, PMR_DEFAULTS, PMR_SCHEMA, type PmrOptions } from "./pmr.ts";
import {
  createOgmGe,
  createScaling,
  OGM_GE_DEFAULTS,
  OGM_GE_SCHEMA,
  type OgmGeOptions,
  SCALING_SCHEMA,
  type ScalingOptions,
} from "./scaling.ts";
import type { Field, OptionDefaults, OptionsSchema } from "./schema.ts";

export { METHOD_NAMES, sumCrossEntropy, variablesByModality } from "./base.ts";
export type {
  EpochEndInfo,
  EpochStartInfo,
  EvalMetrics,
  FeatureVisitor,
  LossContext,
  Method,
  MethodContext,
  MethodName,
} from "./base.ts";
export { ENTROPY_FLOOR, SIGNIFICANCE_DEFAULTS } from "./amss.ts";
export type { AmssFamilyOptions, UnimodalOptions };
export type { AgmOptions, GBlendOptions, GreedyOptions, MsesOptions, OgmGeOptions, PmrOptions };
export type { ScalingOptions };
export type { Field, OptionDefaults, OptionsSchema, Range } from "./schema.ts";

/** Options of every method (each method reads the ones its registry entry's schema lists). */
export interface MethodOptions
  extends UnimodalOptions, AmssFamilyOptions, ScalingOptions, OgmGeOptions {
  /** pmr: Prototypical Modal Rebalance (./pmr.ts). */
  pmr?: PmrOptions;
  /** agm: Adaptive Gradient Modulation (./agm.ts). */
  agm?: AgmOptions;
  /** greedy: balanced multi-modal learning of Wu et al. (./greedy.ts). */
  greedy?: GreedyOptions;
  /** mses: modality-specific early stopping (./mses.ts). */
  mses?: MsesOptions;
  /** g-blending: Gradient Blending (./gblend.ts). */
  gblend?: GBlendOptions;
}

/** One registry entry: how to build the method, the options it reads, and their defaults. */
export interface MethodEntry {
  /** Builds the method from the options (it reads only those in `schema`). */
  create(opts: MethodOptions, ctx: MethodContext): Method;
  /** The options the method reads, with their types and ranges. */
  schema: Partial<OptionsSchema<MethodOptions>>;
  /** What the method uses for an absent option. */
  defaults: OptionDefaults<MethodOptions>;
}

const object = (fields: Record<string, Field>): Field => ({ kind: "object", fields });

/** Every field of {@link MethodOptions} with its type, in the order of the method families. */
export const METHOD_OPTIONS_SCHEMA: OptionsSchema<MethodOptions> = {
  ...UNIMODAL_SCHEMA,
  ...AMSS_FAMILY_SCHEMA,
  ...SCALING_SCHEMA,
  ...OGM_GE_SCHEMA,
  pmr: object(PMR_SCHEMA),
  agm: object(AGM_SCHEMA),
  greedy: object(GREEDY_SCHEMA),
  mses: object(MSES_SCHEMA),
  gblend: object(GBLEND_SCHEMA),
};

const { scale: _scale, ...AMSS_PLAIN_DEFAULTS } = AMSS_DEFAULTS;
const { sampler: _sampler, ...RANDOM_MASK_DEFAULTS } = AMSS_DEFAULTS;

/** The rebalancing methods by name. */
export const METHODS: Readonly<Record<MethodName, MethodEntry>> = Object.freeze({
  joint: { create: () => createJoint(), schema: {}, defaults: {} },
  unimodal: { create: createUnimodal, schema: UNIMODAL_SCHEMA, defaults: {} },
  amss: {
    create: (o, c) => createAmssFamily("amss", o, c),
    schema: amssSchemaWithout("scale"),
    defaults: AMSS_PLAIN_DEFAULTS,
  },
  "amss+": {
    create: (o, c) => createAmssFamily("amss+", o, c),
    schema: AMSS_FAMILY_SCHEMA,
    defaults: AMSS_DEFAULTS,
  },
  "random-mask": {
    create: (o, c) => createAmssFamily("random-mask", o, c),
    schema: amssSchemaWithout("sampler"),
    defaults: RANDOM_MASK_DEFAULTS,
  },
  "global-scale": {
    create: (o, c) => createScaling("global-scale", o, c),
    schema: SCALING_SCHEMA,
    defaults: {},
  },
  "ogm-ge": { create: createOgmGe, schema: OGM_GE_SCHEMA, defaults: OGM_GE_DEFAULTS },
  mslr: { create: (o, c) => createScaling("mslr", o, c), schema: SCALING_SCHEMA, defaults: {} },
  pmr: {
    create: (o, c) => createPmr(o.pmr ?? {}, c),
    schema: { pmr: METHOD_OPTIONS_SCHEMA.pmr },
    defaults: { pmr: PMR_DEFAULTS },
  },
  agm: {
    create: (o, c) => createAgm(o.agm ?? {}, c),
    schema: { agm: METHOD_OPTIONS_SCHEMA.agm },
    defaults: { agm: AGM_DEFAULTS },
  },
  greedy: {
    create: (o, c) => createGreedy(o.greedy ?? {}, c),
    schema: { greedy: METHOD_OPTIONS_SCHEMA.greedy },
    defaults: { greedy: GREEDY_DEFAULTS },
  },
  mses: {
    create: (o, c) => createMses(o.mses ?? {}, c),
    schema: { mses: METHOD_OPTIONS_SCHEMA.mses },
    defaults: { mses: MSES_DEFAULTS },
  },
  "g-blending": {
    create: (o, c) => createGBlend(o.gblend ?? {}, c),
    schema: { gblend: METHOD_OPTIONS_SCHEMA.gblend },
    defaults: { gblend: GBLEND_DEFAULTS },
  },
});

/** Builds a method from its name and options. */
export function createMethod(name: MethodName, opts: MethodOptions, ctx: MethodContext): Method {
  const entry = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined;
  if (!entry) {
    throw new AmssArgumentError(
      `method must be one of ${METHOD_NAMES.join(", ")}, got ${JSON.stringify(name)}`,
    );
  }
  return entry.create(opts, ctx);
}
