/**
 * The paper's evaluation metrics (Sec. 4.1 "Evaluation Metrics"): accuracy, mean average precision
 * (audio-video datasets) and macro F1 (text-image and NVGesture), from class scores and labels.
 * Definitions follow scikit-learn's, which the reference code line (OGM-GE, AMSS) uses:
 * - macro F1: unweighted mean over the classes present in the labels or the predictions of
 *   F1_c = 2 TP / (2 TP + FP + FN) (a class never predicted and never true does not count);
 * - AP_c = sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds in decreasing order (no
 *   interpolation), mAP = mean of AP_c over classes with at least one positive sample.
 *
 * @module
 */
import { AmssArgumentError } from "../validate.ts";

function check(scores: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  const n = labels.length;
  if (scores.length !== n * numClasses) {
    throw new AmssArgumentError(
      `scores has ${scores.length} values, expected labels.length * numClasses = ${n * numClasses}`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (!(Number.isInteger(labels[i]) && labels[i] >= 0 && labels[i] < numClasses)) {
      throw new AmssArgumentError(
        `labels[${i}] = ${labels[i]} is not a class id in [0, ${numClasses})`,
      );
    }
  }
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) {
      throw new AmssArgumentError(`scores[${i}] is NaN; expected class scores that are numbers`);
    }
  }
  return n;
}

/** Row-wise argmax (first maximum on ties) of `B x C` row-major scores. */
export function argmaxRows(scores: ArrayLike<number>, numClasses: number): Int32Array {
  const n = Math.floor(scores.length / numClasses);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) {
      if (scores[i * numClasses + c] > scores[i * numClasses + best]) best = c;
    }
    out[i] = best;
  }
  return out;
}

/** Fraction of rows whose argmax equals the label. */
export function accuracy(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): number {
  const n = check(scores, labels, numClasses);
  if (n === 0) throw new AmssArgumentError("accuracy of an empty set is undefined");
  const pred = argmaxRows(scores, numClasses);
  let hit = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) hit++;
  return hit / n;
}

/** Macro-averaged F1 (scikit-learn's `f1_score(average="macro")`). */
export function macroF1(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): number {
  const n = check(scores, labels, numClasses);
  if (n === 0) throw new AmssArgumentError("macro F1 of an empty set is undefined");
  const pred = argmaxRows(scores, numClasses);
  const tp = new Float64Array(numClasses),
    fp = new Float64Array(numClasses),
    fn = new Float64Array(numClasses);
  for (let i = 0; i < n; i++) {
    if (pred[i] === labels[i]) tp[labels[i]]++;
    else {
      fp[pred[i]]++;
      fn[labels[i]]++;
    }
  }
  let sum = 0, count = 0;
  for (let c = 0; c < numClasses; c++) {
    const denom = 2 * tp[c] + fp[c] + fn[c];
    if (denom === 0) continue; // neither true nor predicted
    sum += (2 * tp[c]) / denom;
    count++;
  }
  return sum / count;
}

/** Average precision of one class (scikit-learn's `average_precision_score`), NaN without positives. */
export function averagePrecision(score: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const n = score.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b] - score[a]);
  let positives = 0;
  for (let i = 0; i < n; i++) if (positive[i]) positives++;
  if (positives === 0) return NaN;
  let tp = 0, seen = 0, ap = 0, prevRecall = 0;
  for (let i = 0; i < n;) {
    // group ties: one threshold per distinct score
    let j = i;
    while (j < n && score[order[j]] === score[order[i]]) {
      if (positive[order[j]]) tp++;
      j++;
    }
    seen = j;
    const recall = tp / positives;
    ap += (recall - prevRecall) * (tp / seen);
    prevRecall = recall;
    i = j;
  }
  return ap;
}

/** Mean of per-class average precision over classes with at least one positive. */
export function meanAveragePrecision(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): number {
  const n = check(scores, labels, numClasses);
  let sum = 0, count = 0;
  const col = new Float64Array(n);
  const pos = new Array<boolean>(n);
  for (let c = 0; c < numClasses; c++) {
    for (let i = 0; i < n; i++) {
      col[i] = scores[i * numClasses + c];
      pos[i] = labels[i] === c;
    }
    const ap = averagePrecision(col, pos);
    if (!Number.isNaN(ap)) {
      sum += ap;
      count++;
    }
  }
  if (count === 0) throw new AmssArgumentError("mAP needs at least one labelled sample");
  return sum / count;
}
