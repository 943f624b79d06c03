/**
 * The per-group inner loop of {@link amss} for its default design (adaptive sampling, Sec. 3.2.2)
 * in one allocation-free pass: the mask that `unitMask(scale, p, sampleSuccessive(p, k, rng,
 * { onShortfall: "fill" }))` gives, with amss's rule for the paper scale (a selected unit of zero
 * importance gets 1, see amss.ts `maskFor`), bit for bit and with the same draws from `rng`.
 *
 * Why a second implementation: with the paper's units a two-encoder ResNet18 has 120 mask groups
 * and 7,200 units, and per group the general functions validate, normalise twice, allocate fresh
 * arrays and sort the draws into draw order, which made sampling a large part of AMSS's overhead
 * (README, "Training-step speed").
 * The mask does not depend on the draw order, so no sort is needed here. test/successive_mask.test.ts
 * checks the equality against the general functions on random importances (with zeros, shortfall
 * fill, every scale).
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import { AmssArgumentError } from "../validate.ts";
import type { MaskScale } from "./mask.ts";
import { normaliseInto } from "./sampling.ts";

/** Reusable buffers of {@link successiveMask}; grown on demand. */
export class SuccessiveScratch {
  q = new Float64Array(0);
  keys = new Float64Array(0);
  heap = new Int32Array(0);
  zeros = new Int32Array(0);
  ensure(n: number): void {
    if (this.q.length >= n) return;
    this.q = new Float64Array(n);
    this.keys = new Float64Array(n);
    this.heap = new Int32Array(n + 1);
    this.zeros = new Int32Array(n);
  }
}

/**
 * Writes the AMSS/AMSS+ mask of one group into `mask[0..n)` (n = p.length; zero for unselected
 * units) and returns its largest value.
 *
 * @param p the group's importance, finite and >= 0, not all zero (as amss builds it).
 * @param k units to keep, integer in [0, n].
 * @param rng the sampling generator (advanced exactly as sampleSuccessive + fill advance it).
 * @param scale the mask scale (Eq. 1 `none`, Eq. 5 `paper`, authors' `reference`, exact HT).
 * @param mask output, length >= n.
 * @param scratch reusable buffers.
 */
export function successiveMask(
  p: ArrayLike<number>,
  k: number,
  rng: Rng,
  scale: MaskScale,
  mask: Float64Array,
  scratch: SuccessiveScratch,
): number {
  const n = p.length;
  scratch.ensure(n);
  mask.fill(0, 0, n);
  if (k === 0) return 0;
  const { q, keys, heap, zeros } = scratch;
  // the samplers' normalisation, then unitMask()'s sum of p
  const { max, nnz } = normaliseInto(p, q);
  if (max === 0) throw new AmssArgumentError(`p must not be all zero, got ${n} zeros`);
  let sumP = 0;
  for (let i = 0; i < n; i++) sumP += p[i];
  // mask.ts unitMask(): p_j / max / (sum p / max)
  const sum = Number.isFinite(sumP) ? sumP / max : (() => {
    let t = 0;
    for (let i = 0; i < n; i++) t += p[i] / max;
    return t;
  })();
  // exponential keys E_i / q_i, the k + 1 smallest kept in a bounded max-heap (sampleSuccessive)
  const cap = Math.min(k, nnz) + 1;
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (q[i] === 0) continue;
    const key = rng.exponential() / q[i];
    keys[i] = key;
    if (size < cap) {
      let c = size++;
      heap[c] = i;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        const a = heap[c], b = heap[parent];
        if (!(keys[a] > keys[b] || (keys[a] === keys[b] && a > b))) break;
        heap[c] = b;
        heap[parent] = a;
        c = parent;
      }
    } else {
      const r = heap[0];
      if (!(keys[r] > key || (keys[r] === key && r > i))) continue;
      heap[0] = i;
      let c = 0;
      for (;;) {
        const l = 2 * c + 1, rr = l + 1;
        let top = c;
        if (l < size && aboveAt(keys, heap[l], heap[top])) top = l;
        if (rr < size && aboveAt(keys, heap[rr], heap[top])) top = rr;
        if (top === c) break;
        const t = heap[c];
        heap[c] = heap[top];
        heap[top] = t;
        c = top;
      }
    }
  }
  let best = 0;
  const put = (j: number, w: number) => {
    let m: number;
    switch (scale) {
      case "none":
        m = 1;
        break;
      case "horvitz-thompson":
        if (!Number.isFinite(w) || !(w > 0)) {
          throw new AmssArgumentError(
            `sample.weights must be finite and > 0, got ${w} (unit ${j})`,
          );
        }
        m = w;
        break;
      case "reference":
        m = 1 / (p[j] / max / sum + 1 / n);
        break;
      case "paper": {
        if (p[j] === 0) {
          m = 1; // amss maskFor: a zero-importance fill unit passes unscaled
          break;
        }
        const pj = p[j] / max / sum;
        if (!(pj > 0) || !Number.isFinite(1 / pj)) {
          throw new AmssArgumentError(
            `p[${j}] is ${p[j]} (normalised ${pj}) but unit ${j} was selected: scale "paper" ` +
              `(1/p_j) would be infinite`,
          );
        }
        m = 1 / pj;
        break;
      }
    }
    mask[j] = m;
    if (m > best) best = m;
  };
  if (k >= nnz) {
    // every nonzero unit (weight 1), then uniform zero units by partial Fisher-Yates (fillSample)
    for (let i = 0; i < size; i++) put(heap[i], 1);
    let nz = 0;
    for (let i = 0; i < n; i++) if (q[i] === 0) zeros[nz++] = i;
    for (let i = 0, m = nnz; m < k; i++, m++) {
      const j = i + rng.int(nz - i);
      const t = zeros[i];
      zeros[i] = zeros[j];
      zeros[j] = t;
      put(zeros[i], 1);
    }
    return best;
  }
  // rank-conditioning HT weights with t the (k+1)-th smallest key (sampleSuccessive)
  const t = keys[heap[0]];
  for (let i = 1; i < size; i++) {
    const j = heap[i];
    put(j, t === Infinity ? 1 : 1 / -Math.expm1(-q[j] * t));
  }
  return best;
}

function aboveAt(keys: Float64Array, a: number, b: number): boolean {
  return keys[a] > keys[b] || (keys[a] === keys[b] && a > b);
}
