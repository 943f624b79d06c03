/**
 * Synthetic smooth objectives for checking the paper's convergence theorems (Sec. 3.3, App. A.1 and
 * A.2) by simulation: plain TypeScript on Float64Array, every random choice seeded.
 *
 * Every objective is non-negative with infimum exactly 0 (attained at a known point), so the
 * theorems' last step (Eq. 19 / Eq. 29: L(w(1)) - L(w(T+1)) <= L(w(1)), which needs inf L >= 0)
 * applies with no shift, and L(w(1)) - inf L = L(w(1)) is known. Each documents a smoothness
 * constant L that is a PROVEN upper bound on the Lipschitz constant of its gradient (Assumption 1,
 * Eq. 8), derived in its JSDoc; each construction scales its parameters so that this bound equals
 * the requested `smoothness` exactly.
 *
 * Coordinates are grouped as the engine groups parameters: a {@link Layout} says which mask unit
 * every coordinate belongs to, which layer (sampling group) every unit belongs to, and which
 * modality every layer belongs to, so that per-layer sampling of ceil(rho_k C_l) units applies.
 *
 * @example
 * ```ts
 * import { logSumObjective, makeLayout } from "@amss-ts/amss/theory";
 * const layout = makeLayout({
 *   modalities: ["audio", "video"],
 *   layers: [
 *     { modality: "audio", units: 16, unitSize: 8 },
 *     { modality: "video", units: 16, unitSize: 8 },
 *   ],
 * });
 * const f = logSumObjective({ layout, smoothness: 2, seed: 1 });
 * const g = f.gradient(f.start); // f.value(f.start) = L(w(1)), f.infimum = 0
 * ```
 * @module
 */

import { Rng } from "../rng.ts";
import {
  AmssArgumentError,
  requireFinite,
  requireInRange,
  requireInt,
  requirePositive,
} from "../validate.ts";

// ---------------------------------------------------------------------------------------------
// Layout

/** One layer (sampling group) of a {@link LayoutSpec}: `units` mask units of `unitSize` coordinates. */
export interface LayerSpec {
  /** Name of the modality the layer belongs to (one of `LayoutSpec.modalities`). */
  modality: string;
  /** Number of mask units C_l, integer >= 1. */
  units: number;
  /** Coordinates per unit, integer >= 1. */
  unitSize: number;
}

/** Input of {@link makeLayout}. */
export interface LayoutSpec {
  /** Modality names, distinct, at least one. */
  modalities: string[];
  /** Layers in coordinate order; every modality needs at least one layer. */
  layers: LayerSpec[];
}

/** One layer of a {@link Layout}: units `firstUnit .. firstUnit + units - 1` of modality `modality`. */
export interface LayoutLayer {
  /** Index into `Layout.modalities`. */
  modality: number;
  /** Global index of the layer's first unit. */
  firstUnit: number;
  /** Number of units C_l. */
  units: number;
}

/**
 * How coordinates group into mask units, units into layers and layers into modalities. Units are
 * contiguous coordinate ranges: unit u covers `[unitOffsets[u], unitOffsets[u + 1])`.
 */
export interface Layout {
  /** Number of coordinates d. */
  dim: number;
  /** Modality names. */
  modalities: readonly string[];
  /** Layers (sampling groups), in coordinate order. */
  layers: readonly LayoutLayer[];
  /** Number of units (sum of C_l). */
  numUnits: number;
  /** Length numUnits + 1: unit u covers coordinates [unitOffsets[u], unitOffsets[u + 1]). */
  unitOffsets: Int32Array;
  /** Unit index of every coordinate (length dim). */
  unitOf: Int32Array;
  /** Modality index of every unit (length numUnits). */
  modalityOfUnit: Int32Array;
  /** Layer index of every unit (length numUnits). */
  layerOfUnit: Int32Array;
}

