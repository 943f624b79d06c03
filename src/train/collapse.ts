/**
 * When a run counts as collapsed: {@link collapseOf} reads an epoch history (summary.json's
 * `history` and `bestEpoch`) and says whether the final epoch fell far from the run's best, by a
 * {@link CollapseRule} (default {@link DEFAULT_COLLAPSE_RULE}: 10 x the minimum training loss, 5
 * points of test accuracy below the validation-selected epoch's). Pure: the trainer's summary and
 * the benchmarks' results tables give the same verdict on the same history.
 *
 * @module
 */
import { AmssArgumentError, requireInRange } from "../validate.ts";

/**
 * When a run counts as collapsed ({@link collapseOf}): its final training loss is more than
 * `lossFactor` times its minimum, or its final test accuracy is more than `accDrop` (a fraction:
 * 0.05 is 5 points) below the test accuracy of the validation-selected epoch.
 */
export interface CollapseRule {
  /** Final training loss above this multiple of the run's minimum: collapsed (>= 1). */
  lossFactor: number;
  /** Final test accuracy more than this fraction below the selected epoch's: collapsed. */
  accDrop: number;
}

/** The rule summaries use unless `TrainConfig.collapse` says otherwise: 10 x the loss, 5 points. */
export const DEFAULT_COLLAPSE_RULE: Readonly<CollapseRule> = Object.freeze({
  lossFactor: 10,
  accDrop: 0.05,
});

/** What {@link collapseOf} finds. */
export interface CollapseVerdict {
  /** Whether any criterion of the rule is met. */
  collapsed: boolean;
  /** One sentence per criterion met, joined by "; "; null when none is. */
  reason: string | null;
  /** Lowest `trainLoss` over the history. */
  minTrainLoss: number;
  /** The complete rule applied (defaults filled in). */
  rule: CollapseRule;
}

/** `rule` with {@link DEFAULT_COLLAPSE_RULE}'s values for missing fields, checked. */
export function completeRule(rule: Partial<CollapseRule>): CollapseRule {
  const r: CollapseRule = {
    lossFactor: rule.lossFactor ?? DEFAULT_COLLAPSE_RULE.lossFactor,
    accDrop: rule.accDrop ?? DEFAULT_COLLAPSE_RULE.accDrop,
  };
  requireInRange("collapse.lossFactor", r.lossFactor, 1, Number.MAX_VALUE);
  requireInRange("collapse.accDrop", r.accDrop, 0, 1);
  return r;
}

/**
 * Whether a run collapsed, from its epoch history (pure; a results table calls it on
 * summary.json's `history` and `bestEpoch`). The run collapsed when
 * - its final epoch's training loss is more than `rule.lossFactor` times the minimum training loss
 *   over its epochs (only when that minimum is positive: a multiple of a loss at or below 0, e.g.
 *   PMR's objective with its entropy bonus, bounds nothing), or
 * - its final test accuracy is more than `rule.accDrop` below the test accuracy of epoch
 *   `bestEpoch` (the validation-selected one); differences within 1e-12 of `accDrop` count as
 *   equal, so that a drop of exactly 5 points in float arithmetic is not a collapse.
 * `rule` fields default to {@link DEFAULT_COLLAPSE_RULE}'s. Errors: an empty history, a
 * `bestEpoch` that is not in it, a non-finite number in the records used, an invalid rule.
 */
export function collapseOf(
  history: readonly { epoch: number; trainLoss: number; test: { acc: number } }[],
  bestEpoch: number,
  rule: Partial<CollapseRule> = {},
): CollapseVerdict {
  const r = completeRule(rule);
  if (history.length === 0) {
    throw new AmssArgumentError("collapseOf: the history is empty; expected at least 1 epoch");
  }
  const best = history.find((h) => h.epoch === bestEpoch);
  if (!best) {
    throw new AmssArgumentError(
      `collapseOf: bestEpoch ${bestEpoch} is not in the history (epochs ${
        history.map((h) => h.epoch).join(", ")
      })`,
    );
  }
  for (const h of history) {
    if (!Number.isFinite(h.trainLoss) || !Number.isFinite(h.test.acc)) {
      throw new AmssArgumentError(
        `collapseOf: epoch ${h.epoch} has trainLoss ${h.trainLoss} and test accuracy ${h.test.acc}; expected finite numbers`,
      );
    }
  }
  const last = history[history.length - 1];
  const minTrainLoss = Math.min(...history.map((h) => h.trainLoss));
  const reasons: string[] = [];
  if (minTrainLoss > 0 && last.trainLoss > r.lossFactor * minTrainLoss) {
    reasons.push(
      `final training loss ${fmtNum(last.trainLoss)} is more than ${r.lossFactor} x its minimum ${
        fmtNum(minTrainLoss)
      }`,
    );
  }
  const drop = best.test.acc - last.test.acc;
  if (drop > r.accDrop + 1e-12) {
    reasons.push(
      `final test accuracy ${(100 * last.test.acc).toFixed(2)}% is ${
        (100 * drop).toFixed(2)
      } points below the selected epoch ${best.epoch}'s ${(100 * best.test.acc).toFixed(2)}% ` +
        `(more than ${100 * r.accDrop})`,
    );
  }
  return {
    collapsed: reasons.length > 0,
    reason: reasons.length ? reasons.join("; ") : null,
    minTrainLoss,
    rule: r,
  };
}

/** Five significant digits, plain notation for ordinary magnitudes. */
function fmtNum(x: number): string {
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e6
    ? String(Number(x.toPrecision(5)))
    : x.toPrecision(5);
}
