import fc from "fast-check";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { accuracy, averagePrecision, macroF1, meanAveragePrecision } from "../src/train/metrics.ts";
import { AmssArgumentError } from "../src/validate.ts";

Deno.test("accuracy and macro F1 match hand-computed values", () => {
  // predictions: [0, 1, 1, 2, 2, 0]; labels: [0, 1, 2, 2, 1, 1]
  const s = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 1, 0],
    [0, 0, 1],
    [0, 0, 1],
    [1, 0, 0],
  ].flat();
  const y = [0, 1, 2, 2, 1, 1];
  assertAlmostEquals(accuracy(s, y, 3), 3 / 6, 1e-15);
  // class 0: tp1 fp1 fn0 -> 2/3; class 1: tp1 fp1 fn2 -> 2/5; class 2: tp1 fp1 fn1 -> 1/2
  assertAlmostEquals(macroF1(s, y, 3), (2 / 3 + 2 / 5 + 1 / 2) / 3, 1e-15);
  // a class never true and never predicted does not count (scikit-learn's label set)
  const s4 = Array.from({ length: 6 }, (_, i) => [...s.slice(3 * i, 3 * i + 3), -1]).flat();
  assertAlmostEquals(macroF1(s4, y, 4), (2 / 3 + 2 / 5 + 1 / 2) / 3, 1e-15);
});

Deno.test("average precision matches scikit-learn's step-wise definition, ties grouped", () => {
  // sklearn: average_precision_score([1,0,1,1,0], [0.9,0.8,0.7,0.7,0.1]) = 1/3*1 + 2/3*(3/4) = 0.8333
  assertAlmostEquals(
    averagePrecision([0.9, 0.8, 0.7, 0.7, 0.1], [true, false, true, true, false]),
    1 / 3 + (2 / 3) * (3 / 4),
    1e-15,
  );
  // perfect ranking -> 1; no positives -> NaN
  assertEquals(averagePrecision([3, 2, 1], [true, true, false]), 1);
  assertEquals(Number.isNaN(averagePrecision([1, 2], [false, false])), true);
});

Deno.test("mAP is 1 for perfect scores and equals the prevalence for constant scores", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 40 }), (y) => {
      const perfect = y.flatMap((c) => [0, 1, 2, 3].map((k) => (k === c ? 1 : 0)));
      assertAlmostEquals(meanAveragePrecision(perfect, y, 4), 1, 1e-12);
      // constant scores: one threshold, precision = prevalence of each present class
      const present = [...new Set(y)];
      const expected = present.reduce((s, c) => s + y.filter((v) => v === c).length / y.length, 0) /
        present.length;
      assertAlmostEquals(
        meanAveragePrecision(new Array(4 * y.length).fill(0.5), y, 4),
        expected,
        1e-12,
      );
    }),
    { seed: 21, numRuns: 100 },
  );
});

Deno.test("metrics reject mismatched shapes, bad labels and NaN scores", () => {
  assertThrows(
    () => accuracy([1, 0], [0, 1], 2),
    AmssArgumentError,
    "expected labels.length * numClasses = 4",
  );
  assertThrows(() => macroF1([1, 0], [2], 2), AmssArgumentError, "labels[0] = 2");
  assertThrows(() => meanAveragePrecision([NaN, 0], [0], 2), AmssArgumentError, "scores[0] is NaN");
  assertThrows(() => accuracy([], [], 2), AmssArgumentError, "empty");
});
