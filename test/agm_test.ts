import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import type { ModalBatch } from "../src/amss/significance.ts";
import { createMethod } from "../src/train/methods.ts";
import { agmCoefficients, agmScores, shapleyResponses } from "../src/rebalance/agm.ts";
import type { UpdateContext } from "../src/transform.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { methodContext } from "./_helpers.ts";

await tf.setBackend("cpu");

Deno.test("AGM: Shapley responses are AGM's two-modality formula for K = 2 and sum to the fused output", () => {
  const ua = [1, 2], uv = [3, -1], F = [5, 4];
  // (F - f(0, v) + f(a, 0)) / 2 = (F - uv + ua) / 2
  const [ma, mv] = shapleyResponses([ua, uv], F);
  assertEquals(Array.from(ma), [(5 - 3 + 1) / 2, (4 + 1 + 2) / 2]);
  assertEquals(Array.from(mv), [(5 - 1 + 3) / 2, (4 - 2 - 1) / 2]);
  // K = 3: m_k = u_k + (F - sum u) / 3, and sum_k m_k = F
  const m3 = shapleyResponses([[1], [2], [3]], [9]);
  assertEquals(m3.map((m) => m[0]), [2, 3, 4]);
});

Deno.test("AGM: scores are the mean log-probability of the true class, floored at 1e-8", () => {
  // one sample, label 1, response logits (0, ln 3): p = 3/4
  assertAlmostEquals(agmScores([[0, Math.log(3)]], [1], 2)[0], Math.log(0.75), 1e-12);
  // p(label) = e^-100 / (1 + e^-100) is below 1e-8: floored
  assertAlmostEquals(agmScores([[0, -100]], [1], 2)[0], Math.log(1e-8), 1e-12);
  // the mean over two samples
  assertAlmostEquals(
    agmScores([[0, Math.log(3), 0, 0]], [1, 0], 2)[0],
    (Math.log(0.75) + Math.log(0.5)) / 2,
    1e-12,
  );
});

Deno.test("AGM: coefficients exp(alpha * min(eta_k - r_k, cap)) from the scores and their running averages", () => {
  // K = 2: K/(K-1) = 2; scores (-0.5, -1.5), mean -1: r = (e^1, e^-1); equal averages: eta = (1, 1)
  const { ratio, target, coeff } = agmCoefficients([-0.5, -1.5], [-1, -1], 1, 10);
  assertAlmostEquals(ratio[0], Math.E, 1e-12);
  assertAlmostEquals(ratio[1], 1 / Math.E, 1e-12);
  assertEquals(target, [1, 1]);
  // the modality ahead of its history is slowed down, the lagging one sped up
  assertAlmostEquals(coeff[0], Math.exp(1 - Math.E), 1e-12);
  assertAlmostEquals(coeff[1], Math.exp(1 - 1 / Math.E), 1e-12);
  // the cap bounds the exponent; alpha scales it
  assertAlmostEquals(
    agmCoefficients([-0.5, -1.5], [-1, -1], 2, 0.1).coeff[1],
    Math.exp(0.2),
    1e-12,
  );
  // K = 3: K/(K-1) = 3/2; scores (0, -1, -2), mean -1
  const k3 = agmCoefficients([0, -1, -2], [0, 0, 0], 1, 10);
  assertAlmostEquals(k3.ratio[0], Math.exp(1.5), 1e-12);
  assertAlmostEquals(k3.ratio[2], Math.exp(-1.5), 1e-12);
});

Deno.test("AGM: the transform scales each modality's gradients by its coefficient and keeps the running average", async () => {
  const names = ["a", "v"];
  const params = {
    "a/w": tf.variable(tf.ones([2])),
    "v/w": tf.variable(tf.ones([2])),
    "fusion/w": tf.variable(tf.ones([2])),
  };
  const m = createMethod("agm", { agm: { alpha: 1 } }, methodContext(params, names));
  // one sample, label 0; u_a = (ln 3, 0), u_v = (0, 0), F = u_a + u_v: responses m_a = u_a,
  // m_v = u_v, scores s = (ln 3/4, ln 1/2); first step: averages 0, so eta = (1, 1)
  const batch: ModalBatch = {
    labels: [0],
    numClasses: 2,
    predictions: [[Math.log(3), 0], [0, 0]],
    predictionKind: "logits",
  };
  const s = [Math.log(0.75), Math.log(0.5)];
  const want = agmCoefficients(s, [0, 0], 1, 10).coeff;
  const grads = Object.fromEntries(Object.keys(params).map((n) => [n, tf.ones([2])]));
  const state = m.transform!.init(params) as { avg: number[]; count: number };
  const ctx: UpdateContext = {
    params,
    grads,
    step: 1,
    extras: { batch, fused: [Math.log(3), 0] },
    info: {},
  };
  const out = await m.transform!.update(grads, state, ctx);
  assertAlmostEquals((await out["a/w"].data())[0], want[0], 1e-6);
  assertAlmostEquals((await out["v/w"].data())[0], want[1], 1e-6);
  assertEquals(out["fusion/w"], grads["fusion/w"]); // shared variables are not modulated
  assertEquals(state.count, 1);
  state.avg.forEach((a, k) => assertAlmostEquals(a, s[k], 1e-12));
  tf.dispose([out["a/w"], out["v/w"], ...Object.values(grads), ...Object.values(params)]);
});

Deno.test("AGM: bad options name the option", () => {
  const params = { "a/w": tf.variable(tf.zeros([1])), "v/w": tf.variable(tf.zeros([1])) };
  const ctx = methodContext(params);
  assertThrows(() => createMethod("agm", { agm: { cap: 0 } }, ctx), AmssArgumentError, "agm.cap");
  assertThrows(
    () => createMethod("agm", { agm: { alpha: Infinity } }, ctx),
    AmssArgumentError,
    "agm.alpha",
  );
  tf.dispose(Object.values(params));
});
