/**
 * Greedy: balanced multi-modal learning (Wu, Jastrzebski, Cho and Geras, "Characterizing and
 * overcoming the greedy nature of learning in multi-modal deep neural networks", ICML 2022), for
 * two modalities.
 *
 * The paper: a model learns greedily from the modality it fits fastest; the conditional
 * utilization rate of a modality is unobservable during training, so its conditional learning
 * speed is estimated instead, and when the two speeds drift apart by more than a threshold the
 * training switches to `window` re-balancing steps that update only the slower modality's branch.
 * The authors' code measures each branch by effective learning rates
 * `mu(W) = ||grad W||^2 / ||W||^2` of its own layers ("main") and of the cross-modal fusion layers
 * that feed it ("bypass", their MMTM blocks), accumulated over the steps, and compares the branches
 * by the log-ratio
 * `BDR_k = log10(sum_t mu_bypass_k(t) / sum_t mu_main_k(t))`.
 *
 * What stands for a modality's "bypass" (option `bypass`):
 * - `"mmtm"`: the authors' definition on an MMTM fusion (`fusion/mmtm/...` variables): the
 *   excitation variables of modality k (a path segment `/<k>/`), plus the shared squeeze
 *   variables, which count for both modalities as in the authors' code;
 * - `"fusion-inputs"`, the simplification for models without MMTM blocks (concat fusion): the rows
 *   of each shared rank-2 fusion kernel `[sum_k d_k, .]` that multiply modality k's features;
 * - `"auto"` (default): "mmtm" when the model has `mmtm` fusion variables, else "fusion-inputs".
 * "Main" is every variable the model assigns to the modality (its encoder). Per step (mirroring the
 * authors' callback):
 * - `mu_main_k = sum ||g||^2 / sum ||w||^2` over modality k's variables, `mu_fusion_k` the same
 *   over its bypass; both are summed over the steps;
 * - `d = BDR_1 - BDR_2`. While not re-balancing (and from epoch `startEpoch` on), `|d| > threshold`
 *   starts `window` re-balancing steps for modality 1 if d > 0, else modality 2: the modality
 *   whose own branch lags its fusion inputs the most;
 * - in a re-balancing step only the variables of that modality are updated (the others, shared
 *   fusion variables included, get no update: no gradient, no momentum, no decay). The speeds are
 *   not accumulated during re-balancing steps; the decision taken after a step applies from the
 *   next step on. (The authors' MMTM model re-balances differently: it replaces the cross-modal
 *   excitation into that modality's stream by its running average, so the stream must learn from
 *   its own input, and still updates every variable; a model-independent method cannot do that.)
 * A model with neither (late/sum/weight fusion) is refused with an error.
 *
 * Choices (options of {@link GreedyOptions}): `threshold` 0.01, `window` 5 steps and
 * `startEpoch` 3 (the authors' released configuration: epsilon 0.01, curation window 5,
 * starting_epoch 2 counted from 0).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModalBatch } from "../amss/significance.ts";
import type { GradientTransformation } from "../transform.ts";
import { AmssArgumentError, requireInRange, requireInt } from "../validate.ts";
import { dropUpdates, type Method, type MethodContext, ownerMap } from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of {@link createGreedy}. */
export interface GreedyOptions {
  /** Threshold on |BDR_1 - BDR_2| that starts re-balancing (default 0.01). */
  threshold?: number;
  /** Re-balancing steps per switch (default 5). */
  window?: number;
  /** First (1-based) epoch in which re-balancing may start (default 3). */
  startEpoch?: number;
  /** What measures a modality's cross-modal ("bypass") speed (module header; default "auto"). */
  bypass?: "auto" | "mmtm" | "fusion-inputs";
}