/**
 * Builds a {@link Layout} from layer sizes. Errors (AmssArgumentError) name the offending field.
 *
 * @example
 * ```ts
 * const lay = makeLayout({ modalities: ["a"], layers: [{ modality: "a", units: 4, unitSize: 2 }] });
 * // lay.dim === 8, lay.unitOf = [0, 0, 1, 1, 2, 2, 3, 3]
 * ```
 */
export function makeLayout(spec: LayoutSpec): Layout {
  if (!spec || !Array.isArray(spec.modalities) || spec.modalities.length === 0) {
    throw new AmssArgumentError("spec.modalities must be a non-empty array of names");
  }
  if (new Set(spec.modalities).size !== spec.modalities.length) {
    throw new AmssArgumentError(
      `spec.modalities must be distinct, got ${JSON.stringify(spec.modalities)}`,
    );
  }
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) {
    throw new AmssArgumentError("spec.layers must be a non-empty array");
  }
  const layers: LayoutLayer[] = [];
  let numUnits = 0;
  let dim = 0;
  spec.layers.forEach((l, i) => {
    const m = spec.modalities.indexOf(l.modality);
    if (m < 0) {
      throw new AmssArgumentError(
        `spec.layers[${i}].modality must be one of ${JSON.stringify(spec.modalities)}, got ${
          JSON.stringify(l.modality)
        }`,
      );
    }
    requireInt(`spec.layers[${i}].units`, l.units, 1);
    requireInt(`spec.layers[${i}].unitSize`, l.unitSize, 1);
    layers.push({ modality: m, firstUnit: numUnits, units: l.units });
    numUnits += l.units;
    dim += l.units * l.unitSize;
  });
  spec.modalities.forEach((name, m) => {
    if (!layers.some((l) => l.modality === m)) {
      throw new AmssArgumentError(`modality ${JSON.stringify(name)} has no layer in spec.layers`);
    }
  });
  const unitOffsets = new Int32Array(numUnits + 1);
  const unitOf = new Int32Array(dim);
  const modalityOfUnit = new Int32Array(numUnits);
  const layerOfUnit = new Int32Array(numUnits);
  let u = 0;
  let off = 0;
  spec.layers.forEach((l, li) => {
    for (let j = 0; j < l.units; j++, u++) {
      unitOffsets[u] = off;
      modalityOfUnit[u] = layers[li].modality;
      layerOfUnit[u] = li;
      for (let c = 0; c < l.unitSize; c++) unitOf[off++] = u;
    }
  });
  unitOffsets[numUnits] = off;
  return {
    dim,
    modalities: [...spec.modalities],
    layers,
    numUnits,
    unitOffsets,
    unitOf,
    modalityOfUnit,
    layerOfUnit,
  };
}

/**
 * A layout of `modalities.length` modalities, each with `layersPerModality` layers of `units` units
 * of `unitSize` coordinates (dim = modalities * layers * units * unitSize).
 *
 * @example
 * ```ts
 * const lay = uniformLayout(["audio", "video"], 2, 16, 8); // dim 512, 4 layers of 16 units
 * ```
 */
export function uniformLayout(
  modalities: string[],
  layersPerModality: number,
  units: number,
  unitSize: number,
): Layout {
  requireInt("layersPerModality", layersPerModality, 1);
  const layers: LayerSpec[] = [];
  for (const m of modalities) {
    for (let i = 0; i < layersPerModality; i++) layers.push({ modality: m, units, unitSize });
  }
  return makeLayout({ modalities, layers });
}

// ---------------------------------------------------------------------------------------------
// Objectives

/** The three families of {@link Objective}. */
export type ObjectiveKind = "logsum" | "tanh-regression" | "quadratic";

/** Every {@link ObjectiveKind}. */
export const OBJECTIVE_KINDS: readonly ObjectiveKind[] = ["logsum", "tanh-regression", "quadratic"];

/**
 * A smooth objective L(w) on R^dim, non-negative with infimum 0 (Assumption 1 plus the theorems'
 * inf L >= 0).
 */
