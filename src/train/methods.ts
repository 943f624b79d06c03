/**
 * Rebalancing methods behind one interface, so that the trainer has no per-method branches. A
 * method says which logits the default loss uses and which gradient transformation stands before
 * the optimizer, and may replace the loss (PMR, G-Blending), act per epoch (PMR's prototypes, MSES,
 * G-Blending) and keep checkpointed state (see ./rebalance/base.ts for the interface). The trainer
 * passes every transformation the same per-step extras (`{ batch, fused, epoch }`: labels,
 * uni-modal logits, features, fused logits).
 *
 * PMR, AGM, Greedy, MSES and G-Blending live in ./rebalance/ (one module each, with the paper, the
 * formula and every choice the paper leaves open in its header).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { amss, type SignificanceConfig } from "../amss/amss.ts";
import { planMasks, type PlanRules } from "../amss/groups.ts";
import type { MaskScale } from "../amss/mask.ts";
import type { SamplerKind } from "../amss/sampling.ts";
import type { ModalBatch } from "../amss/significance.ts";
import { Rng } from "../rng.ts";
import type { GradientTransformation, TensorMap } from "../transform.ts";
import { AmssArgumentError, requireFinite, requireInRange, requirePositive } from "../validate.ts";
import { type AgmOptions, createAgm } from "./rebalance/agm.ts";
import {
  type Method,
  METHOD_NAMES,
  type MethodContext,
  type MethodName,
  variablesByModality,
} from "./rebalance/base.ts";
import { createGBlend, type GBlendOptions } from "./rebalance/gblend.ts";
import { createGreedy, type GreedyOptions } from "./rebalance/greedy.ts";
import { createMses, type MsesOptions } from "./rebalance/mses.ts";
import { createPmr, type PmrOptions } from "./rebalance/pmr.ts";

export { METHOD_NAMES, variablesByModality };
export type { Method, MethodContext, MethodName };
export type {
  EpochEndInfo,
  EpochStartInfo,
  EvalMetrics,
  FeatureVisitor,
  LossContext,
} from "./rebalance/base.ts";
export type { AgmOptions, GBlendOptions, GreedyOptions, MsesOptions, PmrOptions };

/** Floor on H(X_k) used in training (see PaperSignificanceConfig.entropyFloor). */
export const ENTROPY_FLOOR = 1e-3;

/** Options of every method (each method reads the ones it needs). */
export interface MethodOptions {
  /** unimodal: which modality is trained alone. */
  modality?: string;
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
  /** global-scale: gradient coefficient v_k per modality (Table 1, default 1). mslr: lr multipliers. */
  scales?: Record<string, number>;
  /** ogm-ge: modulation strength alpha (OGM-GE's default 0.1) and whether to add GE noise. */
  alpha?: number;
  /** ogm-ge: add the GE noise (default true). */
  noise?: boolean;
  /** pmr: Prototypical Modal Rebalance (./rebalance/pmr.ts). */
  pmr?: PmrOptions;
  /** agm: Adaptive Gradient Modulation (./rebalance/agm.ts). */
  agm?: AgmOptions;
  /** greedy: balanced multi-modal learning of Wu et al. (./rebalance/greedy.ts). */
  greedy?: GreedyOptions;
  /** mses: modality-specific early stopping (./rebalance/mses.ts). */
  mses?: MsesOptions;
  /** g-blending: Gradient Blending (./rebalance/gblend.ts). */
  gblend?: GBlendOptions;
}

