/**
 * AMSS and AMSS+ as one gradient transformation (paper Sec. 3.2 and 3.3).
 *
 * Per step, for every modality k: update ratio rho_k from modal significance (Eqs. 2-4) or given
 * ratios; per mask group (layer l of modality k) the unit importance p (Sec. 3.2.2: the authors'
 * squared mini-batch gradient by default, or the paper's per-sample Fisher from `extras.fisher`
 * with `importance: "fisher"`), a sample of `ceil(rho_k * C_l)` units without replacement (or,
 * with `normalise: "modality"`, p over the modality's units and `ceil(rho_k * C_k)` drawn across
 * it, as Sec. 3.2.2 writes), and the mask: 0/1 for AMSS (Eq. 1), scaled for
 * AMSS+ (Eq. 5 `paper`, the authors' `reference`, or exact `horvitz-thompson`). The mask multiplies
 * whatever reaches this transform in the chain: put it first to mask gradients (authors' code),
 * after the optimizer to mask updates (Eq. 1).
 *
 * Host/device traffic per step: one download of one number per unit (all groups concatenated),
 * one upload of one scale per unit. Everything per parameter stays on the tfjs backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng, type RngState } from "../rng.ts";
import type { GradientTransformation, TensorMap, UpdateContext } from "../transform.ts";
import { deferUnitScale, mayDeferUnitScale } from "../unit_scale.ts";
import {
  AmssArgumentError,
  describeValue,
  listNames,
  requireInRange,
  requireOneOf,
} from "../validate.ts";
import type { MaskPlan } from "./groups.ts";
import { defensiveMixture, MASK_SCALES, type MaskScale, unitMask } from "./mask.ts";
import {
  SAMPLER_KINDS,
  type SamplerKind,
  sampleUnits,
  type UnitSample,
  unitsToKeep,
} from "./sampling.ts";
import { successiveMask, SuccessiveScratch } from "./successive_mask.ts";
import {
  type ModalBatch,
  paperSignificance,
  type PaperSignificanceConfig,
  type PaperSignificanceState,
  referenceSignificance,
  type SignificanceResult,
} from "./significance.ts";
import {
  applyUnitScale,
  groupImportance,
  IMPORTANCE_MODES,
  type ImportanceMode,
  unitLayout,
} from "./units.ts";

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

function ratiosFromExtras(modalities: string[], given: AmssExtras["ratios"]): number[] {
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
function checkBatchModalities(batch: ModalBatch, modalities: readonly string[]): void {
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
function checkState(state: unknown): asserts state is AmssState {
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

/**
 * The AMSS/AMSS+ transformation.
 *
 * @example AMSS+ (HT weights) with the paper's significance, masking gradients before SGD
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { amss, chain, modalityByPrefix, paperUnits, planMasks, sgd, step } from "@amss-ts/amss";
 *
 * await tf.setBackend("cpu");
 * const params = {
 *   "audio/w": tf.variable(tf.ones([4, 2])),
 *   "visual/w": tf.variable(tf.ones([4, 2])),
 * };
 * const plan = planMasks(params, {
 *   modalities: ["audio", "visual"],
 *   modalityOf: modalityByPrefix(["audio", "visual"]),
 *   unitOf: paperUnits,
 * });
 * const opt = chain(
 *   amss({
 *     plan,
 *     significance: { mode: "paper", tau: 0.25, lambda: 0.9, entropy: "none" },
 *     scale: "horvitz-thompson",
 *     seed: 1,
 *   }),
 *   sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }),
 * );
 * const state = opt.init(params);
 * const grads = { "audio/w": tf.ones([4, 2]), "visual/w": tf.ones([4, 2]) };
 * // labels and each modality's uni-modal logits (B = 2, C = 2): audio predicts well
 * const batch = {
 *   labels: [0, 1],
 *   numClasses: 2,
 *   predictionKind: "logits" as const,
 *   predictions: [[3, 0, 0, 3], [0.5, 0, 0, 0.5]],
 * };
 * const info = await step(params, grads, opt, state, 1, { batch });
 * const { ratios } = info.amss as { ratios: Record<string, number> };
 * assert(ratios.audio < ratios.visual); // the dominant modality is updated less
 * ```
 */