export interface Objective {
  /** Family. */
  kind: ObjectiveKind;
  /** Short human-readable description with its parameters. */
  name: string;
  /** The coordinate layout (units, layers, modalities). */
  layout: Layout;
  /** Dimension d (= layout.dim). */
  dim: number;
  /** A proven upper bound on the Lipschitz constant of the gradient (Assumption 1, Eq. 8). */
  smoothness: number;
  /** inf_w L(w); 0 for every objective here (attained at `minimizer`). */
  infimum: number;
  /** A point where L = infimum. */
  minimizer: Float64Array;
  /** The starting point w(1) of the simulations. */
  start: Float64Array;
  /** L(w). */
  value(w: Float64Array): number;
  /** grad L(w), written into `out` (allocated when omitted) and returned. */
  gradient(w: Float64Array, out?: Float64Array): Float64Array;
}

/** Options shared by the objective constructors. */
export interface ObjectiveOptions {
  /** Coordinate layout. */
  layout: Layout;
  /** The smoothness constant L > 0 the objective is scaled to (a proven bound, attained or nearly). */
  smoothness: number;
  /** Seed of the objective's random parameters. */
  seed: number;
  /**
   * Heterogeneity of the units: each unit gets a curvature scale s_u, log-uniform in
   * [curvatureRange^-1, 1] (the largest is set to exactly 1). Default 10; 1 = homogeneous.
   */
  curvatureRange?: number;
}

function checkCommon(opts: ObjectiveOptions): { L: number; range: number; rng: Rng } {
  if (!opts || !opts.layout || !(opts.layout.unitOf instanceof Int32Array)) {
    throw new AmssArgumentError("opts.layout must be a Layout from makeLayout");
  }
  const L = requirePositive("opts.smoothness", opts.smoothness);
  const range = requireInRange("opts.curvatureRange", opts.curvatureRange ?? 10, 1, 1e6);
  requireFinite("opts.seed", opts.seed);
  return { L, range, rng: new Rng(opts.seed) };
}

/** Unit curvature scales s_u log-uniform in [1/range, 1], the largest set to exactly 1. */
function unitScales(layout: Layout, range: number, rng: Rng): Float64Array {
  const s = new Float64Array(layout.numUnits);
  let iMax = 0;
  for (let u = 0; u < s.length; u++) {
    s[u] = Math.exp(-Math.log(range) * rng.float());
    if (s[u] > s[iMax]) iMax = u;
  }
  s[iMax] = 1;
  return s;
}

function allocOut(dim: number, out?: Float64Array): Float64Array {
  if (out === undefined) return new Float64Array(dim);
  if (!(out instanceof Float64Array) || out.length !== dim) {
    throw new AmssArgumentError(`out must be a Float64Array of length ${dim}`);
  }
  return out;
}

function checkPoint(dim: number, w: Float64Array): void {
  if (!(w instanceof Float64Array) || w.length !== dim) {
    throw new AmssArgumentError(
      `w must be a Float64Array of length ${dim}, got ${
        w instanceof Float64Array ? `length ${w.length}` : typeof w
      }`,
    );
  }
}

/** Options of {@link logSumObjective}. */
export interface LogSumOptions extends ObjectiveOptions {
  /** Standard deviation of the centres a_i (the start is w(1) = 0). Default 2. */
  spread?: number;
}

/**
 * A sum of non-convex smooth terms: L(w) = sum_i c_i log(1 + (w_i - a_i)^2), c_i = (L/2) s_u(i).
 *
 * Smoothness (proof): the Hessian is diagonal with entries
 * h_i(x) = 2 c_i (1 - x^2) / (1 + x^2)^2, x = w_i - a_i. On x^2 = y >= 0, (1 - y)/(1 + y)^2 lies in
 * [-1/8, 1]: it is 1 at y = 0, decreasing to its minimum -1/8 at y = 3, then rises to 0. So
 * |h_i| <= 2 c_i <= 2 max c = L, and the gradient is L-Lipschitz (a diagonal Hessian bounded by L in
 * absolute value everywhere, mean value theorem). The bound is attained at w_i = a_i for a unit
 * with s_u = 1. Non-convex: h_i < 0 wherever |w_i - a_i| > 1, which holds at the start w(1) = 0
 * for every coordinate with |a_i| > 1 (about 62% of them with the default spread 2).
 *
 * Minimum: L >= 0 with L(a) = 0, so inf L = 0.
 *
 * @example
 * ```ts
 * const f = logSumObjective({ layout: uniformLayout(["a"], 1, 8, 4), smoothness: 1, seed: 3 });
 * f.value(f.minimizer); // 0
 * ```
 */