/** Multiplies the gradients of each modality's variables by a per-step coefficient. */
function modalityScaling(
  ctx: MethodContext,
  coefficients: (batch: ModalBatch | undefined, step: number) => Record<string, number>,
  noise?: (name: string, g: tf.Tensor, step: number) => tf.Tensor | null,
  report?: string,
): GradientTransformation<null> {
  const owner = new Map<string, string>();
  for (const [m, names] of Object.entries(variablesByModality(ctx))) {
    for (const n of names) owner.set(n, m);
  }
  return {
    init: () => null,
    update(updates, _s, c) {
      const coeff = coefficients(c.extras.batch as ModalBatch | undefined, c.step);
      if (report) c.info[report] = coeff;
      const out: TensorMap = { ...updates };
      for (const [name, g] of Object.entries(updates)) {
        const m = owner.get(name);
        if (m === undefined) continue;
        const k = coeff[m] ?? 1;
        const extra = noise?.(name, g, c.step) ?? null;
        if (k === 1 && !extra) continue;
        out[name] = tf.tidy(() => {
          const scaled = k === 1 ? g.clone() : tf.mul(g, k);
          return extra ? tf.add(scaled, extra) : scaled;
        });
        extra?.dispose();
      }
      return out;
    },
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function softmaxTrueScore(batch: ModalBatch, k: number): number {
  const C = batch.numClasses;
  const x = batch.predictions[k];
  let s = 0;
  for (let i = 0; i < batch.labels.length; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, x[i * C + c]);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(x[i * C + c] - max);
    s += Math.exp(x[i * C + batch.labels[i]] - max) / z;
  }
  return s;
}

/**
 * "neuron" units: rank-2 kernels `[in, out]` split by output neuron (last axis), each joined by the
 * bias of the same layer (`.../kernel` + `.../bias` form one group); everything else as `base`.
 */
export function neuronRules(base: PlanRules): PlanRules {
  return {
    ...base,
    unitOf(name, shape) {
      const layer = name.replace(/\/(kernel|bias)$/, "");
      if (
        layer !== name && (shape.length === 2 || (shape.length === 1 && name.endsWith("/bias")))
      ) {
        const rule = base.unitOf(name, shape);
        if (rule === null || rule.kind !== "element") return rule;
        return { kind: "channel", axis: -1, group: layer };
      }
      return base.unitOf(name, shape);
    },
  };
}

/** Builds a method from its name and options. */
export function createMethod(name: MethodName, opts: MethodOptions, ctx: MethodContext): Method {
  const { modalities } = ctx;
  switch (name) {
    case "joint":
      return { name, label: "joint (concat baseline)", lossOn: "fused", transform: null };
    case "unimodal": {
      const k = modalities.indexOf(opts.modality ?? "");
      if (k < 0) {
        throw new AmssArgumentError(
          `unimodal: option modality must be one of ${modalities.join(", ")}, got ${opts.modality}`,
        );
      }
      return { name, label: `unimodal (${opts.modality})`, lossOn: k, transform: null };
    }
    case "amss":
    case "amss+":
    case "random-mask": {
      const units = opts.units ?? "paper";
      const tau = requirePositive("tau", opts.tau ?? 0.25);
      const mode = opts.significance ?? "paper";
      const significance: SignificanceConfig = mode === "reference"
        ? { mode, tau }
        : { mode, tau, lambda: opts.lambda ?? 0.9, entropyFloor: ENTROPY_FLOOR };
      const scale: MaskScale = name === "amss" ? "none" : opts.scale ?? "reference";
      const sampler: SamplerKind = name === "random-mask" ? "uniform" : opts.sampler ?? "adaptive";
      const plan = planMasks(
        ctx.params,
        units === "neuron" ? neuronRules(ctx.rules("paper")) : ctx.rules(units),
      );
      const apply = opts.apply ?? "mask";
      if (opts.ratios) {
        for (const m of Object.keys(opts.ratios)) {
          if (!modalities.includes(m)) {
            throw new AmssArgumentError(`${name}: ratios names unknown modality ${m}`);
          }
        }
      }
      const target = opts.maskTarget ?? "backbone";
      const importance = opts.importance ?? "gn";
      const normalise = opts.normalise ?? "layer";
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
        ...(opts.ratios
          ? [`rho ${modalities.map((m) => `${m} ${opts.ratios![m]}`).join(" ")}`]
          : []),
      ];
      const label =
        (name === "amss"
          ? "amss"
          : `${name} (${scale}${name === "random-mask" ? ", uniform" : ""})`) +
        (extra.length ? ` [${extra.join(", ")}]` : "");
      return {
        name,
        label,
        lossOn: "fused",
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
    case "global-scale":
    case "mslr": {
      const scales = opts.scales ?? {};
      for (const [m, v] of Object.entries(scales)) {
        if (!modalities.includes(m)) {
          throw new AmssArgumentError(`${name}: scales names unknown modality ${m}`);
        }
        requireInRange(`${name}: scales.${m}`, v, 0, Infinity);
      }
      const label = `${name} (${modalities.map((m) => `${m} ${scales[m] ?? 1}`).join(", ")})`;
      // global-scale: Table 1's global-wise coefficient v_k on the gradient. mslr ("keep" variant of
      // modality-specific learning rates): the same arithmetic under plain SGD, a fixed lr
      // multiplier per modality; with momentum/Adam both act on the gradient before the optimizer.
      return { name, label, lossOn: "fused", transform: modalityScaling(ctx, () => scales) };
    }
    case "ogm-ge": {
      if (modalities.length !== 2) {
        throw new AmssArgumentError(
          `ogm-ge is defined for two modalities, the model has ${modalities.length}`,
        );
      }
      const alpha = requireFinite("alpha", opts.alpha ?? 0.1);
      const noise = opts.noise ?? true;

      // OGM-GE (Peng et al., CVPR 2022): discrepancy ratio of the summed true-class softmax scores
      // of the uni-modal predictions; the dominant modality's gradient is multiplied by
      // 1 - tanh(alpha * (ratio - 1)); GE adds N(0, std(g)^2) noise to the modulated encoders' conv
      // gradients (as the authors' code, to both encoders).
      const coefficients = (batch: ModalBatch | undefined) => {
        if (!batch) {
          throw new AmssArgumentError("ogm-ge needs extras.batch (uni-modal predictions)");
        }
        const s0 = softmaxTrueScore(batch, 0), s1 = softmaxTrueScore(batch, 1);
        const r0 = s0 / s1, r1 = s1 / s0;
        const c: Record<string, number> = { [modalities[0]]: 1, [modalities[1]]: 1 };
        if (r0 > 1) c[modalities[0]] = 1 - Math.tanh(alpha * (r0 - 1));
        else if (r1 > 1) c[modalities[1]] = 1 - Math.tanh(alpha * (r1 - 1));
        return c;
      };
      // noise seed: a function of (run seed, step, variable), so a resumed run draws the same noise
      const ge = (name: string, g: tf.Tensor, stepNo: number) =>
        noise && g.rank === 4
          ? tf.tidy(() => {
            const std = tf.sqrt(tf.moments(g).variance).add(1e-8);
            const seed = 1 +
              new Rng(ctx.seed * 1_000_003 + stepNo * 7919 + hash(name)).int(0x7ffffffe);
            return tf.mul(tf.randomNormal(g.shape, 0, 1, "float32", seed), std);
          })
          : null;
      return {
        name,
        label: `ogm-ge (alpha ${alpha})`,
        lossOn: "fused",
        transform: modalityScaling(ctx, coefficients, ge, "ogm"),
      };
    }
    case "pmr":
      return createPmr(opts.pmr ?? {}, ctx);
    case "agm":
      return createAgm(opts.agm ?? {}, ctx);
    case "greedy":
      return createGreedy(opts.greedy ?? {}, ctx);
    case "mses":
      return createMses(opts.mses ?? {}, ctx);
    case "g-blending":
      return createGBlend(opts.gblend ?? {}, ctx);
  }
  throw new AmssArgumentError(
    `method must be one of ${METHOD_NAMES.join(", ")}, got ${JSON.stringify(name)}`,
  );
}
