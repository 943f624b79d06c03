/**
 * Which variables belong to which modality, and how each masked variable splits into units.
 *
 * A {@link MaskPlan} is built once from the parameter names and shapes by two predicates:
 * `modalityOf` (the modality whose subnetwork a variable belongs to, or `null` for shared parts
 * such as a fusion head that AMSS never masks) and `unitOf` (how a variable splits into mask units,
 * or `null` to leave it unmasked). Appendix C.2 fixes the scope: under late fusion a modality's
 * subnetwork includes its own classifier; under other fusions only its encoder.
 *
 * @module
 */
import { AmssArgumentError } from "../validate.ts";
import { unitLayout, type UnitSpec } from "./units.ts";

/** A unit spec, optionally joining a named group shared by several variables (attention heads). */
export type UnitRule = UnitSpec & { group?: string };

/** Predicates that select and split the variables. */
export interface PlanRules {
  /** Modality names, in the order significance inputs and ratios use. */
  modalities: readonly string[];
  /** The modality a variable belongs to, or null if it belongs to none (never masked). */
  modalityOf(name: string, shape: readonly number[]): string | null;
  /** How a variable of a modality splits into mask units, or null to leave it unmasked. */
  unitOf(name: string, shape: readonly number[]): UnitRule | null;
}

/** One variable inside a mask group. */
export interface MaskMember {
  /** Parameter name. */
  name: string;
  /** How the parameter splits into the group's units. */
  spec: UnitSpec;
}

/** A layer in the paper's sense: C_l units sampled together (Sec. 3.2.2, Appendix C.2). */
export interface MaskGroup {
  /** Group id: the parameter name, or the rule's `group` for shared groups. */
  id: string;
  /** The modality whose subnetwork the group belongs to. */
  modality: string;
  /** C_l, the number of mask units. */
  units: number;
  /** The variables masked together. */
  members: MaskMember[];
}

/** The result of {@link planMasks}. */
export interface MaskPlan {
  /** Modality names, in the order of the rules. */
  modalities: string[];
  /** The mask groups, in the order their first parameter comes in `params`. */
  groups: MaskGroup[];
  /** Variables that pass through AMSS unchanged. */
  unmasked: string[];
}

/**
 * Groups `params` (anything with a `shape`) into mask groups.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { planMasks } from "@amss-ts/amss";
 * const params = {
 *   "audio/conv": { shape: [3, 3, 1, 8] },
 *   "visual/dense": { shape: [16, 4] },
 *   "fusion/kernel": { shape: [12, 3] },
 * };
 * const plan = planMasks(params, {
 *   modalities: ["audio", "visual"],
 *   modalityOf: (n) => n.startsWith("audio/") ? "audio" : n.startsWith("visual/") ? "visual" : null,
 *   unitOf: (_n, shape) => shape.length === 4 ? { kind: "channel" } : { kind: "element" },
 * });
 * // audio/conv: 8 output channels; visual/dense: 64 elements; the fusion head is never masked
 * assert(plan.groups.map((g) => g.units).join() === "8,64");
 * assert(plan.unmasked.join() === "fusion/kernel");
 * ```
 */
export function planMasks(
  params: Record<string, { shape: readonly number[] }>,
  rules: PlanRules,
): MaskPlan {
  const modalities = [...rules.modalities];
  if (modalities.length < 2) {
    throw new AmssArgumentError(
      `rules.modalities must name at least 2 modalities, got ${modalities.length}`,
    );
  }
  if (new Set(modalities).size !== modalities.length) {
    throw new AmssArgumentError(`rules.modalities has duplicate names: ${modalities.join(", ")}`);
  }
  const groups = new Map<string, MaskGroup>();
  const unmasked: string[] = [];
  for (const [name, { shape }] of Object.entries(params)) {
    const modality = rules.modalityOf(name, shape);
    const rule = modality === null ? null : rules.unitOf(name, shape);
    if (modality === null || rule === null) {
      unmasked.push(name);
      continue;
    }
    if (!modalities.includes(modality)) {
      throw new AmssArgumentError(
        `modalityOf(${JSON.stringify(name)}) returned ${JSON.stringify(modality)}, not one of ${
          modalities.join(", ")
        }`,
      );
    }
    const { group, ...spec } = rule;
    const { units } = unitLayout(shape, spec as UnitSpec, `variable ${JSON.stringify(name)}`);
    const id = group ?? name;
    const g = groups.get(id);
    if (!g) {
      groups.set(id, { id, modality, units, members: [{ name, spec: spec as UnitSpec }] });
    } else {
      if (g.modality !== modality || g.units !== units) {
        throw new AmssArgumentError(
          `variable ${JSON.stringify(name)} joins group ${
            JSON.stringify(id)
          } with ${units} units of ${modality}, ` +
            `but the group has ${g.units} units of ${g.modality}`,
        );
      }
      g.members.push({ name, spec: spec as UnitSpec });
    }
  }
  for (const m of modalities) {
    if (![...groups.values()].some((g) => g.modality === m)) {
      throw new AmssArgumentError(`modality ${JSON.stringify(m)} has no masked variable`);
    }
  }
  return { modalities, groups: [...groups.values()], unmasked };
}

/**
 * The authors' audio-video selection: only the 3x3 convolutions inside ResNet18 stages
 * layer1..layer4, channel-wise (output channels, the last axis of a tfjs kernel); the stem, 1x1
 * downsample convs, batch norm and the fusion head stay unmasked (the reference code builds a
 * fusion-head mask but never applies it). Names are matched by `/layer[1-4]/` and the kernel shape
 * `[3, 3, in, out]`.
 */
export function referenceResNetUnits(name: string, shape: readonly number[]): UnitRule | null {
  return /layer[1-4]/.test(name) && shape.length === 4 && shape[0] === 3 && shape[1] === 3
    ? { kind: "channel" }
    : null;
}

/**
 * The paper's default units (Appendix C.2): conv kernels (rank 4) channel-wise, everything else
 * element-wise. Attention heads need a rule that knows the layer's head count.
 */
export function paperUnits(_name: string, shape: readonly number[]): UnitRule | null {
  return shape.length === 4 ? { kind: "channel" } : { kind: "element" };
}

/**
 * The "neuron" units of the bench's `units: "neuron"` option: rank-2 kernels `[in, out]` split by output neuron (last axis), each joined by the
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

/** `modalityOf` for parameter names prefixed by the modality (`"audio/..."`, `"visual/..."`). */
export function modalityByPrefix(
  modalities: readonly string[],
  separator = "/",
): (name: string) => string | null {
  return (name) => modalities.find((m) => name.startsWith(m + separator)) ?? null;
}
