/**
 * The AMSS family (amss, amss+, random-mask): significance-driven (or fixed, or uniform) sampling
 * of parameter units per modality, with AMSS+'s unbiased scaling (src/amss/amss.ts does the work;
 * this module maps the method options onto it and names the run).
 *
 * @module
 */
import { amss } from "../amss/amss.ts";
import type { SignificanceConfig } from "../amss/amss_config.ts";
import { neuronRules, planMasks } from "../amss/groups.ts";
import type { MaskScale } from "../amss/mask.ts";
import type { SamplerKind } from "../amss/sampling.ts";
import { DEFAULT_LAMBDA } from "../amss/significance.ts";
import { AmssArgumentError, requirePositive } from "../validate.ts";
import type { Method, MethodContext } from "./base.ts";
import type { OptionDefaults, OptionsSchema } from "./schema.ts";

/** Floor on H(X_k) used in training (see PaperSignificanceConfig.entropyFloor). */
export const ENTROPY_FLOOR = 1e-3;

/**
 * The temperature tau of Eq. 4 and the momentum lambda of Eq. 3 (the paper's values; lambda is
 * the significance estimator's own default, DEFAULT_LAMBDA).
 */
export const SIGNIFICANCE_DEFAULTS: Readonly<{ tau: number; lambda: number }> = Object.freeze({
  tau: 0.25,
  lambda: DEFAULT_LAMBDA,
});

/** Options of the AMSS family (amss, amss+, random-mask). */
export interface AmssFamilyOptions {
  /** AMSS family: significance mode, tau (Eq. 4) and lambda (Eq. 3). */
  significance?: "paper" | "reference";
  /** AMSS family: temperature tau of Eq. 4. */
  tau?: number;
  /** AMSS family: momentum lambda of Eq. 3. */
  lambda?: number;
  /** AMSS family: AMSS+ scale (amss+: default "reference", the authors' code). */
  scale?: MaskScale;
  /** AMSS family: sampling design (default `adaptive`). */
  sampler?: SamplerKind;
  /**
   * AMSS family: units rule. "paper" (App. C.2: conv channels, attention heads, elements
   * elsewhere), "reference" (only ResNet layer1-4 3x3 convs), or "neuron": like "paper" but a
   * dense layer's unit is one output neuron (its kernel column and bias), the MLP analogue of a
   * conv output channel; AMSS+'s reference scale 1/(p + 1/C_l) grows with C_l, so element-wise
   * units (C_l = all weights of a layer) make it a gain of thousands.
   */
  units?: "paper" | "reference" | "neuron";
  /** AMSS+ defensive mixture eps. */
  defensive?: number;
  /**
   * AMSS family: unit importance. `gn` (default): the squared mini-batch gradient of the training
   * loss (the authors' code); `fisher`: the paper's diagonal empirical Fisher of the uni-modal
   * log-likelihood (Sec. 3.2.2), from per-sample gradients (an extra forward/backward pass per step;
   * dense, conv2d and batch-norm layers only).
   */
  importance?: "gn" | "fisher";
  /**
   * AMSS family: `layer` (default, the authors' code): p normalised and ceil(rho C_l) units kept
   * per layer; `modality` (Sec. 3.2.2 as written): over all units of the modality, ceil(rho C)
   * kept across it (amss() `normalise`).
   */
  normalise?: "layer" | "modality";
  /** AMSS family: floor on every update ratio (kept fraction), in [0, 1]; default 0. */
  minRatio?: number;
  /**
   * AMSS family: fixed update ratios per modality instead of Eqs. 2-4 (Table 1's element-wise grid:
   * `random-mask` with scale none; all 1 with an AMSS+ scale: the paper's scaling-only control).
   */
  ratios?: Record<string, number>;
  /**
   * AMSS family: `mask` (default) or `gain-matched`, the control that applies, per modality, the
   * mean gain of the mask it sampled as one global coefficient, without masking (amss() `apply`).
   */
  apply?: "mask" | "gain-matched";
  /**
   * AMSS family (Table 7): mask the encoders (`backbone`, default), only the shared classifier's
   * per-modality rows (`classifier`, concat fusion), or `both`.
   */
  maskTarget?: "backbone" | "classifier" | "both";
}

/** What the AMSS family uses for an absent option (amss+ and random-mask: `scale` "reference"). */
export const AMSS_DEFAULTS: OptionDefaults<AmssFamilyOptions> = Object.freeze({
  significance: "paper",
  tau: SIGNIFICANCE_DEFAULTS.tau,
  lambda: SIGNIFICANCE_DEFAULTS.lambda,
  scale: "reference",
  sampler: "adaptive",
  units: "paper",
  importance: "gn",
  normalise: "layer",
  minRatio: 0,
  apply: "mask",
  maskTarget: "backbone",
});

