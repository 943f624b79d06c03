/**
 * Configuration of the AMSS/AMSS+ transformation (paper Sec. 3.2 and 3.3): the public types of
 * `amss` (its config, its state, what it reports per step and the per-step extras it reads), the
 * checks on what a step is given (the state, the batch of the significance of Eqs. 2-4, given
 * ratios), and the resolution of a config into validated settings with every default filled in.
 *
 * Apart from the transform (./amss.ts) so that the group layout (./group_layout.ts) and the
 * per-step draws (./draw.ts) read the settings and the info they fill without importing it.
 *
 * @module
 */
import type { RngState } from "../rng.ts";
import type { TensorMap } from "../transform.ts";
import {
  AmssArgumentError,
  describeValue,
  listNames,
  requireInRange,
  requireOneOf,
} from "../validate.ts";
import type { MaskPlan } from "./groups.ts";
import { MASK_SCALES, type MaskScale } from "./mask.ts";
import { SAMPLER_KINDS, type SamplerKind } from "./sampling.ts";
import type {
  ModalBatch,
  PaperSignificanceConfig,
  PaperSignificanceState,
  SignificanceResult,
} from "./significance.ts";
import { IMPORTANCE_MODES, type ImportanceMode } from "./units.ts";

/** Where the update ratios come from. */
export type SignificanceConfig =
  | ({ mode: "paper" } & PaperSignificanceConfig)
  | { mode: "reference"; tau: number };

/** Configuration of {@link amss}. */
export interface AmssConfig {
  /** Which variables are masked, per modality and layer, and their units ({@link planMasks}). */
  plan: MaskPlan;
  /** Significance (Eqs. 2-4). Omit to pass ratios in `extras.ratios` every step. */
  significance?: SignificanceConfig;
  /** Sampling design (Sec. 3.2.2 "non-uniform adaptive sampling" = `adaptive`). Default `adaptive`. */
  sampler?: SamplerKind;
  /** `none` = AMSS 0/1 mask; the others are AMSS+ scales. Default `none`. */
  scale?: MaskScale;
  /**
   * Unit importance score. Default `gn` (the authors' squared mini-batch gradient); `fisher` is
   * the paper's diagonal empirical Fisher (Sec. 3.2.2), read from `extras.fisher` every step.
   */
  importance?: ImportanceMode;
  /**
   * Over which units the importance is normalised into the sampling law p and `ceil(rho * C)`
   * units are kept: `layer` (default; the authors' code: per mask group, C = C_l) or `modality`
   * (Sec. 3.2.2 as written: p_j = F_j / sum of F over all units of the modality, and
   * `ceil(rho_k * |units of modality k|)` kept across the modality, so layers keep different
   * fractions). The AMSS+ scales then use the modality's p and, for `reference` 1/(p + 1/C), its
   * unit count C; the defensive mixture mixes with 1/C of the modality too.
   */
  normalise?: "layer" | "modality";
  /** Units kept per layer: `ceil(rho * C_l)` (paper) or `floor`. Default `ceil`. */
  rounding?: "ceil" | "floor";
  /**
   * Defensive mixture weight eps: sample with (1-eps) p + eps/C_l, weighted by that mixture's
   * inclusion probabilities (still unbiased, weights bounded by about C_l / (eps k)). Default 0.
   */
  defensive?: number;
  /**
   * Floor on every update ratio: rho_k <- max(rho_k, minRatio), in [0, 1]. Default 0 (none). With
   * Horvitz-Thompson weights the floor keeps the estimate unbiased (any kept count is) and, with a
   * defensive mixture eps, bounds every weight by about 1 / (eps * minRatio); the ratios then no
   * longer sum to K - 1.
   */
  minRatio?: number;
  /** Seed of the sampling generator. */
  seed: number;
  /** Report the mask value of every unit per group in `info.amss.masks` (tests, debugging). */
  recordSelection?: boolean;
  /**
   * Report the importance score of every unit per group in `info.amss.importance` (tests,
   * debugging): the very numbers the sampler normalises into p this step.
   */
  recordImportance?: boolean;
  /**
   * Fixed update ratios per modality instead of Eqs. 2-4 (Table 1's element-wise grid; with all
   * ratios 1 and an AMSS+ scale, the paper's "scaling only, no masking" control of Sec. 4.4).
   */
  fixedRatios?: Record<string, number>;
  /**
   * `mask` (default): apply the sampled mask. `gain-matched`: a control that keeps the gain and
   * drops the masking. Each step samples the mask exactly as AMSS/AMSS+ would, then multiplies
   * every masked variable of modality k by one coefficient v_k, the parameter-weighted mean of that
   * mask over the modality's units (a one-sample unbiased estimate of the mask's expected gain, so
   * over steps the modality's gradient gets the same average gain, with no unit left out).
   */
  apply?: "mask" | "gain-matched";
  /**
   * Which parameters are masked (Table 7): `backbone` (default: the plan's groups, i.e. the
   * encoders), `classifier` (only the shared fusion head, see `classifier`), or `both`.
   */
  target?: "backbone" | "classifier" | "both";
  /**
   * The shared classifier for `target` classifier/both: a kernel `[rows, C]` whose row ranges
   * `[start, end)` belong to each modality (concat fusion: the rows that read modality k's
   * features). Each row is a unit of its modality (C_l = its row count), importance = the row's sum
   * of squared gradients; the bias is shared and never masked.
   */
  classifier?: { name: string; rows: Record<string, [number, number]> };
}

