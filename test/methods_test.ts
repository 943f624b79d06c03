/**
 * CI-sized runs of the rebalancing methods of src/rebalance/ (PMR, AGM, Greedy, MSES,
 * G-Blending) through the real trainer on the tiny model and dataset of trainer_test.ts: each
 * asserts something the method must do.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertGreater } from "@std/assert";
import { loadCheckpoint } from "../src/io/checkpoint.ts";
import type { MethodName, MethodOptions } from "../src/train/methods.ts";
import { train } from "../src/train/trainer.ts";
import type { EpochRecord } from "../src/train/types.ts";
import { disposeState } from "../src/transform.ts";
import { tempDir } from "./_helpers.ts";
import { tinySetup } from "./_tiny_trainable.ts";

await tf.setBackend("cpu");

const { model, base } = tinySetup();

/** Trains and checks that every metric is finite and that tfjs memory is flat. */
async function run(
  method: MethodName,
  methodOptions: MethodOptions,
  extra: { epochs?: number; outDir?: string; stopAfterEpoch?: number; resume?: boolean } = {},
) {
  const before = tf.memory().numTensors;
  const s = await train({ ...base, model: model(), method, methodOptions, epochs: 2, ...extra });
  assertEquals(tf.memory().numTensors, before, `${method}: tensors leaked`);
  for (const r of s.history) {
    for (
      const v of [r.trainLoss, r.trainFusedLoss, r.val.acc, r.val.loss!, r.test.acc, r.test.mAP]
    ) assert(Number.isFinite(v), `${method} epoch ${r.epoch}: ${JSON.stringify(r)}`);
    for (const m of ["audio", "visual"]) {
      assert(Number.isFinite(r.trainBranchLoss[m]) && Number.isFinite(r.val.branchLoss![m]));
    }
  }
  return s;
}

/** The checkpoint of a run folder as plain data and tensors (disposed by the caller). */
async function checkpoint(dir: string) {
  return await loadCheckpoint(dir, "checkpoint", {}) as {
    epoch: number;
    params: Record<string, tf.Tensor>;
    method: Record<string, unknown>;
  };
}

Deno.test("pmr trains with its prototype loss on, and keeps C x d prototypes per modality in its checkpointed state", async () => {
  const dir = tempDir("pmr");
  const s = await run("pmr", { pmr: { perEpochs: 0, fraction: 0.5 } }, { outDir: dir });
  // without the entropy term the objective is CE + beta * sum_k coef_k PCE_k >= CE, and the weaker
  // modality's PCE is on in some batch
  assertGreater(s.history[0].trainLoss - s.history[0].trainFusedLoss, 1e-3);
  const ck = await checkpoint(dir);
  const protos = ck.method.protos as Float32Array[];
  assertEquals(protos.map((p) => p.length), [4 * 8, 4 * 8]); // C = 4 classes, d = 8 features
  assert(protos.every((p) => p.every(Number.isFinite)));
  // the state moves: after one epoch the prototypes were different
  const dir1 = tempDir("pmr1");
  await run("pmr", { pmr: { perEpochs: 0, fraction: 0.5 } }, { outDir: dir1, epochs: 1 });
  const ck1 = await checkpoint(dir1);
  assert((ck1.method.protos as Float32Array[])[0].some((v, i) => v !== protos[0][i]));
  disposeState([ck, ck1]);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(dir1, { recursive: true });
});

Deno.test("agm logs per-modality coefficients that move away from 1", async () => {
  const s = await run("agm", {});
  for (const r of s.history) {
    const log = r.methodLog as Record<string, number>;
    for (const m of ["audio", "visual"]) {
      assert(log[`coeff.${m}`] > 0 && Number.isFinite(log[`coeff.${m}`]), JSON.stringify(log));
    }
  }
  const l2 = s.history[1].methodLog as Record<string, number>;
  assert(Math.abs(l2["coeff.audio"] - 1) > 1e-3 || Math.abs(l2["coeff.visual"] - 1) > 1e-3);
});

Deno.test("greedy re-balances: with threshold 0 some steps update one modality's branch only", async () => {
  const s = await run("greedy", { greedy: { threshold: 0, startEpoch: 1, window: 3 } });
  const frac = (r: EpochRecord, m: string) =>
    (r.methodLog as Record<string, number>)[`rebalance.${m}`];
  const total = s.history.reduce((a, r) => a + frac(r, "audio") + frac(r, "visual"), 0);
  assertGreater(total, 0);
  // a window of 3 re-balancing steps follows every normal step: 3 of every 4 steps re-balance
  assertAlmostEquals(frac(s.history[1], "audio") + frac(s.history[1], "visual"), 0.75, 0.15);
});

Deno.test("mses stops both modalities that cannot improve and their encoders stop moving", async () => {
  const dir = tempDir("mses");
  // minDelta 1: only the first epoch improves; patience 1: both stop after epoch 2
  const opts = { mses: { patience: 1, minDelta: 1 } };
  const part = await run("mses", opts, { outDir: dir, epochs: 3, stopAfterEpoch: 2 });
  assertEquals(part.history.map((r) => r.methodLog?.stopped), [[], ["audio", "visual"]]);
  const after2 = await checkpoint(dir);
  const done = await run("mses", opts, { outDir: dir, epochs: 3, resume: true });
  assertEquals(done.history.length, 3);
  const after3 = await checkpoint(dir);
  for (const [name, t] of Object.entries(after3.params)) {
    const same = (await t.data()).every((v, i) => v === after2.params[name].dataSync()[i]);
    assertEquals(same, !name.startsWith("fusion/"), name); // the fusion head still learns
  }
  disposeState([after2, after3]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("g-blending starts uniform and re-weights its heads from the second epoch on", async () => {
  const s = await run("g-blending", {});
  const w = (r: EpochRecord) => {
    const l = r.methodLog as Record<string, number>;
    return [l["w.audio"], l["w.visual"], l["w.fused"]];
  };
  assertEquals(w(s.history[0]), [1 / 3, 1 / 3, 1 / 3]);
  const w2 = w(s.history[1]);
  assertAlmostEquals(w2[0] + w2[1] + w2[2], 1, 1e-12);
  assert(w2.some((x) => Math.abs(x - 1 / 3) > 1e-6), JSON.stringify(w2));
});
