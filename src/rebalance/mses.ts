/**
 * MSES, modality-specific early stopping (Fujimori et al., ACPR 2020; "MSES" in the AMSS paper's
 * tables): each modality's branch is watched on the validation split, and a modality whose branch
 * has not improved for `patience` epochs stops learning: its variables get no update any more (no
 * gradient, no momentum, no weight decay) while the rest of the model keeps training.
 *
 * Implemented, after every epoch e and for every modality k not yet stopped:
 * `best_k` = best value so far of the monitored quantity (the branch's validation accuracy, or its
 * validation cross-entropy with `monitor: "loss"`); an epoch improves when it is strictly better
 * than `best_k` by more than `minDelta`; `wait_k` counts epochs without improvement, and
 * `wait_k >= patience` stops modality k from epoch e + 1 on. A stopped modality never restarts.
 * The branch of modality k is its uni-modal prediction inside the model (`ModelOutputs.unimodal`).
 * Each epoch's `methodLog` records `stopped` (the stopped modalities after this epoch's check) and
 * `wait` (the counters).
 *
 * Choices where the method leaves room (options of {@link MsesOptions}): `monitor` "acc" (or
 * "loss"), `patience` 5 epochs, `minDelta` 0; the shared fusion variables are never stopped.
 *
 * @module
 */
import type { GradientTransformation } from "../transform.ts";
import { AmssArgumentError, requireInRange, requireInt } from "../validate.ts";
import {
  dropUpdates,
  type EvalMetrics,
  type Method,
  type MethodContext,
  ownerMap,
} from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of {@link createMses}. */
export interface MsesOptions {
  /** Watched branch metric: validation accuracy (default) or validation cross-entropy. */
  monitor?: "acc" | "loss";
  /** Epochs without improvement before a modality stops (default 5). */
  patience?: number;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
}

/** MSES's checkpointed state. */
export interface MsesState extends Record<string, unknown> {
  /** Best monitored value per modality (-Infinity / +Infinity before the first epoch). */
  best: number[];
  /** Epochs without improvement per modality. */
  wait: number[];
  /** Whether each modality is stopped. */
  stopped: boolean[];
}

/** Fresh MSES state for K modalities. */
export function msesInit(K: number, monitor: "acc" | "loss"): MsesState {
  return {
    best: new Array(K).fill(monitor === "acc" ? -Infinity : Infinity),
    wait: new Array(K).fill(0),
    stopped: new Array(K).fill(false),
  };
}

/** One end-of-epoch check (module header) with this epoch's monitored values; pure. */
export function msesCheck(
  s: MsesState,
  values: readonly number[],
  opts: { monitor: "acc" | "loss"; patience: number; minDelta: number },
): MsesState {
  const sign = opts.monitor === "acc" ? 1 : -1;
  const next: MsesState = { best: [...s.best], wait: [...s.wait], stopped: [...s.stopped] };
  values.forEach((v, k) => {
    if (next.stopped[k]) return;
    if (sign * (v - next.best[k]) > opts.minDelta) {
      next.best[k] = v;
      next.wait[k] = 0;
    } else {
      next.wait[k] += 1;
      if (next.wait[k] >= opts.patience) next.stopped[k] = true;
    }
  });
  return next;
}

/** What {@link createMses} uses for an absent option. */
export const MSES_DEFAULTS: Readonly<Required<MsesOptions>> = {
  monitor: "acc",
  patience: 5,
  minDelta: 0,
};

/** The schema of {@link MsesOptions} (types and ranges; the bench's `--method-options` check). */
export const MSES_SCHEMA: OptionsSchema<MsesOptions> = {
  monitor: { kind: "enum", values: ["acc", "loss"] },
  patience: { kind: "int", min: 1, max: 1e6 },
  minDelta: { kind: "number", min: 0, max: 1e6 },
};

/** Builds MSES (module header). */
export function createMses(opts: MsesOptions, ctx: MethodContext): Method {
  const { modalities } = ctx;
  const monitor = opts.monitor ?? MSES_DEFAULTS.monitor;
  if (monitor !== "acc" && monitor !== "loss") {
    throw new AmssArgumentError(`mses.monitor must be "acc" or "loss", got ${monitor}`);
  }
  const patience = requireInt("mses.patience", opts.patience ?? MSES_DEFAULTS.patience, 1);
  const minDelta = requireInRange(
    "mses.minDelta",
    opts.minDelta ?? MSES_DEFAULTS.minDelta,
    0,
    Infinity,
  );
  const owner = ownerMap(ctx);
  const state = msesInit(modalities.length, monitor);
  const transform: GradientTransformation<null> = {
    init: () => null,
    update(updates) {
      if (!state.stopped.some((s) => s)) return updates;
      const stopped = new Set(modalities.filter((_, k) => state.stopped[k]));
      return dropUpdates(updates, (n) => stopped.has(owner.get(n) ?? ""));
    },
  };
  const valuesOf = (val: EvalMetrics) =>
    modalities.map((m) => {
      const v = monitor === "acc" ? val.branchAcc[m] : val.branchLoss?.[m];
      if (v === undefined) {
        throw new AmssArgumentError(`mses: validation metrics lack branch ${monitor} of ${m}`);
      }
      return v;
    });
  return {
    name: "mses",
    label: `mses (${monitor}, patience ${patience})`,
    lossOn: "fused",
    transform: transform as GradientTransformation,
    state,
    onEpochEnd(info) {
      Object.assign(state, msesCheck(state, valuesOf(info.val), { monitor, patience, minDelta }));
      return {
        stopped: modalities.filter((_, k) => state.stopped[k]),
        wait: Object.fromEntries(modalities.map((m, k) => [m, state.wait[k]])),
      };
    },
  };
}