/** Explicit, JSON-serialisable state of {@link amss}. */
export interface AmssState {
  /** State of the sampling generator. */
  rng: RngState;
  /** Momentum state of the paper's significance (Eq. 3); unused in the other modes. */
  significance: PaperSignificanceState;
}

/** What {@link amss} reports per step in `ctx.info.amss`. */
export interface AmssInfo {
  /** Update ratio rho_k of each modality this step (Eq. 4, or as given). */
  ratios: Record<string, number>;
  /** The significance step's intermediates, when the ratios came from it. */
  significance?: SignificanceResult;
  /**
   * Units kept / units, per group id. Under `normalise: "modality"` the count is what the
   * modality-wide draw left in the group.
   */
  kept: Record<string, [number, number]>;
  /** `normalise: "modality"`: units kept / units of each modality (`ceil(rho_k * C)`, C its units). */
  keptModality?: Record<string, [number, number]>;
  /** Largest mask value applied this step (AMSS+ weights explode when some p_j is tiny). */
  maxWeight: number;
  /** Groups whose importance was all zero (no gradient signal): sampled uniformly. */
  zeroImportanceGroups: string[];
  /** Mask value per unit, per group id (only with `recordSelection`). */
  masks?: Record<string, Float64Array>;
  /**
   * Importance score per unit (before normalisation to p), per group id, as downloaded from the
   * backend (only with `recordImportance`). Classifier rows under `classifier/<modality>`.
   */
  importance?: Record<string, Float64Array>;
  /** `apply: "gain-matched"`: the coefficient v_k applied to each modality this step. */
  gain?: Record<string, number>;
}

/** Per-step inputs of {@link amss}: a batch for significance, or the ratios themselves. */
export interface AmssExtras {
  /** Labels, uni-modal predictions and features of the step's batch, for the significance. */
  batch?: ModalBatch;
  /**
   * Update ratios per modality (by name, or in plan order), when `significance` is not configured.
   */
  ratios?: Record<string, number> | readonly number[];
  /**
   * `importance: "fisher"`: the per-element diagonal empirical Fisher of every masked variable
   * (and of the classifier with a classifier target), each of the variable's shape: F_j =
   * (1/B) sum_i g_ij^2 with g_i sample i's gradient of its uni-modal log-likelihood (Sec. 3.2.2;
   * src/train/fisher.ts computes it for the trainer, src/amss/fisher.ts the per-layer math).
   */
  fisher?: TensorMap;
}

export function ratiosFromExtras(modalities: string[], given: AmssExtras["ratios"]): number[] {
  const arr = Array.isArray(given)
    ? [...given]
    : modalities.map((m) => (given as Record<string, number>)[m]);
  if (arr.length !== modalities.length) {
    throw new AmssArgumentError(
      `extras.ratios has ${arr.length} entries, expected one per modality (${
        modalities.join(", ")
      })`,
    );
  }
  arr.forEach((r, i) => requireInRange(`extras.ratios[${modalities[i]}]`, r, 0, 1, true));
  return arr;
}

/**
 * A batch with one prediction per plan modality, in the plan's order: `batch.modalities` (set by
 * `modalBatch`) must equal the plan's list, and the number of predictions the plan's count.
 */
export function checkBatchModalities(batch: ModalBatch, modalities: readonly string[]): void {
  const given = batch.modalities;
  if (given && (given.length !== modalities.length || given.some((m, i) => m !== modalities[i]))) {
    throw new AmssArgumentError(
      `amss: extras.batch is for modalities ${listNames(given)} (in that order), but the plan's ` +
        `are ${listNames(modalities)}; build the batch with modalBatch(outputs, plan)`,
    );
  }
  if (Array.isArray(batch.predictions) && batch.predictions.length !== modalities.length) {
    throw new AmssArgumentError(
      `amss: extras.batch.predictions has ${batch.predictions.length} entries, expected one per ` +
        `plan modality (${listNames(modalities)})`,
    );
  }
}

