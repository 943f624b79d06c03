/**
 * One AMSS/AMSS+ step once the update ratios rho_k are known (paper Sec. 3.2.2 and 3.3): the
 * importance of every unit of every masked group (the authors' squared mini-batch gradient by
 * default, or the paper's per-sample Fisher), normalised into the sampling law p; the draw of
 * `ceil(rho_k * C)` units per layer, per modality, or per modality's rows of the shared classifier
 * (Table 7); the mask values (0/1 for AMSS, Eq. 1; scaled for AMSS+, Eq. 5 and its variants); and
 * the mask applied to the updates.
 *
 * The transform's hot path: one download of one score per unit and one upload of one mask value
 * per unit, with plain typed-array loops in between. The transform (./amss.ts) calls these in
 * order; the buffers they share are laid out by ./group_layout.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { TensorMap, UpdateContext } from "../transform.ts";
import { deferUnitScale, mayDeferUnitScale } from "../unit_scale.ts";
import { AmssArgumentError, listNames } from "../validate.ts";
import type { AmssConfig, AmssExtras, AmssInfo, Settings } from "./amss_config.ts";
import type { BufferSplit, GroupLayout, Scratch } from "./group_layout.ts";
import { defensiveMixture, type MaskScale, unitMask } from "./mask.ts";
import { sampleUnits, type UnitSample, unitsToKeep } from "./sampling.ts";
import { successiveMask } from "./successive_mask.ts";
import { applyUnitScale, groupImportance } from "./units.ts";

/** The step's gradients and Fisher entries of the masked variables, each checked when read. */
interface StepInputs {
  gradOf(name: string): tf.Tensor;
  fisherOf(name: string): tf.Tensor;
}

export function stepInputs(s: Settings, ctx: UpdateContext): StepInputs {
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
export async function unitScores(
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
export interface Draw {
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
export function drawPerLayer(
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
export function drawPerModality(
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
export async function drawClassifier(
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
export function applyMask(
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
