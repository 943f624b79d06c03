import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import type { ModalBatch } from "../src/amss/significance.ts";
import { createMethod, type MethodContext } from "../src/train/methods.ts";
import { bdrDifference, type GreedyState, greedyTransition } from "../src/rebalance/greedy.ts";
import type { Params, TensorMap, UpdateContext } from "../src/transform.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { methodContext } from "./_helpers.ts";

await tf.setBackend("cpu");

const fresh = (): GreedyState => ({
  fusion: [0, 0],
  main: [0, 0],
  mode: -1,
  curationStep: 0,
  dBDR: 0,
});

Deno.test("Greedy: d = log10(fusion_1 / main_1) - log10(fusion_2 / main_2) of the accumulated speeds", () => {
  assertAlmostEquals(bdrDifference([2, 1], [0.2, 1]), 1, 1e-12);
  assertAlmostEquals(bdrDifference([1, 1], [1, 0.01]), -2, 1e-12);
});

Deno.test("Greedy: |d| > threshold starts `window` re-balancing steps of the modality with the larger BDR, then normal steps", () => {
  const sp = { fusion: [2, 1], main: [0.2, 1] }; // d = +1: modality 1's own branch lags
  let s = greedyTransition(fresh(), sp, true, 0.5, 2);
  assertEquals([s.mode, s.curationStep], [0, 0]);
  assertEquals(s.fusion, [2, 1]);
  s = greedyTransition(s, sp, true, 0.5, 2); // first re-balancing step: speeds not accumulated
  assertEquals([s.mode, s.curationStep], [0, 1]);
  assertEquals(s.fusion, [2, 1]);
  s = greedyTransition(s, sp, true, 0.5, 2); // second: the window of 2 is over
  assertEquals(s.mode, -1);
  // d < 0 cares for modality 2
  assertEquals(greedyTransition(fresh(), { fusion: [1, 2], main: [1, 0.2] }, true, 0.5, 2).mode, 1);
  // below the threshold, or before the start epoch: normal steps, but the speeds accumulate
  assertEquals(greedyTransition(fresh(), sp, true, 1.5, 2).mode, -1);
  const locked = greedyTransition(fresh(), sp, false, 0.5, 2);
  assertEquals([locked.mode, locked.main], [-1, [0.2, 1]]);
});

function tinyCtx(): MethodContext {
  const names = ["a", "v"];
  const params: Params = {
    "a/w": tf.variable(tf.ones([2, 2])),
    "v/w": tf.variable(tf.ones([2, 2])),
    "fusion/w": tf.variable(tf.ones([4, 2])), // concat kernel: rows 0-1 take a's features, 2-3 v's
    "fusion/b": tf.variable(tf.zeros([2])),
  };
  return methodContext(params, names);
}

const batch: ModalBatch = {
  labels: [0],
  numClasses: 2,
  predictions: [[0, 0], [0, 0]],
  predictionKind: "logits",
  features: [{ data: [1, 1], dim: 2 }, { data: [1, 1], dim: 2 }],
};

Deno.test("Greedy: the transform measures mu = ||g||^2/||w||^2 per branch and then updates only the chosen modality", async () => {
  const ctx = tinyCtx();
  const m = createMethod("greedy", { greedy: { threshold: 0.5, window: 2, startEpoch: 1 } }, ctx);
  // every weight is 1 (||w||^2 = 4 per 2x2 block). Gradients: a's encoder 0.1 (mu_main_a = 0.01),
  // v's encoder 1 (mu_main_v = 1), fusion rows 1 (mu_fusion = 1 for both):
  // BDR_a = log10(1 / 0.01) = 2, BDR_v = 0, d = 2 > 0.5: re-balance modality a
  const grads: TensorMap = {
    "a/w": tf.fill([2, 2], 0.1),
    "v/w": tf.ones([2, 2]),
    "fusion/w": tf.ones([4, 2]),
    "fusion/b": tf.ones([2]),
  };
  const state = m.transform!.init(ctx.params) as GreedyState;
  const upd = (step: number): Promise<TensorMap> => {
    const c: UpdateContext = {
      params: ctx.params,
      grads,
      step,
      extras: { batch, epoch: 1 },
      info: {},
    };
    return Promise.resolve(m.transform!.update(grads, state, c));
  };
  const first = await upd(1); // decided after this step: this step is a normal one
  assertEquals(Object.keys(first).sort(), ["a/w", "fusion/b", "fusion/w", "v/w"]);
  assertAlmostEquals(state.main[0], 0.01, 1e-7);
  assertAlmostEquals(state.main[1], 1, 1e-7);
  assertAlmostEquals(state.fusion[0], 1, 1e-7);
  assertAlmostEquals(state.dBDR, 2, 1e-5);
  assertEquals(state.mode, 0);
  assertEquals(Object.keys(await upd(2)), ["a/w"]); // re-balancing: only modality a's branch
  assertEquals(Object.keys(await upd(3)), ["a/w"]);
  assertEquals(state.mode, -1);
  tf.dispose([...Object.values(grads), ...Object.values(ctx.params)]);
});