/** Throws unless `state` looks like what {@link amss}'s `init` returns. */
export function checkState(state: unknown): asserts state is AmssState {
  const s = state as Partial<AmssState> | null;
  if (
    !s || typeof s !== "object" || Array.isArray(s) || typeof s.rng !== "object" ||
    typeof s.significance !== "object"
  ) {
    throw new AmssArgumentError(
      `amss: the state passed is not an AMSS state ({rng, significance}, from init(params)); got ${
        describeValue(state)
      }. Pass the object your optimizer's init(params) returned.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** {@link AmssConfig} validated, with every default filled in. */
export interface Settings {
  plan: MaskPlan;
  sig: SignificanceConfig | undefined;
  sampler: SamplerKind;
  scale: MaskScale;
  importance: ImportanceMode;
  normalise: "layer" | "modality";
  rounding: "ceil" | "floor";
  /** The defensive mixture weight. */
  eps: number;
  minRatio: number;
  apply: "mask" | "gain-matched";
  /** `fixedRatios` in plan order, or null. */
  fixed: number[] | null;
  target: "backbone" | "classifier" | "both";
  /** The classifier, unless the target is the backbone only. */
  cls: AmssConfig["classifier"] | null;
  recordSelection: boolean | undefined;
  recordImportance: boolean | undefined;
}

/** Validates `config` (every error an {@link AmssArgumentError}) and fills in the defaults. */
export function resolveConfig(config: AmssConfig): Settings {
  const sampler = requireOneOf("sampler", config.sampler ?? "adaptive", SAMPLER_KINDS);
  const scale = requireOneOf("scale", config.scale ?? "none", MASK_SCALES);
  const importance = requireOneOf("importance", config.importance ?? "gn", IMPORTANCE_MODES);
  const normalise = requireOneOf(
    "normalise",
    config.normalise ?? "layer",
    ["layer", "modality"] as const,
  );
  const rounding = requireOneOf("rounding", config.rounding ?? "ceil", ["ceil", "floor"] as const);
  const eps = requireInRange("defensive", config.defensive ?? 0, 0, 1);
  const minRatio = requireInRange("minRatio", config.minRatio ?? 0, 0, 1);
  const apply = requireOneOf("apply", config.apply ?? "mask", ["mask", "gain-matched"] as const);
  const fixed = config.fixedRatios
    ? config.plan.modalities.map((m) => {
      const r = config.fixedRatios![m];
      if (r === undefined) {
        throw new AmssArgumentError(
          `fixedRatios must give a ratio for every modality (${
            config.plan.modalities.join(", ")
          }); ${m} is missing`,
        );
      }
      return requireInRange(`fixedRatios.${m}`, r, 0, 1, true);
    })
    : null;
  if (scale === "horvitz-thompson" && sampler === "topk") {
    throw new AmssArgumentError(
      `scale "horvitz-thompson" needs a random design; sampler "topk" never includes unselected units`,
    );
  }
  const { plan } = config;
  const sig = config.significance;
  if (sig?.mode === "reference" && plan.modalities.length !== 2) {
    throw new AmssArgumentError(
      `significance mode "reference" reproduces the two-modality audio-video code; plan has ${plan.modalities.length} modalities`,
    );
  }
  const target = requireOneOf(
    "target",
    config.target ?? "backbone",
    ["backbone", "classifier", "both"] as const,
  );
  const cls = target === "backbone" ? null : config.classifier;
  if (target !== "backbone") {
    if (!cls) {
      throw new AmssArgumentError(
        `target ${JSON.stringify(target)} needs classifier: {name, rows} (a shared fusion head)`,
      );
    }
    if (apply !== "mask") {
      throw new AmssArgumentError(`apply "gain-matched" masks the backbone only`);
    }
    for (const m of plan.modalities) {
      const r = cls.rows[m];
      if (!r || !(Number.isInteger(r[0]) && Number.isInteger(r[1]) && 0 <= r[0] && r[0] < r[1])) {
        throw new AmssArgumentError(
          `classifier.rows.${m} must be [start, end) with 0 <= start < end, got ${
            JSON.stringify(r)
          }`,
        );
      }
    }
  }
  return {
    plan,
    sig,
    sampler,
    scale,
    importance,
    normalise,
    rounding,
    eps,
    minRatio,
    apply,
    fixed,
    target,
    cls: cls ?? null,
    recordSelection: config.recordSelection,
    recordImportance: config.recordImportance,
  };
}
