import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertThrows } from "@std/assert";
import { createMethod, type EpochEndInfo } from "../src/train/methods.ts";
import { msesCheck, msesInit } from "../src/rebalance/mses.ts";
import type { TensorMap } from "../src/transform.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { methodContext } from "./_helpers.ts";

await tf.setBackend("cpu");

Deno.test("MSES: a modality stops after `patience` epochs without a strict improvement of its branch accuracy, and stays stopped", () => {
  const opts = { monitor: "acc" as const, patience: 2, minDelta: 0 };
  let s = msesInit(2, "acc");
  const seq = [
    [0.5, 0.5], // both set their best
    [0.6, 0.5], // a improves; v: 1 epoch without
    [0.6, 0.7], // a: equal is no improvement (1); v improves
    [0.55, 0.6], // a: 2 without -> stopped; v: 1
    [0.9, 0.6], // a stays stopped (its best is frozen); v: 2 -> stopped
  ];
  const log: [boolean[], number[]][] = [];
  for (const v of seq) {
    s = msesCheck(s, v, opts);
    log.push([s.stopped, s.wait]);
  }
  assertEquals(log, [
    [[false, false], [0, 0]],
    [[false, false], [0, 1]],
    [[false, false], [1, 0]],
    [[true, false], [2, 1]],
    [[true, true], [2, 2]],
  ]);
  assertEquals(s.best, [0.6, 0.7]);
});

Deno.test("MSES: with monitor loss, lower is better, and minDelta sets the smallest improvement", () => {
  let s = msesInit(1, "loss");
  const opts = { monitor: "loss" as const, patience: 1, minDelta: 0.1 };
  s = msesCheck(s, [1.0], opts);
  assertEquals([s.best, s.stopped], [[1.0], [false]]);
  s = msesCheck(s, [0.95], opts); // improves by only 0.05
  assertEquals([s.best, s.wait, s.stopped], [[1.0], [1], [true]]);
});

Deno.test("MSES: the transform gives a stopped modality's variables no update; epoch end logs the stopped modalities", async () => {
  const names = ["a", "v"];
  const params = {
    "a/w": tf.variable(tf.ones([2])),
    "v/w": tf.variable(tf.ones([2])),
    "fusion/w": tf.variable(tf.ones([2])),
  };
  const m = createMethod("mses", { mses: { patience: 1 } }, methodContext(params, names));
  const end = (epoch: number, a: number, v: number): EpochEndInfo => ({
    epoch,
    trainLoss: 1,
    trainFusedLoss: 1,
    trainBranchLoss: { a: 1, v: 1 },
    val: { acc: 0.5, branchAcc: { a, v } },
  });
  const grads: TensorMap = Object.fromEntries(Object.keys(params).map((n) => [n, tf.ones([2])]));
  const ctx = { params, grads, step: 1, extras: {}, info: {} };
  assertEquals(Object.keys(await m.transform!.update(grads, null, ctx)).length, 3);
  assertEquals(await m.onEpochEnd!(end(1, 0.5, 0.5)), { stopped: [], wait: { a: 0, v: 0 } });
  assertEquals(await m.onEpochEnd!(end(2, 0.6, 0.4)), { stopped: ["v"], wait: { a: 0, v: 1 } });
  assertEquals(Object.keys(await m.transform!.update(grads, null, ctx)), ["a/w", "fusion/w"]);
  assertEquals((m.state as { stopped: boolean[] }).stopped, [false, true]);
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
});

Deno.test("MSES: bad options name the option", () => {
  const params = { "a/w": tf.variable(tf.zeros([1])) };
  const ctx = methodContext(params);
  assertThrows(
    () => createMethod("mses", { mses: { patience: 0 } }, ctx),
    AmssArgumentError,
    "mses.patience",
  );
  assertThrows(
    () => createMethod("mses", { mses: { monitor: "f1" as "acc" } }, ctx),
    AmssArgumentError,
    "mses.monitor",
  );
  assertThrows(
    () => createMethod("mses", { mses: { minDelta: -1 } }, ctx),
    AmssArgumentError,
    "mses.minDelta",
  );
  tf.dispose(Object.values(params));
});
