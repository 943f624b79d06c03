/**
 * Seeded pseudo-random numbers for every random choice in the library: each takes an explicit
 * seeded generator, so a run is reproducible from its config and seed.
 *
 * Generator: xoshiro128** (Blackman & Vigna), 128 bits of state held as four uint32 words, seeded
 * through splitmix32 so that nearby seeds give unrelated streams. Written here rather than taken
 * from npm because the state must be a plain, serialisable value (checkpoints store it and resume
 * bit-for-bit).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { Rng } from "@amss-ts/amss";
 * const rng = new Rng(42);
 * const u = rng.float(); // in [0, 1)
 * const saved = rng.state();
 * const again = Rng.fromState(saved);
 * assert(again.float() === rng.float());
 * ```
 * @module
 */

/** The serialisable state of an {@link Rng}: four uint32 words. */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Seeded xoshiro128** generator with uniform, exponential, normal and integer draws. */
export class Rng {
  #s: Uint32Array;

  /**
   * A generator seeded by splitmix32 of `seed`.
   *
   * @param seed any finite number; its integer part modulo 2^32 selects the stream.
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    }
    const sm = splitmix32(Math.trunc(seed) >>> 0);
    this.#s = new Uint32Array([sm(), sm(), sm(), sm()]);
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** Restores a generator saved with {@link Rng.state}. */
  static fromState(state: RngState): Rng {
    if (
      !Array.isArray(state) || state.length !== 4 ||
      state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)
    ) {
      throw new TypeError(
        `Rng.fromState: state must be four uint32 words, got ${JSON.stringify(state)}`,
      );
    }
    if (state.every((w) => w === 0)) {
      throw new RangeError("Rng.fromState: the all-zero state is not a valid xoshiro state");
    }
    const r = new Rng(0);
    r.#s.set(state);
    return r;
  }

  /** A copy of the current state (plain JSON-serialisable array). */
  state(): RngState {
    return [this.#s[0], this.#s[1], this.#s[2], this.#s[3]];
  }

  /** An independent generator seeded from this one (advances this one by two draws). */
  fork(): Rng {
    return new Rng((this.uint32() ^ Math.imul(this.uint32(), 0x9e3779b1)) >>> 0);
  }

  /** Next uniform 32-bit unsigned integer. */
  uint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.uint32() >>> 5; // 27 bits
    const lo = this.uint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). Unbiased (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 0x100000000 - (0x100000000 % n);
    let x = this.uint32();
    while (x >= limit) x = this.uint32();
    return x % n;
  }

  /** Standard exponential draw, Exp(1): -log(1 - U), U in [0, 1), so the result is finite and >= 0. */
  exponential(): number {
    return -Math.log1p(-this.float());
  }

  /** Standard normal draw (Box-Muller, one value per call). */
  normal(): number {
    const u1 = 1 - this.float(); // (0, 1]
    const u2 = this.float();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** In-place Fisher-Yates shuffle of `a`. */
  shuffle<T>(a: T[] | Int32Array | Float64Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}

/**
 * How a run derives the seeds of its random streams from the run seed: every stream is a function
 * of (seed, epoch) or (seed, step, name) only, so a resumed run draws what an uninterrupted run
 * draws. The one place these constants live.
 */
export const runSeeds: Readonly<{
  /** The training data order of an epoch. */
  dataOrder(seed: number, epoch: number): number;
  /** The order whose first batches a method's subset pass over the training split visits. */
  featureSubset(seed: number, epoch: number): number;
  /** Data augmentation of an epoch (the loader adds the sample index). */
  augmentation(seed: number, epoch: number): number;
  /** A per-step, per-variable stream of a method (e.g. OGM-GE's noise); `salt` names the variable. */
  stepStream(seed: number, step: number, salt: number): number;
}> = Object.freeze({
  dataOrder: (seed: number, epoch: number) => seed * 7919 + epoch,
  featureSubset: (seed: number, epoch: number) => seed * 7919 + epoch + 0x51ed27,
  augmentation: (seed: number, epoch: number) => seed * 1_000_003 + epoch,
  stepStream: (seed: number, step: number, salt: number) => seed * 1_000_003 + step * 7919 + salt,
});