export function logSumObjective(opts: LogSumOptions): Objective {
  const { L, range, rng } = checkCommon(opts);
  const spread = requirePositive("opts.spread", opts.spread ?? 2);
  const layout = opts.layout;
  const d = layout.dim;
  const s = unitScales(layout, range, rng);
  const c = new Float64Array(d);
  const a = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    c[i] = (L / 2) * s[layout.unitOf[i]];
    a[i] = spread * rng.normal();
  }
  return {
    kind: "logsum",
    name: `logsum(d=${d}, L=${L}, range=${range}, spread=${spread})`,
    layout,
    dim: d,
    smoothness: L,
    infimum: 0,
    minimizer: a.slice(),
    start: new Float64Array(d),
    value(w) {
      checkPoint(d, w);
      let v = 0;
      for (let i = 0; i < d; i++) {
        const x = w[i] - a[i];
        v += c[i] * Math.log1p(x * x);
      }
      return v;
    },
    gradient(w, out) {
      checkPoint(d, w);
      const g = allocOut(d, out);
      for (let i = 0; i < d; i++) {
        const x = w[i] - a[i];
        g[i] = (2 * c[i] * x) / (1 + x * x);
      }
      return g;
    },
  };
}

/** Options of {@link quadraticObjective}. */
export interface QuadraticOptions extends ObjectiveOptions {
  /** Standard deviation of the centre a (the start is w(1) = 0). Default 1. */
  spread?: number;
}

/**
 * Sanity control: L(w) = 1/2 sum_i h_i (w_i - a_i)^2 with h_i = L s_u(i) in [L / range, L].
 *
 * Smoothness (proof): the Hessian is diag(h) with 0 < h_i <= L, so the gradient is L-Lipschitz;
 * attained by the unit with s_u = 1. Minimum: L >= 0, L(a) = 0, inf L = 0.
 *
 * @example
 * ```ts
 * const f = quadraticObjective({ layout: uniformLayout(["a"], 1, 8, 4), smoothness: 1, seed: 3 });
 * f.gradient(f.minimizer); // all zeros
 * ```
 */
export function quadraticObjective(opts: QuadraticOptions): Objective {
  const { L, range, rng } = checkCommon(opts);
  const spread = requirePositive("opts.spread", opts.spread ?? 1);
  const layout = opts.layout;
  const d = layout.dim;
  const s = unitScales(layout, range, rng);
  const h = new Float64Array(d);
  const a = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    h[i] = L * s[layout.unitOf[i]];
    a[i] = spread * rng.normal();
  }
  return {
    kind: "quadratic",
    name: `quadratic(d=${d}, L=${L}, range=${range}, spread=${spread})`,
    layout,
    dim: d,
    smoothness: L,
    infimum: 0,
    minimizer: a.slice(),
    start: new Float64Array(d),
    value(w) {
      checkPoint(d, w);
      let v = 0;
      for (let i = 0; i < d; i++) {
        const x = w[i] - a[i];
        v += 0.5 * h[i] * x * x;
      }
      return v;
    },
    gradient(w, out) {
      checkPoint(d, w);
      const g = allocOut(d, out);
      for (let i = 0; i < d; i++) g[i] = h[i] * (w[i] - a[i]);
      return g;
    },
  };
}

/** In-place unnormalised fast Walsh-Hadamard transform of `x` (length a power of 2). */
function fwht(x: Float64Array): void {
  const n = x.length;
  for (let h = 1; h < n; h <<= 1) {
    for (let i = 0; i < n; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const u = x[j];
        const v = x[j + h];
        x[j] = u + v;
        x[j + h] = u - v;
      }
    }
  }
}