/** The schema of every AMSS-family option (each method reads a subset, see the registry). */
export const AMSS_FAMILY_SCHEMA: OptionsSchema<AmssFamilyOptions> = {
  significance: { kind: "enum", values: ["paper", "reference"] },
  tau: { kind: "number", min: 0, max: 100, minOpen: true },
  lambda: { kind: "number", min: 0, max: 1, maxOpen: true },
  scale: { kind: "enum", values: ["none", "paper", "reference", "horvitz-thompson"] },
  sampler: { kind: "enum", values: ["adaptive", "uniform", "topk", "systematic"] },
  units: { kind: "enum", values: ["paper", "reference", "neuron"] },
  defensive: { kind: "number", min: 0, max: 1 },
  importance: { kind: "enum", values: ["gn", "fisher"] },
  normalise: { kind: "enum", values: ["layer", "modality"] },
  minRatio: { kind: "number", min: 0, max: 1 },
  ratios: { kind: "per-modality", min: 0, max: 1 },
  apply: { kind: "enum", values: ["mask", "gain-matched"] },
  maskTarget: { kind: "enum", values: ["backbone", "classifier", "both"] },
};

/** The AMSS-family schema without the options in `drop`. */
export function amssSchemaWithout<D extends keyof AmssFamilyOptions>(
  ...drop: D[]
): OptionsSchema<Omit<AmssFamilyOptions, D>> {
  return Object.fromEntries(
    Object.entries(AMSS_FAMILY_SCHEMA).filter(([k]) => !(drop as string[]).includes(k)),
  ) as OptionsSchema<Omit<AmssFamilyOptions, D>>;
}

/** Builds amss, amss+ or random-mask from its options. */
export function createAmssFamily(
  name: "amss" | "amss+" | "random-mask",
  opts: AmssFamilyOptions,
  ctx: MethodContext,
): Method {
  const { modalities } = ctx;
  const d = AMSS_DEFAULTS;
  const units = opts.units ?? d.units!;
  const tau = requirePositive("tau", opts.tau ?? d.tau!);
  const mode = opts.significance ?? d.significance!;
  const significance: SignificanceConfig = mode === "reference"
    ? { mode, tau }
    : { mode, tau, lambda: opts.lambda ?? d.lambda!, entropyFloor: ENTROPY_FLOOR };
  const scale: MaskScale = name === "amss" ? "none" : opts.scale ?? d.scale!;
  const sampler: SamplerKind = name === "random-mask" ? "uniform" : opts.sampler ?? d.sampler!;
  const plan = planMasks(
    ctx.params,
    units === "neuron" ? neuronRules(ctx.rules("paper")) : ctx.rules(units),
  );
  const apply = opts.apply ?? d.apply!;
  if (opts.ratios) {
    for (const m of Object.keys(opts.ratios)) {
      if (!modalities.includes(m)) {
        throw new AmssArgumentError(`${name}: ratios names unknown modality ${m}`);
      }
    }
  }
  const target = opts.maskTarget ?? d.maskTarget!;
  const importance = opts.importance ?? d.importance!;
  const normalise = opts.normalise ?? d.normalise!;
  if (target !== "backbone" && !ctx.classifier) {
    throw new AmssArgumentError(
      `${name}: maskTarget ${target} needs a shared classifier whose rows split by modality (concat fusion)`,
    );
  }
  const extra = [
    ...(importance !== "gn" ? [`importance ${importance}`] : []),
    ...(normalise !== "layer" ? [`normalise ${normalise}`] : []),
    ...(apply !== "mask" ? [apply] : []),
    ...(target !== "backbone" ? [`mask ${target}`] : []),
    ...(opts.minRatio ? [`rho >= ${opts.minRatio}`] : []),
    ...(opts.ratios ? [`rho ${modalities.map((m) => `${m} ${opts.ratios![m]}`).join(" ")}`] : []),
  ];
  const label =
    (name === "amss" ? "amss" : `${name} (${scale}${name === "random-mask" ? ", uniform" : ""})`) +
    (extra.length ? ` [${extra.join(", ")}]` : "");
  return {
    name,
    label,
    lossOn: "fused",
    significance,
    transform: amss({
      plan,
      significance,
      scale,
      sampler,
      defensive: opts.defensive,
      importance,
      normalise,
      minRatio: opts.minRatio,
      seed: ctx.seed,
      fixedRatios: opts.ratios,
      apply,
      target,
      classifier: target === "backbone" ? undefined : ctx.classifier,
    }),
    ...(importance === "fisher"
      ? {
        fisher: [
          ...(target === "classifier"
            ? []
            : plan.groups.flatMap((g) => g.members.map((mb) => mb.name))),
          ...(target !== "backbone" ? [ctx.classifier!.name] : []),
        ],
      }
      : {}),
  };
}