export function amss(config: AmssConfig): GradientTransformation<AmssState> {
  const s = resolveConfig(config);
  const groups = groupLayout(s);
  const scratch = newScratch(groups);
  // fixed at the first step, from the gradients' shapes
  let split: BufferSplit | null = null;

  return {
    init: () => ({ rng: new Rng(config.seed).state(), significance: { u: null, steps: 0 } }),

    async update(updates: TensorMap, state: AmssState, ctx: UpdateContext): Promise<TensorMap> {
      checkState(state);
      const { plan } = s;
      const info: AmssInfo = { ratios: {}, kept: {}, maxWeight: 0, zeroImportanceGroups: [] };
      const rho = ratiosFor(s, ctx.extras as AmssExtras, state, info).map((r) =>
        Math.max(r, s.minRatio)
      );
      plan.modalities.forEach((m, i) => (info.ratios[m] = rho[i]));

      const inputs = stepInputs(s, ctx);
      // (no backbone groups when only the classifier is masked: nothing to score or download)
      split ??= splitGroups(groups, (name) => inputs.gradOf(name).shape);
      const scores = await unitScores(s, groups, split, inputs, ctx);

      // Sampling and mask values per unit, plain TS on one Float32Array.
      const draw: Draw = {
        rng: Rng.fromState(state.rng),
        rho,
        scaleAll: new Float32Array(groups.totalUnits),
        // gain-matched: parameter-weighted sums of mask values and of parameters, per modality
        gainNum: new Float64Array(plan.modalities.length),
        gainDen: new Float64Array(plan.modalities.length),
        info,
        ctx,
      };
      if (s.normalise === "modality") drawPerModality(s, groups, split, scratch, scores, draw);
      else drawPerLayer(s, groups, split, scratch, scores, draw);
      // Table 7's classifier mask: rows of the shared head, per modality, after the backbone's draws
      const rowScale = s.cls ? await drawClassifier(s, s.cls, draw) : null;
      state.rng = draw.rng.state();

      const out = applyMask(s, groups, split, updates, rowScale, draw);
      ctx.info.amss = info;
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** {@link AmssConfig} validated, with every default filled in. */
interface Settings {
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
function resolveConfig(config: AmssConfig): Settings {
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

// ---------------------------------------------------------------------------------------------
// Group layout

type Group = MaskPlan["groups"][number];

/**
 * The masked groups in buffer order. Scores and mask values are laid out with the single-variable
 * element-wise groups first; `layout` is also the order in which the units are sampled.
 */
interface GroupLayout {
  elementGroups: Group[];
  otherGroups: Group[];
  /** `elementGroups`, then `otherGroups`. */
  layout: Group[];
  elementUnits: number;
  totalUnits: number;
  /** The largest group's unit count. */
  maxUnits: number;
  /** `normalise: "modality"`: one sampling pool per modality (its groups' units in layout order). */
  pools: Group[][];
  /** The largest pool's unit count. */
  maxPool: number;
}

function groupLayout(s: Settings): GroupLayout {
  const { plan } = s;
  // the plan's groups are masked unless only the classifier is
  const active = s.target === "classifier" ? [] : plan.groups;
  const totalUnits = active.reduce((a, g) => a + g.units, 0);
  const isElement = (g: Group) => g.members.length === 1 && g.members[0].spec.kind === "element";
  const elementGroups = active.filter(isElement);
  const otherGroups = active.filter((g) => !isElement(g));
  const layout = [...elementGroups, ...otherGroups];
  const elementUnits = elementGroups.reduce((a, g) => a + g.units, 0);
  const maxUnits = active.reduce((a, g) => Math.max(a, g.units), 0);
  const pools = plan.modalities.map((mod) => layout.filter((g) => g.modality === mod));
  const maxPool = pools.reduce((a, gs) => Math.max(a, gs.reduce((b, g) => b + g.units, 0)), 0);
  return {
    elementGroups,
    otherGroups,
    layout,
    elementUnits,
    totalUnits,
    maxUnits,
    pools,
    maxPool,
  };
}

/**
 * Where each group's units sit in the score and mask buffers. Rank-1 variables (biases,
 * batch-norm parameters) need no reshape: each op saved is a dispatch, and with ~120 small
 * variables per model the dispatch, not the arithmetic, is most of the AMSS step on wasm. For the
 * same reason, channel groups of one variable with the unit on its last axis (conv kernels
 * [kh, kw, Cin, Cout], dense kernels) are scored together (`fast`): per variable a square and a
 * pool (its sum over the leading axes, as a mean), then one concat and one multiply by the counts
 * for all of them; their masks are applied without reshapes. Other groups (`slow`) go one by one.
 * Buffer order: element block, then `fast`, then `slow`; sampling still visits `layout` order.
 */
interface BufferSplit {
  fast: Group[];
  slow: Group[];
  counts: Float32Array; // per unit of `fast`: the number of elements it sums
  offset: Map<string, number>;
  /** Every member of every group: `[pre, units, post, offset]` (a deferred unit scale's views). */
  views: Map<string, readonly [number, number, number, number]>;
}

function splitGroups(
  groups: GroupLayout,
  shapeOf: (name: string) => readonly number[],
): BufferSplit {
  const { elementGroups, otherGroups, layout, elementUnits } = groups;
  const fast = otherGroups.filter((g) => {
    const mb = g.members[0];
    const shape = shapeOf(mb.name);
    return g.members.length === 1 && mb.spec.kind === "channel" &&
      unitLayout(shape, mb.spec).post === 1 && shape[shape.length - 1] === g.units;
  });
  const slow = otherGroups.filter((g) => !fast.includes(g));
  const counts = new Float32Array(fast.reduce((a, g) => a + g.units, 0));
  const offset = new Map<string, number>();
  let off = 0;
  for (const g of [...elementGroups, ...fast, ...slow]) {
    offset.set(g.id, off);
    if (fast.includes(g)) {
      const size = shapeOf(g.members[0].name).reduce((a, b) => a * b, 1);
      counts.fill(size / g.units, off - elementUnits, off - elementUnits + g.units);
    }
    off += g.units;
  }
  const views = new Map<string, readonly [number, number, number, number]>();
  for (const g of layout) {
    for (const mb of g.members) {
      const { pre, units, post } = unitLayout(shapeOf(mb.name), mb.spec, mb.name);
      views.set(mb.name, [pre, units, post, offset.get(g.id)!]);
    }
  }
  return { fast, slow, counts, offset, views };
}

/** Buffers of the sampling loop, reused every step. */
interface Scratch {
  /** Per group: p and the mask (the largest group's size). */
  p: Float64Array;
  mask: Float64Array;
  successive: SuccessiveScratch;
  /** `normalise: "modality"`: per pool, allocated at the first step. */
  pools: { raw: Float64Array; p: Float64Array; m: Float64Array } | null;
}

function newScratch(groups: GroupLayout): Scratch {
  return {
    p: new Float64Array(groups.maxUnits),
    mask: new Float64Array(groups.maxUnits),
    successive: new SuccessiveScratch(),
    pools: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Update: ratios, importance scores, draws, the mask applied

function ratiosFor(s: Settings, extras: AmssExtras, state: AmssState, info: AmssInfo): number[] {
  const { plan, sig } = s;
  if (s.fixed) return [...s.fixed];
  if (extras.ratios !== undefined) return ratiosFromExtras(plan.modalities, extras.ratios);
  if (!sig) {
    throw new AmssArgumentError(
      "amss: no significance config and no extras.ratios; pass one of them",
    );
  }
  if (!extras.batch) {
    throw new AmssArgumentError(
      "amss: extras.batch (labels and uni-modal predictions) is required",
    );
  }
  checkBatchModalities(extras.batch, plan.modalities);
  if (sig.mode === "reference") {
    const res = referenceSignificance(extras.batch, { tau: sig.tau });
    info.significance = res;
    return [...res.ratios];
  }
  const { mode: _m, ...cfg } = sig;
  const { result, state: next } = paperSignificance(extras.batch, state.significance, cfg);
  state.significance = next;
  info.significance = result;
  return [...result.ratios];
}

/** The step's gradients and Fisher entries of the masked variables, each checked when read. */
interface StepInputs {
  gradOf(name: string): tf.Tensor;
  fisherOf(name: string): tf.Tensor;
}

function stepInputs(s: Settings, ctx: UpdateContext): StepInputs {
  const { plan, importance } = s;
  const gradOf = (name: string) => {
    const grad = ctx.grads[name];
    if (!grad) {
      throw new AmssArgumentError(
        `amss: no gradient for masked variable ${name}; got gradients for ${
          listNames(Object.keys(ctx.grads))
        }, expected one for every masked variable of the plan (${
          listNames(plan.groups.flatMap((g) => g.members.map((mb) => mb.name)))
        })`,
      );
    }
    return grad;
  };
  // Sec. 3.2.2's F_j, per element, from the caller (the trainer's per-sample pass)
  const fisher = importance === "fisher" ? (ctx.extras as AmssExtras).fisher : undefined;
  if (importance === "fisher" && !fisher) {
    throw new AmssArgumentError(
      `amss: importance "fisher" needs extras.fisher (the per-element empirical Fisher of ` +
        `every masked variable; the trainer computes it, see src/train/fisher.ts)`,
    );
  }
  const fisherOf = (name: string) => {
    const f = fisher![name];
    const shape = gradOf(name).shape;
    if (!f || f.shape.length !== shape.length || f.shape.some((d, i) => d !== shape[i])) {
      throw new AmssArgumentError(
        `amss: importance "fisher": extras.fisher.${name} is ${
          f ? `of shape [${f.shape}]` : "missing"
        }, expected the variable's shape [${shape}]`,
      );
    }
    return f;
  };
  return { gradOf, fisherOf };
}

const flat1d = (t: tf.Tensor) => t.rank === 1 ? t : t.reshape([-1]);

/**
 * Importance of every unit of every group, one download (Sec. 3.2.2, Appendix C.2). The
 * element-wise groups come first as one block, so their squares (and, in {@link applyMask}, their
 * masks) take a few ops in all instead of a few per variable: with many small variables (biases,
 * batch-norm parameters) the per-op dispatch would otherwise dominate the step.
 */
async function unitScores(
  s: Settings,
  groups: GroupLayout,
  split: BufferSplit,
  { gradOf, fisherOf }: StepInputs,
  ctx: UpdateContext,
): Promise<Float32Array> {
  const { importance } = s;
  const { elementGroups } = groups;
  const scoresT = groups.totalUnits === 0 ? null : tf.tidy(() => {
    const parts: tf.Tensor1D[] = [];
    if (elementGroups.length) {
      const flat = (get: (name: string) => tf.Tensor) =>
        tf.concat(elementGroups.map((g) => flat1d(get(g.members[0].name)))) as tf.Tensor1D;
      if (importance === "fisher") parts.push(flat(fisherOf));
      else {
        const g = flat(gradOf);
        parts.push(
          importance === "gn"
            ? tf.square(g)
            : importance === "sqrt(gn)"
            ? tf.abs(g)
            : tf.div(tf.square(g), tf.add(tf.square(flat((n) => ctx.params[n])), 1e-12)),
        );
      }
    }
    if (split.fast.length) {
      if (importance === "fisher") parts.push(fastSumSquares(split, fisherOf, false));
      else {
        const gn = fastSumSquares(split, gradOf);
        parts.push(
          importance === "gn"
            ? gn
            : importance === "sqrt(gn)"
            ? tf.sqrt(gn)
            : tf.div(gn, tf.add(fastSumSquares(split, (n) => ctx.params[n]), 1e-12)),
        );
      }
    }
    for (const g of split.slow) {
      parts.push(groupImportance(
        g.members.map((mb) => ({
          grad: gradOf(mb.name),
          weight: ctx.params[mb.name],
          fisher: importance === "fisher" ? fisherOf(mb.name) : undefined,
          spec: mb.spec,
        })),
        importance,
      ));
    }
    return tf.concat(parts);
  });
  const scores = scoresT ? await scoresT.data() : new Float32Array(0);
  scoresT?.dispose();
  return scores as Float32Array;
}

/**
 * Per-unit sums of squares of the `fast` groups' variables, in buffer order (`square` false: of
 * the values themselves, already squares such as a per-element Fisher).
 */
function fastSumSquares(
  split: BufferSplit,
  get: (name: string) => tf.Tensor,
  square = true,
): tf.Tensor1D {
  const pooled = split.fast.map((g) => {
    const sq = square ? tf.square(get(g.members[0].name)) : get(g.members[0].name);
    const n = sq.size / g.units;
    const t = sq.reshape([1, n, 1, g.units]) as tf.Tensor4D;
    // the AvgPool kernel directly: the avgPool op would add a Cast dispatch per call
    return n === 1 ? t : tf.engine().runKernel(tf.AvgPool, { x: t }, {
      filterSize: [n, 1],
      strides: [n, 1],
      pad: "valid",
    }) as tf.Tensor4D;
  });
  const means = (pooled.length === 1 ? pooled[0] : tf.concat(pooled, 3)).reshape([-1]);
  return tf.mul(means, tf.tensor1d(split.counts)) as tf.Tensor1D;
}

/** One step's draws: the generator, the ratios, and what the draws write. */
interface Draw {
  rng: Rng;
  /** The update ratio of each modality, in plan order. */
  rho: number[];
  /** The mask value of every unit, in buffer order. */
  scaleAll: Float32Array;
  /** `apply: "gain-matched"`: parameter-weighted sums of mask values, per modality. */
  gainNum: Float64Array;
  /** `apply: "gain-matched"`: parameter-weighted unit counts, per modality. */
  gainDen: Float64Array;
  info: AmssInfo;
  ctx: UpdateContext;
}

/**
 * unitMask, except that under the paper's 1/p scale a unit of zero importance taken to fill
 * ceil(rho*C_l) (more units than nonzero importances) gets mask 1 rather than an infinite scale:
 * its gradient is zero, and in "mask updates" order its momentum update passes unscaled.
 */
function maskFor(scale: MaskScale, p: Float64Array, sample: UnitSample): Float64Array {
  if (scale !== "paper" || sample.indices.every((j) => p[j] > 0)) {
    return unitMask(scale, p, sample);
  }
  const keep = [...sample.indices.keys()].filter((i) => p[sample.indices[i]] > 0);
  const m = unitMask(scale, p, {
    ...sample,
    indices: Int32Array.from(keep, (i) => sample.indices[i]),
    weights: Float64Array.from(keep, (i) => sample.weights[i]),
  });
  for (const j of sample.indices) if (p[j] === 0) m[j] = 1;
  return m;
}

/**
 * The sampling law p of a pool of units (Sec. 3.2.2): importance normalised to sum 1, mixed with
 * the uniform law when `eps` > 0 (the defensive mixture); uniform when every importance is 0 (no
 * gradient signal: the mask changes nothing, the step stays well defined). Written into `out`
 * (length = the pool's units) unless the mixture allocates its own.
 */
function samplingLaw(
  raw: ArrayLike<number>,
  total: number,
  eps: number,
  out: Float64Array,
): Float64Array {
  const n = out.length;
  if (!(total > 0)) return out.fill(1 / n);
  if (eps > 0) return defensiveMixture(raw, eps);
  for (let j = 0; j < n; j++) out[j] = raw[j] / total;
  return out;
}

/**
 * `normalise: "layer"` (the authors' code): per group, p = its units' importance normalised and
 * `ceil(rho_k * C_l)` units drawn. Writes the mask into `draw.scaleAll` at each group's offset.
 */
function drawPerLayer(
  s: Settings,
  groups: GroupLayout,
  split: BufferSplit,
  scratch: Scratch,
  scores: Float32Array,
  { rng, rho, scaleAll, gainNum, gainDen, info, ctx }: Draw,
): void {
  const { plan, sampler, scale, eps, rounding } = s;
  for (const g of groups.layout) {
    const off = split.offset.get(g.id)!, n = g.units;
    const raw = scores.subarray(off, off + n);
    let total = 0;
    for (let j = 0; j < n; j++) {
      if (!Number.isFinite(raw[j])) {
        throw new AmssArgumentError(
          `amss: importance of unit ${j} of ${g.id} is ${
            raw[j]
          } (non-finite gradient at step ${ctx.step})`,
        );
      }
      total += raw[j];
    }
    if (s.recordImportance) (info.importance ??= {})[g.id] = Float64Array.from(raw);
    // Eq. 4 gives rho in (0, 1) but can round to 0 in floating point when u/tau gaps are
    // large (e.g. gap/tau > 745): ceil(rho * C_l) of the true, tiny positive rho is 1, so an
    // underflowed 0 counts as the smallest positive double (floor still keeps 0 units).
    const rk = Math.max(rho[plan.modalities.indexOf(g.modality)], Number.MIN_VALUE);
    const k = unitsToKeep(rk, n, rounding);
    const p = samplingLaw(raw, total, eps, scratch.p.subarray(0, n));
    if (!(total > 0)) info.zeroImportanceGroups.push(g.id);
    let m: Float64Array;
    if (sampler === "adaptive") {
      // the same mask and draws as the general path below, without its allocations
      m = s.recordSelection ? new Float64Array(n) : scratch.mask.subarray(0, n);
      const top = successiveMask(p, k, rng, scale, m, scratch.successive);
      if (top > info.maxWeight) info.maxWeight = top;
    } else {
      m = maskFor(scale, p, sampleUnits(sampler, p, k, rng, { onShortfall: "fill" }));
      for (let j = 0; j < n; j++) if (m[j] > info.maxWeight) info.maxWeight = m[j];
    }
    scaleAll.set(m, off);
    if (s.apply === "gain-matched") {
      const mi = plan.modalities.indexOf(g.modality);
      const perUnit = g.members.reduce((a, mb) => a + ctx.params[mb.name].size, 0) / g.units;
      for (let j = 0; j < m.length; j++) gainNum[mi] += m[j] * perUnit;
      gainDen[mi] += g.units * perUnit;
    }
    info.kept[g.id] = [k, g.units];
    if (s.recordSelection) (info.masks ??= {})[g.id] = m;
  }
}

/**
 * Sec. 3.2.2 as written: per modality k, p_j = F_j / (sum of F over ALL units of k) and
 * `ceil(rho_k * C)` units (C = the modality's unit count) drawn across the modality, so each
 * layer keeps what the draw leaves in it. Writes the mask into `draw.scaleAll` at each group's
 * offset.
 */
function drawPerModality(
  s: Settings,
  groups: GroupLayout,
  split: BufferSplit,
  scratch: Scratch,
  scores: Float32Array,
  { rng, rho, scaleAll, gainNum, gainDen, info, ctx }: Draw,
): void {
  const { plan, sampler, scale, eps, rounding, apply } = s;
  const poolBufs = scratch.pools ??= {
    raw: new Float64Array(groups.maxPool),
    p: new Float64Array(groups.maxPool),
    m: new Float64Array(groups.maxPool),
  };
  info.keptModality = {};
  for (const [mi, pool] of groups.pools.entries()) {
    const mod = plan.modalities[mi];
    const n = pool.reduce((a, g) => a + g.units, 0);
    if (n === 0) continue;
    const raw = poolBufs.raw.subarray(0, n);
    let at = 0, total = 0;
    for (const g of pool) {
      const off = split.offset.get(g.id)!;
      for (let j = 0; j < g.units; j++) {
        const v = scores[off + j];
        if (!Number.isFinite(v)) {
          throw new AmssArgumentError(
            `amss: importance of unit ${j} of ${g.id} is ${v} (non-finite gradient at step ${ctx.step})`,
          );
        }
        raw[at + j] = v;
        total += v;
      }
      if (s.recordImportance) {
        (info.importance ??= {})[g.id] = Float64Array.from(scores.subarray(off, off + g.units));
      }
      at += g.units;
    }
    const k = unitsToKeep(Math.max(rho[mi], Number.MIN_VALUE), n, rounding);
    const p = samplingLaw(raw, total, eps, poolBufs.p.subarray(0, n));
    if (!(total > 0)) { for (const g of pool) info.zeroImportanceGroups.push(g.id); }
    let m: Float64Array;
    if (sampler === "adaptive") {
      m = poolBufs.m.subarray(0, n);
      const top = successiveMask(p, k, rng, scale, m, scratch.successive);
      if (top > info.maxWeight) info.maxWeight = top;
    } else {
      m = maskFor(scale, p, sampleUnits(sampler, p, k, rng, { onShortfall: "fill" }));
      for (let j = 0; j < n; j++) if (m[j] > info.maxWeight) info.maxWeight = m[j];
    }
    at = 0;
    for (const g of pool) {
      const mg = m.subarray(at, at + g.units);
      scaleAll.set(mg, split.offset.get(g.id)!);
      let kept = 0;
      for (let j = 0; j < mg.length; j++) if (mg[j] > 0) kept++;
      info.kept[g.id] = [kept, g.units];
      if (s.recordSelection) (info.masks ??= {})[g.id] = Float64Array.from(mg);
      if (apply === "gain-matched") {
        const perUnit = g.members.reduce((a, mb) => a + ctx.params[mb.name].size, 0) / g.units;
        for (let j = 0; j < mg.length; j++) gainNum[mi] += mg[j] * perUnit;
        gainDen[mi] += g.units * perUnit;
      }
      at += g.units;
    }
    info.keptModality[mod] = [k, n];
  }
}

/**
 * Table 7's classifier mask: per modality, a draw over the rows of the shared head that read its
 * features (importance: a row's sum of squared gradients, or of Fisher entries). Returns the scale
 * of every row (1 on rows of no modality).
 */
async function drawClassifier(
  s: Settings,
  cls: NonNullable<AmssConfig["classifier"]>,
  { rng, rho, info, ctx }: Draw,
): Promise<Float32Array> {
  const { plan, importance, eps, rounding, sampler, scale } = s;
  const g = ctx.grads[cls.name];
  if (!g || g.rank !== 2) {
    throw new AmssArgumentError(`amss: classifier ${cls.name} has no rank-2 gradient`);
  }
  // a row's importance: its sum of squared gradients, or of Fisher entries (Sec. 3.2.2)
  const impT = tf.tidy(() => {
    if (importance !== "fisher") return tf.sum(tf.square(g), 1);
    const f = (ctx.extras as AmssExtras).fisher?.[cls.name];
    if (!f || f.shape[0] !== g.shape[0] || f.shape[1] !== g.shape[1]) {
      throw new AmssArgumentError(
        `amss: importance "fisher": extras.fisher.${cls.name} must be of the classifier's shape [${g.shape}]`,
      );
    }
    return tf.sum(f, 1);
  });
  const imp = await impT.data();
  impT.dispose();
  const rowScale = new Float32Array(g.shape[0]).fill(1);
  for (const [mi, mod] of plan.modalities.entries()) {
    const [a, b] = cls.rows[mod];
    if (b > g.shape[0]) {
      throw new AmssArgumentError(
        `classifier.rows.${mod} ends at ${b}, but ${cls.name} has ${g.shape[0]} rows`,
      );
    }
    const raw = Float64Array.from(imp.subarray(a, b));
    if (s.recordImportance) (info.importance ??= {})[`classifier/${mod}`] = raw.slice();
    const total = raw.reduce((x, y) => x + y, 0);
    if (!Number.isFinite(total)) {
      throw new AmssArgumentError(`amss: non-finite classifier gradient at step ${ctx.step}`);
    }
    const p = samplingLaw(raw, total, eps, new Float64Array(b - a));
    const k = unitsToKeep(Math.max(rho[mi], Number.MIN_VALUE), b - a, rounding);
    const m = maskFor(scale, p, sampleUnits(sampler, p, k, rng, { onShortfall: "fill" }));
    rowScale.set(Float32Array.from(m), a);
    for (const v of m) if (v > info.maxWeight) info.maxWeight = v;
    info.kept[`classifier/${mod}`] = [k, b - a];
    if (s.recordSelection) (info.masks ??= {})[`classifier/${mod}`] = m;
  }
  return rowScale;
}

/**
 * Applies the step's mask: one upload; one multiply for all element-wise groups, one broadcast
 * multiply per other masked variable. In `chain(amss, sgd)` with the fused kernel, the mask is left
 * to sgd instead (src/unit_scale.ts). `apply: "gain-matched"` multiplies each modality's variables
 * by its coefficient instead.
 */
function applyMask(
  s: Settings,
  groups: GroupLayout,
  split: BufferSplit,
  updates: TensorMap,
  rowScale: Float32Array | null,
  { scaleAll, gainNum, gainDen, info, ctx }: Draw,
): TensorMap {
  const { plan, apply, cls } = s;
  const { layout, elementGroups, otherGroups, elementUnits, totalUnits } = groups;
  const out: TensorMap = { ...updates };
  const updateOf = (name: string) => {
    const u = updates[name];
    if (!u) throw new AmssArgumentError(`amss: no update for masked variable ${name}`);
    return u;
  };
  if (apply === "gain-matched") {
    info.gain = {};
    info.maxWeight = 0;
    plan.modalities.forEach((mod, i) => {
      const v = gainDen[i] > 0 ? gainNum[i] / gainDen[i] : 1;
      info.gain![mod] = v;
      info.maxWeight = Math.max(info.maxWeight, v);
    });
    tf.tidy(() => {
      for (const g of layout) {
        const v = info.gain![g.modality];
        for (const mb of g.members) out[mb.name] = tf.keep(tf.mul(updateOf(mb.name), v));
      }
    });
    return out;
  }
  if (cls && rowScale) {
    const u = updateOf(cls.name);
    const rs = rowScale;
    out[cls.name] = tf.tidy(() => tf.mul(u, tf.tensor2d(rs, [rs.length, 1])));
  }
  if (mayDeferUnitScale(ctx) && totalUnits > 0) {
    // the next part (sgd's fused kernel) multiplies as it steps: no pass of our own
    for (const name of split.views.keys()) updateOf(name);
    deferUnitScale(ctx, { scale: tf.tensor1d(scaleAll), views: split.views });
    return out;
  }
  tf.tidy(() => {
    const all = tf.tensor1d(scaleAll);
    // one split of the mask buffer instead of a slice per group
    const order = [...(elementUnits ? [null] : []), ...split.fast, ...split.slow];
    const sizes = order.map((g) => g ? g.units : elementUnits);
    const slices = order.length > 1 ? tf.split(all, sizes) : [all];
    const sliceOf = new Map(order.map((g, i) => [g ? g.id : "", slices[i] as tf.Tensor1D]));
    if (elementGroups.length) {
      const flat = tf.concat(elementGroups.map((g) => flat1d(updateOf(g.members[0].name))));
      const pieces = tf.split(
        tf.mul(flat, sliceOf.get("")!),
        elementGroups.map((g) => g.units),
      );
      elementGroups.forEach((g, i) => {
        const name = g.members[0].name;
        const shape = updates[name].shape;
        out[name] = tf.keep(shape.length === 1 ? pieces[i] : pieces[i].reshape(shape));
      });
    }
    for (const g of otherGroups) {
      const sc = sliceOf.get(g.id)!;
      for (const mb of g.members) {
        out[mb.name] = tf.keep(applyUnitScale(updateOf(mb.name), sc, mb.spec));
      }
    }
  });
  return out;
}
