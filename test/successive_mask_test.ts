/**
 * The allocation-free inner loop of amss (src/amss/successive_mask.ts) against the general
 * functions it replaces: the same mask bit for bit, the same largest value, and the same draws from
 * the generator, for every scale, with zeros in p (shortfall fill), skewed and heavy-tailed p, and
 * every k from 0 to n. Deterministic (fixed fast-check seed, fixed generator seeds): no tolerance.
 */
import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { type MaskScale, unitMask } from "../src/amss/mask.ts";
import { sampleSuccessive } from "../src/amss/sampling.ts";
import { successiveMask, SuccessiveScratch } from "../src/amss/successive_mask.ts";
import { Rng } from "../src/rng.ts";
import { AmssArgumentError } from "../src/validate.ts";

/** What amss did per group before the fast path: sample, then mask (amss.ts maskFor). */
function general(p: number[], k: number, rng: Rng, scale: MaskScale): Float64Array {
  const s = sampleSuccessive(p, k, rng, { onShortfall: "fill" });
  if (scale !== "paper" || s.indices.every((j) => p[j] > 0)) return unitMask(scale, p, s);
  const keep = [...s.indices.keys()].filter((i) => p[s.indices[i]] > 0);
  const m = unitMask(scale, p, {
    ...s,
    indices: Int32Array.from(keep, (i) => s.indices[i]),
    weights: Float64Array.from(keep, (i) => s.weights[i]),
  });
  for (const j of s.indices) if (p[j] === 0) m[j] = 1;
  return m;
}

const SCALES: MaskScale[] = ["none", "paper", "reference", "horvitz-thompson"];

/** Importance vectors: all equal, geometric up to a 1e12 spread, or heavy-tailed; some zeros. */
const importance = fc.record({
  n: fc.integer({ min: 1, max: 40 }),
  family: fc.constantFrom("flat", "skewed", "heavy"),
  u: fc.array(fc.integer({ min: 1, max: 2 ** 30 }), { minLength: 40, maxLength: 40 }),
  zeros: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
  withZeros: fc.boolean(),
}).map(({ n, family, u, zeros, withZeros }) => {
  const p = Array.from(
    { length: n },
    (_, i) =>
      family === "flat"
        ? 1
        : family === "skewed"
        ? Math.exp(-Math.log(1e12) * (u[i] / 2 ** 30))
        : Math.pow(u[i] / 2 ** 30, -1 / 0.7),
  );
  if (withZeros) { for (let i = 1; i < n; i++) if (zeros[i]) p[i] = 0; // p[0] stays positive
   }
  return p;
});

Deno.test("successiveMask equals sampleSuccessive + unitMask (amss's paper rule) bit for bit, with the same draws", () => {
  const scratch = new SuccessiveScratch(); // shared across runs: stale contents must not leak
  fc.assert(
    fc.property(importance, fc.integer({ min: 1, max: 2 ** 31 }), (p, seed) => {
      for (const scale of SCALES) {
        for (let k = 0; k <= p.length; k++) {
          const a = new Rng(seed + k), b = new Rng(seed + k);
          const want = general(p, k, a, scale);
          const got = new Float64Array(p.length + 3).fill(7); // longer and dirty: only [0, n) is written
          const top = successiveMask(p, k, b, scale, got, scratch);
          assertEquals(Array.from(got.subarray(0, p.length)), Array.from(want), `${scale} k=${k}`);
          assertEquals(Array.from(got.subarray(p.length)), [7, 7, 7]);
          assertEquals(top, Math.max(0, ...want));
          assertEquals(b.state(), a.state(), `draws differ: ${scale} k=${k}`);
        }
      }
    }),
    { seed: 20261127, numRuns: 150 },
  );
});

Deno.test("successiveMask: sums of p that overflow, a sample of every unit, and its errors", () => {
  const scratch = new SuccessiveScratch();
  const huge = [1e308, 1e308, 1e300, 0]; // sum p overflows: unitMask's second normalisation path
  for (const scale of SCALES) {
    for (let k = 0; k <= huge.length; k++) {
      const want = general(huge, k, new Rng(3), scale);
      const got = new Float64Array(4);
      successiveMask(huge, k, new Rng(3), scale, got, scratch);
      assertEquals(Array.from(got), Array.from(want), `${scale} k=${k}`);
    }
  }
  // a selected unit whose normalised p underflows: 1/p_j is infinite, both refuse it
  const tiny = [1e308, 1e308, 1];
  assertThrows(() => general(tiny, 3, new Rng(1), "paper"), AmssArgumentError, "infinite");
  assertThrows(
    () => successiveMask(tiny, 3, new Rng(1), "paper", new Float64Array(3), scratch),
    AmssArgumentError,
    "infinite",
  );
  assertThrows(
    () => successiveMask([0, 0], 1, new Rng(1), "none", new Float64Array(2), scratch),
    AmssArgumentError,
    "all zero",
  );
});
