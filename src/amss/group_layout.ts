/**
 * Where the masked groups of an AMSS/AMSS+ plan sit in the per-step buffers: the order in which
 * the unit importances (Sec. 3.2.2) are scored into one download and the mask values come back in
 * one upload (element-wise groups first, then channel groups scored together, then the rest), the
 * per-modality sampling pools of `normalise: "modality"`, and the sampling loop's scratch buffers.
 *
 * Fixed by the plan (the buffer split also by the gradients' shapes, at the first step), so the
 * transform (./amss.ts) builds it once and the per-step draws (./draw.ts) read it every step.
 *
 * @module
 */
import type { Settings } from "./amss_config.ts";
import type { MaskPlan } from "./groups.ts";
import { SuccessiveScratch } from "./successive_mask.ts";
import { unitLayout } from "./units.ts";

type Group = MaskPlan["groups"][number];

/**
 * The masked groups in buffer order. Scores and mask values are laid out with the single-variable
 * element-wise groups first; `layout` is also the order in which the units are sampled.
 */
export interface GroupLayout {
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

export function groupLayout(s: Settings): GroupLayout {
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
export interface BufferSplit {
  fast: Group[];
  slow: Group[];
  counts: Float32Array; // per unit of `fast`: the number of elements it sums
  offset: Map<string, number>;
  /** Every member of every group: `[pre, units, post, offset]` (a deferred unit scale's views). */
  views: Map<string, readonly [number, number, number, number]>;
}

export function splitGroups(
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
export interface Scratch {
  /** Per group: p and the mask (the largest group's size). */
  p: Float64Array;
  mask: Float64Array;
  successive: SuccessiveScratch;
  /** `normalise: "modality"`: per pool, allocated at the first step. */
  pools: { raw: Float64Array; p: Float64Array; m: Float64Array } | null;
}

export function newScratch(groups: GroupLayout): Scratch {
  return {
    p: new Float64Array(groups.maxUnits),
    mask: new Float64Array(groups.maxUnits),
    successive: new SuccessiveScratch(),
    pools: null,
  };
}