/** Greedy's checkpointed state (part of the optimizer state). */
export interface GreedyState {
  /** Accumulated fusion-input ("bypass") speeds per modality. */
  fusion: number[];
  /** Accumulated own-branch ("main") speeds per modality. */
  main: number[];
  /** -1: normal steps; k: re-balancing modality k. */
  mode: number;
  /** Re-balancing steps taken in the current window. */
  curationStep: number;
  /** Last BDR_1 - BDR_2. */
  dBDR: number;
}

/** `BDR_1 - BDR_2` from accumulated speeds (module header). */
export function bdrDifference(fusion: readonly number[], main: readonly number[]): number {
  return Math.log10(fusion[0] / main[0]) - Math.log10(fusion[1] / main[1]);
}

/**
 * The state after one step (module header): `speeds` are this step's `{fusion, main}` effective
 * learning rates, `unlocked` whether re-balancing may start. Pure: returns a new state.
 */
export function greedyTransition(
  s: GreedyState,
  speeds: { fusion: number[]; main: number[] },
  unlocked: boolean,
  threshold: number,
  window: number,
): GreedyState {
  if (unlocked && s.mode >= 0) {
    const step = s.curationStep + 1;
    return { ...s, curationStep: step, mode: step >= window ? -1 : s.mode };
  }
  const fusion = s.fusion.map((x, k) => x + speeds.fusion[k]);
  const main = s.main.map((x, k) => x + speeds.main[k]);
  const d = bdrDifference(fusion, main);
  const start = unlocked && Math.abs(d) > threshold;
  return { fusion, main, dBDR: d, mode: start ? (d > 0 ? 0 : 1) : -1, curationStep: 0 };
}

/** What {@link createGreedy} uses for an absent option. */
export const GREEDY_DEFAULTS: Readonly<Required<GreedyOptions>> = {
  threshold: 0.01,
  window: 5,
  startEpoch: 3,
  bypass: "auto",
};

/** The schema of {@link GreedyOptions} (types and ranges; the bench's `--method-options` check). */
export const GREEDY_SCHEMA: OptionsSchema<GreedyOptions> = {
  threshold: { kind: "number", min: 0, max: 1e6 },
  window: { kind: "int", min: 1, max: 1e6 },
  startEpoch: { kind: "int", min: 1, max: 1e6 },
  bypass: { kind: "enum", values: ["auto", "mmtm", "fusion-inputs"] },
};

