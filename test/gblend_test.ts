import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { createMethod, type EpochEndInfo } from "../src/train/methods.ts";
import { gblendWeights } from "../src/rebalance/gblend.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { methodContext } from "./_helpers.ts";

await tf.setBackend("cpu");

// heads: modality a, modality v, fused
const pre = { epoch: 1, train: [1.0, 1.2, 0.9], val: [1.1, 1.3, 1.0] };
const now = { epoch: 2, train: [0.6, 1.0, 0.5], val: [0.9, 1.25, 0.95] };

Deno.test("G-Blending: w ∝ G / O^2 with G the drop of the validation loss and O the growth of the val-train gap", () => {
  // G = (0.2, 0.05, 0.05); O = (0.3 - 0.1, 0.25 - 0.1, 0.45 - 0.1) = (0.2, 0.15, 0.35)
  // raw = (0.2/0.04, 0.05/0.0225, 0.05/0.1225) = (5, 2.2222..., 0.40816...)
  const raw = [5, 0.05 / 0.0225, 0.05 / 0.1225];
  const z = raw[0] + raw[1] + raw[2];
  const w = gblendWeights(pre, now, { negative: "zero", eps: 1e-12 })!;
  raw.forEach((r, h) => assertAlmostEquals(w[h], r / z, 1e-9));
  assertAlmostEquals(w[0] + w[1] + w[2], 1, 1e-12);
});

Deno.test("G-Blending: a head whose validation loss rose gets 0 (or |G| with negative: abs); no usable head gives null", () => {
  const worse = { epoch: 2, train: [0.6, 1.0, 0.5], val: [1.2, 1.25, 0.95] }; // a: G = -0.1
  const w = gblendWeights(pre, worse, { negative: "zero", eps: 1e-12 })!;
  assertEquals(w[0], 0);
  const wa = gblendWeights(pre, worse, { negative: "abs", eps: 1e-12 })!;
  // a: |G| = 0.1, O = (1.2 - 0.6) - 0.1 = 0.5: raw 0.4
  const raw = [0.1 / 0.25, 0.05 / 0.0225, 0.05 / 0.1225];
  assertAlmostEquals(wa[0], raw[0] / (raw[0] + raw[1] + raw[2]), 1e-9);
  const none = { epoch: 2, train: [1, 1, 1], val: [2, 2, 2] };
  assertEquals(gblendWeights(pre, none, { negative: "zero", eps: 1e-8 }), null);
});

Deno.test("G-Blending: uniform start, the blended loss sum_h w_h CE_h, weights recomputed after each super-epoch", async () => {
  const names = ["a", "v"];
  const params = { "a/w": tf.variable(tf.zeros([1])) };
  const m = createMethod("g-blending", {}, methodContext(params, names));
  const LN3 = Math.log(3);
  const lossOf = async () => {
    const l = tf.tidy(() =>
      m.loss!(
        {
          // one sample of class 0: CE_a = ln(4/3), CE_v = ln 2, CE_fused = ln(1 + e^-1)
          unimodal: [tf.tensor2d([[LN3, 0]]), tf.tensor2d([[0, 0]])],
          logits: tf.tensor2d([[1, 0]]),
          features: [],
        },
        tf.tensor2d([[1, 0]]),
        { epoch: 1, step: 1, numClasses: 2, labels: new Int32Array([0]) },
      )
    );
    const v = (await l.data())[0];
    l.dispose();
    return v;
  };
  const ce = [Math.log(4 / 3), Math.log(2), Math.log(1 + Math.exp(-1))];
  assertAlmostEquals(await lossOf(), (ce[0] + ce[1] + ce[2]) / 3, 1e-6);
  const end = (h: typeof pre): EpochEndInfo => ({
    epoch: h.epoch,
    trainLoss: 0,
    trainFusedLoss: h.train[2],
    trainBranchLoss: { a: h.train[0], v: h.train[1] },
    val: { acc: 0, loss: h.val[2], branchAcc: {}, branchLoss: { a: h.val[0], v: h.val[1] } },
  });
  const first = await m.onEpochEnd!(end(pre)) as Record<string, number>;
  assertEquals(first, { "w.a": 1 / 3, "w.v": 1 / 3, "w.fused": 1 / 3 }); // nothing to compare yet
  const second = await m.onEpochEnd!(end(now)) as Record<string, number>;
  const w = gblendWeights(pre, now, { negative: "zero", eps: 1e-8 })!;
  assertEquals(second, { "w.a": w[0], "w.v": w[1], "w.fused": w[2] });
  assertAlmostEquals(await lossOf(), w[0] * ce[0] + w[1] * ce[1] + w[2] * ce[2], 1e-6);
  tf.dispose(Object.values(params));
});

Deno.test("G-Blending: bad options name the option", () => {
  const params = { "a/w": tf.variable(tf.zeros([1])) };
  const ctx = methodContext(params);
  assertThrows(
    () => createMethod("g-blending", { gblend: { superEpoch: 0 } }, ctx),
    AmssArgumentError,
    "gblend.superEpoch",
  );
  assertThrows(
    () => createMethod("g-blending", { gblend: { negative: "clip" as "zero" } }, ctx),
    AmssArgumentError,
    "gblend.negative",
  );
  tf.dispose(Object.values(params));
});
