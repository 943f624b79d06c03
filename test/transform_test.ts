import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  adagrad,
  adam,
  chain,
  disposeState,
  type GradientTransformation,
  sgd,
  step,
  stepDecay,
  type TensorMap,
} from "../src/transform.ts";
import { AmssArgumentError } from "../src/validate.ts";

await tf.setBackend("cpu");

function vars(values: Record<string, number[]>) {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, tf.variable(tf.tensor1d(v))]),
  );
}

Deno.test("sgd with momentum and weight decay follows torch.optim.SGD's recursion step by step", async () => {
  const lr = 0.1, mu = 0.9, wd = 0.01;
  const params = vars({ w: [1, -2] });
  const opt = sgd({ lr, momentum: mu, weightDecay: wd });
  const state = opt.init(params);
  let w = [1, -2];
  let buf = [0, 0];
  const gs = [[0.5, 1], [-1, 2], [0.25, -0.5]];
  for (const [t, g] of gs.entries()) {
    const grads = { w: tf.tensor1d(g) };
    await step(params, grads, opt, state, t + 1);
    grads.w.dispose();
    const d = g.map((gi, i) => gi + wd * w[i]);
    buf = t === 0 ? d : buf.map((b, i) => mu * b + d[i]);
    w = w.map((wi, i) => wi - lr * buf[i]);
    const got = params.w.dataSync();
    w.forEach((wi, i) => assertAlmostEquals(got[i], wi, 1e-6));
  }
  disposeState(state);
});

Deno.test("adam follows torch.optim.Adam's bias-corrected recursion", async () => {
  const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const params = vars({ w: [0.5] });
  const opt = adam({ lr });
  const state = opt.init(params);
  let w = 0.5, m = 0, v = 0;
  for (const [t, g] of [0.3, -0.1, 0.7].entries()) {
    const grads = { w: tf.tensor1d([g]) };
    await step(params, grads, opt, state, t + 1);
    grads.w.dispose();
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    w -= lr * (m / (1 - b1 ** (t + 1))) / (Math.sqrt(v / (1 - b2 ** (t + 1))) + eps);
    assertAlmostEquals(params.w.dataSync()[0], w, 1e-6);
  }
  disposeState(state);
});

Deno.test("adagrad follows torch.optim.Adagrad: w -= lr g / (sqrt(sum g^2) + eps), with L2 decay", async () => {
  const lr = 0.1, eps = 1e-10, wd = 0.01;
  const params = vars({ w: [0.5, -1] });
  const opt = adagrad({ lr, weightDecay: wd });
  const state = opt.init(params);
  const w = [0.5, -1], acc = [0, 0];
  for (const [t, g] of [[0.3, 0], [-0.1, 2], [0.7, -0.5]].entries()) {
    const grads = { w: tf.tensor1d(g) };
    await step(params, grads, opt, state, t + 1);
    grads.w.dispose();
    for (let i = 0; i < 2; i++) {
      const gi = g[i] + wd * w[i];
      acc[i] += gi * gi;
      w[i] -= (lr * gi) / (Math.sqrt(acc[i]) + eps);
    }
    const got = params.w.dataSync();
    w.forEach((x, i) => assertAlmostEquals(got[i], x, 1e-6));
  }
  assertThrows(() => adagrad({ lr: 0.1, eps: 0 }), AmssArgumentError, "eps");
  disposeState(state);
});

Deno.test("step decay multiplies the rate by gamma at each milestone epoch", () => {
  const lr = stepDecay(0.01, [2, 4], 0.1, 10);
  assertAlmostEquals(lr(1), 0.01, 1e-15);
  assertAlmostEquals(lr(20), 0.01, 1e-15);
  assertAlmostEquals(lr(21), 0.001, 1e-15);
  assertAlmostEquals(lr(41), 0.0001, 1e-15);
});

Deno.test("a chain neither leaks nor disposes the caller's gradients", async () => {
  const params = vars({ a: [1, 2, 3], b: [4] });
  const halve: GradientTransformation<null> = {
    init: () => null,
    update: (u: TensorMap) =>
      Object.fromEntries(Object.entries(u).map(([k, t]) => [k, tf.mul(t, 0.5)])),
  };
  const passThrough: GradientTransformation<null> = { init: () => null, update: (u) => u };
  const opt = chain(
    passThrough,
    halve,
    sgd({ lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }),
    passThrough,
  );
  const state = opt.init(params);
  const grads = { a: tf.tensor1d([1, 1, 1]), b: tf.tensor1d([2]) };
  await step(params, grads, opt, state, 1); // warm-up allocations
  const before = tf.memory().numTensors;
  for (let t = 2; t < 30; t++) await step(params, grads, opt, state, t);
  assertEquals(tf.memory().numTensors, before);
  assertEquals(grads.a.isDisposed, false);
  tf.dispose(grads);
  disposeState(state);
});

Deno.test("optimizer arguments are validated with clear errors", () => {
  assertThrows(
    () => sgd({ lr: 0.1, momentum: 1.5 }),
    AmssArgumentError,
    "momentum must be in [0, 1]",
  );
  assertThrows(() => sgd({ lr: 0.1, weightDecay: -1 }), AmssArgumentError, "weightDecay");
  assertThrows(() => adam({ lr: 0.1, beta2: 2 }), AmssArgumentError, "beta2");
  assertThrows(() => stepDecay(0.1, [1], 0, 10), AmssArgumentError, "gamma must be > 0");
});

Deno.test("a non-finite learning rate from a schedule is an error, not a NaN step", async () => {
  const params = vars({ w: [1] });
  const opt = sgd({ lr: () => NaN });
  const state = opt.init(params);
  const grads = { w: tf.tensor1d([1]) };
  let err: unknown;
  try {
    await step(params, grads, opt, state, 1);
  } catch (e) {
    err = e;
  }
  assertEquals((err as Error).message, "learning rate must be a finite number, got NaN");
  assertEquals(params.w.dataSync()[0], 1);
  tf.dispose(grads);
});