/** Options of {@link tanhRegressionObjective}. */
export interface TanhRegressionOptions extends ObjectiveOptions {
  /** Number of orthogonal design blocks m (n = m * D samples, D = next power of 2 >= dim). Default 2. */
  blocks?: number;
  /** Standard deviation of the planted pre-activations z* = X w*. Default 1.5. */
  zScale?: number;
  /** Start w(1) = -startFactor * w* (negative: the path crosses the non-convex region). Default 0.5. */
  startFactor?: number;
}

/**
 * A smooth non-convex regression: least squares through a tanh,
 * L(w) = (1/n) sum_r f(x_r . w; y_r), f(z; y) = 1/2 (tanh z - y)^2, with targets y = tanh(X w*)
 * planted so that L(w*) = 0 = inf L (f >= 0).
 *
 * Design: n = m D samples in m blocks; block i is X_i = Q_i E diag(c_i), E the zero-padding
 * R^d -> R^D (D the next power of 2), Q_i = (H / sqrt D) S1_i (H / sqrt D) S2_i an exactly orthogonal
 * randomised Hadamard transform (H Walsh-Hadamard, S random sign diagonals), c_i[j] = c0 sqrt(s_u(j))
 * column scales. Every row mixes all coordinates, yet X^T X = sum_i diag(c_i^2) exactly, so
 * lambda_max(X^T X / n) = max_j sum_i c_i[j]^2 / n is known. Gradient: O(m D log D).
 *
 * Smoothness (proof): with s = tanh z, f'(z) = (s - y)(1 - s^2) and
 * f''(z) = (1 - s^2)(1 - 3 s^2 + 2 y s). For |y| <= 1 (true: y = tanh(.)):
 * upper, 1 - 3 s^2 + 2 y s <= 1 + 2|s| - 3 s^2 <= 4/3 (maximum at |s| = 1/3) and 0 < 1 - s^2 <= 1,
 * so f'' <= 4/3; lower, f'' >= -(1 - u)(1 + u)^2 (3u - 1) with u = |s| (only negative for u > 1/3),
 * and (1 - u)(3u - 1) = 3 (1 - u)(u - 1/3) <= 3 (1/3)^2 = 1/3 (AM-GM), (1 + u)^2 <= 4, so
 * f'' >= -4/3. The Hessian is (1/n) X^T diag(f''(z_r)) X, whose norm is <= (4/3) lambda_max(X^T X / n)
 * = (4/3) c0^2 max_u s_u m / n = (4/3) c0^2 / D. c0 is chosen so this equals L: c0 = sqrt(3 L D / 4).
 * Non-convex: at tanh z = -y, f'' = (1 - y^2)(1 - 5 y^2) < 0 whenever |y| > 1/sqrt 5; the start
 * w(1) = -startFactor w* puts many pre-activations on the opposite side of their targets.
 *
 * @example
 * ```ts
 * const f = tanhRegressionObjective({ layout: uniformLayout(["a"], 1, 8, 4), smoothness: 1, seed: 3 });
 * f.value(f.minimizer); // 0 (up to rounding)
 * ```
 */
