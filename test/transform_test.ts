import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { applyUnitScale } from "../src/amss/units.ts";
import {
  adagrad,
  adam,
  chain,
  disposeState,
  type GradientTransformation,
  type Params,
  sgd,
  step,
  stepDecay,
  type TensorMap,
} from "../src/transform.ts";
import { acceptsUnitScale, deferUnitScale, pendingUnitScale } from "../src/unit_scale.ts";
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

Deno.test("a deferred unit scale: sgd without its fused kernel applies it; a scale nobody applies is an error", async () => {
  // [pre, units, post] views: channel-last [2, 3] (post 1), axis 0 of [3, 2] (post 2), a vector
  const shapes: Record<string, number[]> = { a: [2, 3], b: [3, 2], c: [4] };
  const views = new Map<string, readonly [number, number, number, number]>([
    ["a", [2, 3, 1, 0]],
    ["b", [1, 3, 2, 3]],
    ["c", [1, 4, 1, 6]],
  ]);
  const scaleValues = [0, 2, 1, 3, 0, 0.5, 1, 0, 4, 1];
  const specs = { a: { kind: "channel" }, b: { kind: "channel", axis: 0 }, c: { kind: "element" } };
  const run = async (deferred: boolean) => {
    const params: Params = Object.fromEntries(
      Object.entries(shapes).map((
        [k, sh],
        i,
      ) => [k, tf.variable(tf.randomNormal(sh, 0, 1, "float32", i + 1))]),
    );
    const opt = sgd({ lr: 0.1, momentum: 0.9, weightDecay: 1e-2 });
    assertEquals(acceptsUnitScale(opt), false, "cpu has no fused kernel");
    const st = opt.init(params);
    for (let t = 1; t <= 2; t++) {
      const start = tf.memory().numTensors;
      const grads: TensorMap = Object.fromEntries(
        Object.entries(shapes).map((
          [k, sh],
          i,
        ) => [k, tf.randomNormal(sh, 0, 1, "float32", 10 * t + i)]),
      );
      const sc = tf.tensor1d(scaleValues);
      const ctx = { params, grads, step: t, extras: {}, info: {} } as Parameters<
        typeof opt.update
      >[2];
      let input = grads;
      if (deferred) deferUnitScale(ctx, { scale: sc, views });
      else {
        input = Object.fromEntries(
          Object.entries(grads).map(([k, g]) => {
            const [, units, , off] = views.get(k)!;
            return [
              k,
              tf.tidy(() =>
                applyUnitScale(g, tf.slice(sc, off, units) as tf.Tensor1D, specs[k as "a"] as never)
              ),
            ];
          }),
        );
        sc.dispose();
      }
      const upd = await opt.update(input, st, ctx);
      assertEquals(pendingUnitScale(ctx), undefined, "consumed");
      tf.tidy(() => {
        for (const [k, u] of Object.entries(upd)) params[k].assign(params[k].add(u));
      });
      tf.dispose(Object.values(upd));
      if (!deferred) tf.dispose(Object.values(input));
      tf.dispose(Object.values(grads));
      assertEquals(tf.memory().numTensors, start, "the scale and every intermediate disposed");
    }
    const out = Object.values(params).map((p) => Array.from(p.dataSync()));
    disposeState(st);
    tf.dispose(Object.values(params));
    return out;
  };
  assertEquals(await run(true), await run(false));

  const leaves: GradientTransformation<null> = {
    init: () => null,
    update(u, _s, ctx) {
      deferUnitScale(ctx, { scale: tf.tensor1d([1]), views: new Map() });
      return u;
    },
  };
  const p = vars({ x: [1] });
  const g = { x: tf.tensor1d([1]) };
  await assertRejects(
    () => step(p, g, chain(leaves, sgd({ lr: 1 })), [null, [null, null, null]], 1),
    Error,
    "nothing after it applies",
  );
  assertEquals(acceptsUnitScale(chain(sgd({ lr: 1 }))), false);
  tf.dispose([...Object.values(p), g.x]);
});
