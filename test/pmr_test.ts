import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { createMethod } from "../src/train/methods.ts";
import { pmrLoss, pmrTerms, refreshPrototypes } from "../src/rebalance/pmr.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { methodContext } from "./_helpers.ts";

await tf.setBackend("cpu");

const LN3 = Math.log(3);
// Two samples (labels 0, 1), two classes, 2-D features.
// Modality a: prototypes (0,0) and (ln 3, 0); the samples sit on their own class's prototype,
//   distances (0, ln 3) and (ln 3, 0), so p_a(y_i) = 1 / (1 + e^{-ln 3}) = 3/4 for both: s_a = 3/2.
// Modality v: prototypes (0,1) and (1,0); both samples at the origin, at distance 1 from both, so
//   p_v = (1/2, 1/2): s_v = 1.
// rho = s_a / s_v = 3/2, so the weaker modality v gets clip(rho - 1, 0, 1) = 1/2 and a gets 0.
const xa = () => tf.tensor2d([[0, 0], [LN3, 0]]);
const xv = () => tf.tensor2d([[0, 0], [0, 0]]);
const pa = () => tf.tensor2d([[0, 0], [LN3, 0]]);
const pv = () => tf.tensor2d([[0, 1], [1, 0]]);
const oneHot = () => tf.tensor2d([[1, 0], [0, 1]]);
const H = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)); // entropy of (3/4, 1/4)

Deno.test("PMR: prototype softmax over negative Euclidean distances, PCE, scores and the clipped coefficient of the weaker modality", async () => {
  const got = tf.tidy(() => {
    const t = pmrTerms([xa(), xv()], [pa(), pv()], oneHot());
    return [
      t.protoLogits[0],
      tf.softmax(t.protoLogits[0]),
      ...t.pce,
      t.scores,
      t.coef,
      t.entropy,
      t.dominant,
    ];
  });
  const [logitsA, probA, pceA, pceV, scores, coef, entropy, dominant] = await Promise.all(
    got.map((x) => x.data()),
  );
  tf.dispose(got);
  // -distance: sample 1 is on prototype 0 (distance ~0) and ln 3 from prototype 1
  assertAlmostEquals(logitsA[0], 0, 1e-5);
  assertAlmostEquals(logitsA[1], -LN3, 1e-6);
  assertAlmostEquals(probA[0], 0.75, 1e-6);
  assertAlmostEquals(pceA[0], Math.log(4 / 3), 1e-6);
  assertAlmostEquals(pceV[0], Math.log(2), 1e-6);
  assertAlmostEquals(scores[0], 1.5, 1e-6);
  assertAlmostEquals(scores[1], 1, 1e-6);
  assertAlmostEquals(coef[0], 0, 1e-7);
  assertAlmostEquals(coef[1], 0.5, 1e-6);
  assertAlmostEquals(entropy[0], H, 1e-6);
  assertAlmostEquals(entropy[1], Math.log(2), 1e-6);
  assertEquals(Array.from(dominant), [1, 0]);
});

Deno.test("PMR: total loss = CE + beta * coef_v * PCE_v - mu * coef_v * H(dominant), entropy only while on", async () => {
  const out = () => ({
    logits: tf.zeros([2, 2]) as tf.Tensor2D, // fused CE = ln 2
    unimodal: [tf.zeros([2, 2]), tf.zeros([2, 2])] as tf.Tensor2D[],
    features: [xa(), xv()],
  });
  const [on, off] = await Promise.all(
    [true, false].map(async (entropyOn) => {
      const l = tf.tidy(() =>
        pmrLoss(out(), oneHot(), [pa(), pv()], { beta: 2, mu: 0.1, entropyOn })
      );
      const v = (await l.data())[0];
      l.dispose();
      return v;
    }),
  );
  const base = Math.log(2) + 2 * 0.5 * Math.log(2);
  assertAlmostEquals(off, base, 1e-6);
  assertAlmostEquals(on, base - 0.1 * 0.5 * H, 1e-6);
});

Deno.test("PMR: the imbalance coefficients are constants for the gradient (detached scores)", async () => {
  // at these features coef_v = 0.2746 (inside the clip range), so without the detach its
  // gradient with respect to modality a's features would not vanish
  const g = tf.tidy(() => {
    const grad = tf.grad((f: tf.Tensor) =>
      tf.sum(pmrTerms([f as tf.Tensor2D, xv()], [pa(), pv()], oneHot()).coef)
    );
    return grad(tf.tensor2d([[0.3, 0.1], [0.9, -0.2]]));
  });
  assertEquals(Array.from(await g.data()), [0, 0, 0, 0]);
  g.dispose();
});

Deno.test("PMR: prototypes are class means, refreshed with momentum; an empty class keeps its prototype", () => {
  // class 0: two samples summing to (2, 4) -> mean (1, 2); class 1: no sample
  const sums = [2, 4, 0, 0];
  const counts = [2, 0];
  assertEquals(Array.from(refreshPrototypes(sums, counts, 2, null, 0.2)), [1, 2, 0, 0]);
  const old = [3, 0, 5, 6];
  // (1 - 0.2) * (1, 2) + 0.2 * (3, 0) = (1.4, 1.6); class 1 keeps (5, 6)
  const got = refreshPrototypes(sums, counts, 2, old, 0.2);
  [1.4, 1.6, 5, 6].forEach((v, i) => assertAlmostEquals(got[i], v, 1e-6));
});

Deno.test("PMR: bad options name the option", () => {
  const params = { "a/w": tf.variable(tf.zeros([2, 2])), "v/w": tf.variable(tf.zeros([2, 2])) };
  const ctx = methodContext(params, ["a", "v"], { numClasses: 2 });
  for (
    const [pmr, name] of [
      [{ beta: -1 }, "pmr.beta"],
      [{ mu: Number.NaN }, "pmr.mu"],
      [{ momentum: 1 }, "pmr.momentum"],
      [{ fraction: 0 }, "pmr.fraction"],
      [{ perEpochs: 1.5 }, "pmr.perEpochs"],
    ] as const
  ) {
    assertThrows(() => createMethod("pmr", { pmr }, ctx), AmssArgumentError, name);
  }
  assertThrows(
    () => createMethod("pmr", {}, { ...ctx, numClasses: undefined }),
    AmssArgumentError,
    "numClasses",
  );
  tf.dispose(Object.values(params));
});