export function tanhRegressionObjective(opts: TanhRegressionOptions): Objective {
  const { L, range, rng } = checkCommon(opts);
  const m = requireInt("opts.blocks", opts.blocks ?? 2, 1, 64);
  const zScale = requirePositive("opts.zScale", opts.zScale ?? 1.5);
  const startFactor = requireFinite("opts.startFactor", opts.startFactor ?? 0.5);
  const layout = opts.layout;
  const d = layout.dim;
  let D = 1;
  while (D < d) D <<= 1;
  const n = m * D;
  const s = unitScales(layout, range, rng);
  const c0 = Math.sqrt((3 * L * D) / 4);
  const col = new Float64Array(d);
  for (let j = 0; j < d; j++) col[j] = c0 * Math.sqrt(s[layout.unitOf[j]]);
  const s1: Float64Array[] = [];
  const s2: Float64Array[] = [];
  for (let b = 0; b < m; b++) {
    s1.push(Float64Array.from({ length: D }, () => (rng.float() < 0.5 ? -1 : 1)));
    s2.push(Float64Array.from({ length: D }, () => (rng.float() < 0.5 ? -1 : 1)));
  }
  const buf = new Float64Array(D);
  /** buf <- Q_b E diag(col) w */
  const forward = (b: number, w: Float64Array) => {
    buf.fill(0);
    const a2 = s2[b];
    const a1 = s1[b];
    for (let j = 0; j < d; j++) buf[j] = a2[j] * col[j] * w[j];
    fwht(buf);
    for (let r = 0; r < D; r++) buf[r] *= a1[r];
    fwht(buf);
    const inv = 1 / D;
    for (let r = 0; r < D; r++) buf[r] *= inv;
  };
  /** buf <- Q_b^T buf (then the caller takes diag(col) E^T) */
  const backward = (b: number) => {
    fwht(buf);
    const a1 = s1[b];
    const a2 = s2[b];
    for (let r = 0; r < D; r++) buf[r] *= a1[r];
    fwht(buf);
    const inv = 1 / D;
    for (let r = 0; r < D; r++) buf[r] *= inv * a2[r];
  };
  // planted w*, scaled so that the pre-activations have standard deviation zScale
  const wStar = new Float64Array(d);
  let norm2 = 0;
  for (let j = 0; j < d; j++) {
    wStar[j] = rng.normal();
    norm2 += (col[j] * wStar[j]) ** 2;
  }
  const scale = zScale * Math.sqrt(D / norm2); // ||Q E diag(c) w*||^2 / D = zScale^2
  for (let j = 0; j < d; j++) wStar[j] *= scale;
  const y: Float64Array[] = [];
  for (let b = 0; b < m; b++) {
    forward(b, wStar);
    y.push(buf.map(Math.tanh));
  }
  const start = wStar.map((v) => -startFactor * v);
  return {
    kind: "tanh-regression",
    name: `tanh-regression(d=${d}, n=${n}, L=${L}, range=${range}, zScale=${zScale})`,
    layout,
    dim: d,
    smoothness: L,
    infimum: 0,
    minimizer: wStar,
    start,
    value(w) {
      checkPoint(d, w);
      let v = 0;
      for (let b = 0; b < m; b++) {
        forward(b, w);
        const yb = y[b];
        for (let r = 0; r < D; r++) {
          const e = Math.tanh(buf[r]) - yb[r];
          v += 0.5 * e * e;
        }
      }
      return v / n;
    },
    gradient(w, out) {
      checkPoint(d, w);
      const g = allocOut(d, out);
      g.fill(0);
      for (let b = 0; b < m; b++) {
        forward(b, w);
        const yb = y[b];
        for (let r = 0; r < D; r++) {
          const t = Math.tanh(buf[r]);
          buf[r] = (t - yb[r]) * (1 - t * t);
        }
        backward(b);
        for (let j = 0; j < d; j++) g[j] += buf[j];
      }
      for (let j = 0; j < d; j++) g[j] *= col[j] / n;
      return g;
    },
  };
}

/**
 * Builds an objective of the given family with its default shape parameters (the dispatcher used by
 * the property tests and the claims).
 *
 * @example
 * ```ts
 * const f = makeObjective("quadratic", { layout: uniformLayout(["a"], 1, 8, 4), smoothness: 2, seed: 0 });
 * ```
 */
export function makeObjective(kind: ObjectiveKind, opts: ObjectiveOptions): Objective {
  switch (kind) {
    case "logsum":
      return logSumObjective(opts);
    case "tanh-regression":
      return tanhRegressionObjective(opts);
    case "quadratic":
      return quadraticObjective(opts);
    default:
      throw new AmssArgumentError(
        `kind must be one of ${OBJECTIVE_KINDS.map((k) => JSON.stringify(k)).join(", ")}, got ${
          JSON.stringify(kind)
        }`,
      );
  }
}