Deno.test("Greedy: on an MMTM fusion the bypass is the modality's excitation plus the shared squeeze (the authors' rule)", async () => {
  const names = ["a", "v"];
  const params: Params = {
    "a/w": tf.variable(tf.ones([2, 2])),
    "v/w": tf.variable(tf.ones([2, 2])),
    "fusion/mmtm/stage2/squeeze/kernel": tf.variable(tf.ones([2, 2])),
    "fusion/mmtm/stage2/excite/a/kernel": tf.variable(tf.ones([2, 2])),
    "fusion/mmtm/stage2/excite/v/kernel": tf.variable(tf.ones([2, 2])),
  };
  const ctx: MethodContext = methodContext(params, names);
  const m = createMethod("greedy", { greedy: { startEpoch: 1 } }, ctx);
  const grads: TensorMap = {
    "a/w": tf.fill([2, 2], 0.1),
    "v/w": tf.ones([2, 2]),
    "fusion/mmtm/stage2/squeeze/kernel": tf.ones([2, 2]),
    "fusion/mmtm/stage2/excite/a/kernel": tf.ones([2, 2]),
    "fusion/mmtm/stage2/excite/v/kernel": tf.fill([2, 2], 0.1),
  };
  const state = m.transform!.init(params) as GreedyState;
  await m.transform!.update(grads, state, {
    params,
    grads,
    step: 1,
    extras: { batch, epoch: 1 },
    info: {},
  });
  // bypass a: (4 + 4) / (4 + 4) = 1; bypass v: (4 + 0.04) / (4 + 4) = 0.505
  assertAlmostEquals(state.fusion[0], 1, 1e-6);
  assertAlmostEquals(state.fusion[1], 0.505, 1e-6);
  assertAlmostEquals(state.dBDR, Math.log10(1 / 0.01) - Math.log10(0.505), 1e-5);
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
});

Deno.test("Greedy: refuses K != 2, a model without a concat fusion kernel, and bad options", async () => {
  const ctx = tinyCtx();
  assertThrows(
    () => createMethod("greedy", {}, { ...ctx, modalities: ["a", "v", "t"] }),
    AmssArgumentError,
    "two modalities",
  );
  assertThrows(
    () => createMethod("greedy", { greedy: { window: 0 } }, ctx),
    AmssArgumentError,
    "greedy.window",
  );
  assertThrows(
    () => createMethod("greedy", { greedy: { threshold: -1 } }, ctx),
    AmssArgumentError,
    "greedy.threshold",
  );
  assertThrows(
    () => createMethod("greedy", { greedy: { bypass: "mmtm-x" as "mmtm" } }, ctx),
    AmssArgumentError,
    "greedy.bypass",
  );
  const late = { ...ctx, params: { "a/w": ctx.params["a/w"], "v/w": ctx.params["v/w"] } };
  const m = createMethod("greedy", {}, late);
  const grads = { "a/w": tf.ones([2, 2]), "v/w": tf.ones([2, 2]) };
  await assertRejects(
    async () =>
      await m.transform!.update(grads, m.transform!.init(late.params), {
        params: late.params,
        grads,
        step: 1,
        extras: { batch, epoch: 1 },
        info: {},
      }),
    AmssArgumentError,
    "the model has neither",
  );
  tf.dispose([...Object.values(grads), ...Object.values(ctx.params)]);
});