/** Builds Greedy (module header); two modalities and a concat-style fusion kernel. */
export function createGreedy(opts: GreedyOptions, ctx: MethodContext): Method {
  const { modalities } = ctx;
  if (modalities.length !== 2) {
    throw new AmssArgumentError(
      `greedy is defined for two modalities, the model has ${modalities.length}`,
    );
  }
  const threshold = requireInRange(
    "greedy.threshold",
    opts.threshold ?? GREEDY_DEFAULTS.threshold,
    0,
    Infinity,
  );
  const window = requireInt("greedy.window", opts.window ?? GREEDY_DEFAULTS.window, 1);
  const startEpoch = requireInt(
    "greedy.startEpoch",
    opts.startEpoch ?? GREEDY_DEFAULTS.startEpoch,
    1,
  );
  const bypassKind = opts.bypass ?? GREEDY_DEFAULTS.bypass;
  if (!["auto", "mmtm", "fusion-inputs"].includes(bypassKind)) {
    throw new AmssArgumentError(
      `greedy.bypass must be "auto", "mmtm" or "fusion-inputs", got ${bypassKind}`,
    );
  }
  const owner = ownerMap(ctx);
  const main = modalities.map((m) => [...owner].filter(([, o]) => o === m).map(([n]) => n));
  const shared = Object.keys(ctx.params).filter((n) => !owner.has(n));
  /** Per modality, the bypass variables and the rows of each that belong to it (null: all). */
  let bypass: { name: string; rows: [number, number] | null }[][] | null = null;

  const resolveBypass = (dims: number[]) => {
    const mmtm = shared.filter((n) => /(^|\/)mmtm\//.test(n));
    if (bypassKind === "mmtm" || (bypassKind === "auto" && mmtm.length)) {
      const own = (n: string, m: string) => n.includes(`/${m}/`);
      const common = mmtm.filter((n) => !modalities.some((m) => own(n, m)));
      const parts = modalities.map((m) =>
        [...mmtm.filter((n) => own(n, m)), ...common].map((name) => ({ name, rows: null }))
      );
      if (parts.some((p) => p.length === 0)) {
        throw new AmssArgumentError("greedy: bypass mmtm needs fusion/mmtm/... variables");
      }
      return parts;
    }
    const total = dims[0] + dims[1];
    const kernels = shared.filter((n) => {
      const s = ctx.params[n].shape;
      return s.length === 2 && s[0] === total;
    });
    if (kernels.length === 0) {
      throw new AmssArgumentError(
        `greedy needs a shared fusion kernel [${total}, .] over the concatenated features ` +
          `(concat fusion) or MMTM blocks; the model has neither`,
      );
    }
    return dims.map((d, k) =>
      kernels.map((name) => ({ name, rows: [k === 0 ? 0 : dims[0], d] as [number, number] }))
    );
  };

  const speeds = async (
    grads: Record<string, tf.Tensor>,
    dims: number[],
  ): Promise<{ fusion: number[]; main: number[] }> => {
    bypass ??= resolveBypass(dims);
    const by = bypass;
    const sq = tf.tidy(() => {
      const sumSq = (ts: tf.Tensor[]) =>
        ts.length ? tf.addN(ts.map((t) => tf.sum(tf.square(t)))) : tf.scalar(0);
      const cut = (t: tf.Tensor, rows: [number, number] | null) =>
        rows ? tf.slice(t, [rows[0], 0], [rows[1], -1]) : t;
      const parts: tf.Tensor[] = [];
      for (let k = 0; k < 2; k++) {
        const names = main[k].filter((n) => grads[n] !== undefined);
        parts.push(sumSq(names.map((n) => grads[n])), sumSq(names.map((n) => ctx.params[n])));
        const bs = by[k].filter((b) => grads[b.name] !== undefined);
        parts.push(
          sumSq(bs.map((b) => cut(grads[b.name], b.rows))),
          sumSq(bs.map((b) => cut(ctx.params[b.name], b.rows))),
        );
      }
      return tf.stack(parts);
    });
    const v = await sq.data();
    sq.dispose();
    // the authors' mu = ||g||^2 / ||w||^2 per group (ratio of the group's sums)
    return { main: [v[0] / v[1], v[4] / v[5]], fusion: [v[2] / v[3], v[6] / v[7]] };
  };

  const transform: GradientTransformation<GreedyState> = {
    init: () => ({ fusion: [0, 0], main: [0, 0], mode: -1, curationStep: 0, dBDR: 0 }),
    async update(updates, state, c) {
      const batch = c.extras.batch as ModalBatch | undefined;
      if (!batch?.features) {
        throw new AmssArgumentError("greedy needs extras.batch with the encoder features");
      }
      const mode = state.mode;
      const epoch = (c.extras.epoch as number | undefined) ?? Infinity;
      const unlocked = epoch >= startEpoch;
      const out = mode >= 0
        ? dropUpdates(updates, (n) => owner.get(n) !== modalities[mode])
        : updates;
      const sp = unlocked && mode >= 0
        ? { fusion: [0, 0], main: [0, 0] } // not measured while re-balancing
        : await speeds(c.grads, batch.features.map((f) => f.dim));
      Object.assign(state, greedyTransition(state, sp, unlocked, threshold, window));
      c.info.methodStats = {
        dBDR: state.dBDR,
        [`rebalance.${modalities[0]}`]: mode === 0 ? 1 : 0,
        [`rebalance.${modalities[1]}`]: mode === 1 ? 1 : 0,
      };
      return out;
    },
  };
  return {
    name: "greedy",
    label: `greedy (threshold ${threshold}, window ${window})`,
    lossOn: "fused",
    transform: transform as GradientTransformation,
  };
}
