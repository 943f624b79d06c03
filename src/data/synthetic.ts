/**
 * An embedded, seeded, offline generator of imbalanced multi-modal classification data: the
 * default dataset of `deno task bench`, so the suite runs anywhere without downloads.
 *
 * Each modality k draws a class prototype P_{k,c} (unit RMS) and a sample of class y is
 * `x = signal_k * P_{k,y} + noise_k * N(0, I)` (plus, optionally, a shared nuisance pattern).
 * Image-like modalities use smooth prototypes (a few random 2-D sinusoids), vector-like ones
 * Gaussian prototypes. The per-modality signal-to-noise ratio and dimension set which modality is
 * learned first: the default makes `audio` (image-like, 16x16, high SNR, easy to memorise) dominant
 * and `visual` (vector, 24 dims, low SNR) weak but informative on its own, the situation the paper
 * calls modality imbalance (Sec. 1, Table 2's uni-modal rows). `confusablePairs` merges classes
 * that a modality cannot tell apart, so that the modalities are complementary.
 *
 * @module
 */
import { Rng } from "../rng.ts";
import { AmssArgumentError, requireInt, requirePositive } from "../validate.ts";
import type { Dataset, ModalityKind, ModalitySpec, Split } from "./dataset.ts";

/** One generated modality. */
export interface SyntheticModality {
  /** Modality name. */
  name: string;
  /** Image-like (smooth prototypes) or vector (Gaussian prototypes). */
  kind: Extract<ModalityKind, "image" | "vector">;
  /** `[H, W, C]` for images, `[D]` for vectors. */
  shape: number[];
  /** Amplitude of the class prototype (RMS units). */
  signal: number;
  /** Standard deviation of the i.i.d. Gaussian noise. */
  noise: number;
  /** The first `confusablePairs` class pairs (0, 1), (2, 3), ... share one prototype in this
   * modality, which therefore cannot tell them apart (the modalities become complementary).
   * Default 0. */
  confusablePairs?: number;
}

/** Generator configuration. */
export interface SyntheticConfig {
  /** Dataset name. Default "synthetic". */
  name?: string;
  /** Number of classes (>= 2). */
  numClasses: number;
  /** The generated modalities. */
  modalities: SyntheticModality[];
  /** Training samples. */
  nTrain: number;
  /** Validation samples. */
  nVal: number;
  /** Test samples. */
  nTest: number;
  /** Seed of the prototypes and of every sample. */
  seed: number;
}

/** The default embedded dataset (see the module doc and the README). */
export const DEFAULT_SYNTHETIC: SyntheticConfig = {
  name: "synthetic-av",
  numClasses: 6,
  modalities: [
    {
      name: "audio",
      kind: "image",
      shape: [16, 16, 1],
      signal: 0.35,
      noise: 1,
      confusablePairs: 1,
    },
    { name: "visual", kind: "vector", shape: [24], signal: 0.45, noise: 1 },
  ],
  nTrain: 2400,
  nVal: 600,
  nTest: 1200,
  seed: 1,
};

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function prototype(rng: Rng, m: SyntheticModality): Float32Array {
  const size = sizeOf(m.shape);
  const out = new Float32Array(size);
  if (m.kind === "image") {
    const [H, W, C] = m.shape;
    for (let w = 0; w < 3; w++) {
      const fy = 0.5 + rng.float() * 2.5, fx = 0.5 + rng.float() * 2.5;
      const py = rng.float() * 2 * Math.PI, px = rng.float() * 2 * Math.PI;
      const amp = rng.normal();
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const v = amp * Math.sin((2 * Math.PI * fy * y) / H + py) *
            Math.sin((2 * Math.PI * fx * x) / W + px);
          for (let c = 0; c < C; c++) out[(y * W + x) * C + c] += v * (1 + 0.3 * c);
        }
      }
    }
  } else {
    for (let i = 0; i < size; i++) out[i] = rng.normal();
  }
  // unit RMS, so `signal` is the per-coordinate amplitude
  let ss = 0;
  for (const v of out) ss += v * v;
  const scale = 1 / Math.sqrt(ss / size || 1);
  for (let i = 0; i < size; i++) out[i] *= scale;
  return out;
}

function validate(cfg: SyntheticConfig): void {
  requireInt("numClasses", cfg.numClasses, 2);
  requireInt("nTrain", cfg.nTrain, 1);
  requireInt("nVal", cfg.nVal, 0);
  requireInt("nTest", cfg.nTest, 1);
  if (!Array.isArray(cfg.modalities) || cfg.modalities.length < 2) {
    throw new AmssArgumentError(`modalities must list at least 2 modalities`);
  }
  const names = new Set<string>();
  cfg.modalities.forEach((m, i) => {
    if (!m.name || names.has(m.name)) {
      throw new AmssArgumentError(`modalities[${i}].name must be a unique non-empty string`);
    }
    names.add(m.name);
    const rank = m.kind === "image" ? 3 : m.kind === "vector" ? 1 : -1;
    if (rank < 0) throw new AmssArgumentError(`modalities[${i}].kind must be "image" or "vector"`);
    if (
      !Array.isArray(m.shape) || m.shape.length !== rank ||
      m.shape.some((d) => !Number.isInteger(d) || d < 1)
    ) {
      throw new AmssArgumentError(
        `modalities[${i}].shape must be ${rank === 3 ? "[H, W, C]" : "[D]"} of positive integers`,
      );
    }
    requirePositive(`modalities[${i}].noise`, m.noise);
    requireInt(
      `modalities[${i}].confusablePairs`,
      m.confusablePairs ?? 0,
      0,
      Math.floor(cfg.numClasses / 2),
    );
    if (!(m.signal >= 0 && Number.isFinite(m.signal))) {
      throw new AmssArgumentError(`modalities[${i}].signal must be finite and >= 0`);
    }
  });
}

/** Generates the dataset described by `cfg` (deterministic in `cfg.seed`). */
export function generateSynthetic(cfg: SyntheticConfig = DEFAULT_SYNTHETIC): Dataset<Split> {
  validate(cfg);
  const rng = new Rng(cfg.seed);
  const protos = cfg.modalities.map((m) => {
    const pr = new Rng(rng.uint32());
    const distinct = Array.from({ length: cfg.numClasses }, () => prototype(pr, m));
    const merged = (c: number) => (c < 2 * (m.confusablePairs ?? 0) ? c - (c % 2) : c);
    return distinct.map((_, c) => distinct[merged(c)]);
  });
  const make = (n: number, r: Rng): Split => {
    const labels = Int32Array.from({ length: n }, (_, i) => i % cfg.numClasses);
    r.shuffle(labels);
    const inputs: Record<string, Float32Array> = {};
    cfg.modalities.forEach((m, k) => {
      const s = sizeOf(m.shape);
      const data = new Float32Array(n * s);
      for (let i = 0; i < n; i++) {
        const p = protos[k][labels[i]];
        for (let j = 0; j < s; j++) data[i * s + j] = m.signal * p[j] + m.noise * r.normal();
      }
      inputs[m.name] = data;
    });
    return { n, labels, inputs };
  };
  const train = make(cfg.nTrain, new Rng(rng.uint32()));
  const val = make(cfg.nVal, new Rng(rng.uint32()));
  const test = make(cfg.nTest, new Rng(rng.uint32()));
  const modalities: ModalitySpec[] = cfg.modalities.map((m) => ({
    name: m.name,
    kind: m.kind,
    shape: [...m.shape],
  }));
  return {
    name: cfg.name ?? "synthetic",
    modalities,
    classes: Array.from({ length: cfg.numClasses }, (_, c) => `class${c}`),
    train,
    val,
    test,
    valSource: "split",
    meta: { generator: "synthetic", config: cfg },
  };
}
