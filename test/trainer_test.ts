import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertGreater, assertRejects } from "@std/assert";
import {
  DEFAULT_LAMBDA,
  initialPaperSignificanceState,
  paperSignificance,
} from "../src/amss/significance.ts";
import {
  createMethod,
  ENTROPY_FLOOR,
  METHOD_NAMES,
  type MethodName,
  SIGNIFICANCE_DEFAULTS,
} from "../src/train/methods.ts";
import {
  isLoggedSignificance,
  loggedSignificance,
  train,
  TrainingDivergedError,
} from "../src/train/trainer.ts";
import { chain, disposeState, sgd, step } from "../src/transform.ts";
import { methodContext, tempDir } from "./_helpers.ts";
import { gradients, modalBatch, MODALITIES, tinyBatch, tinyParams } from "./_tiny_model.ts";
import { tinySetup } from "./_tiny_trainable.ts";

await tf.setBackend("cpu");

const { model, base } = tinySetup();

Deno.test("joint training learns, selects the epoch on validation and writes a complete run folder", async () => {
  const dir = tempDir("run");
  const s = await train({ ...base, model: model(), method: "joint", epochs: 4, outDir: dir });
  assertGreater(s.test.acc, 0.5, "well above chance (0.25)");
  const best = s.history.reduce((b, r) => (r.val.acc > b.val.acc ? r : b));
  assertEquals(s.bestEpoch, best.epoch);
  assertEquals(s.test, best.test);
  const lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assertEquals(lines.length, 4);
  assertEquals(lines[3].epoch, 4);
  assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/summary.json`)).bestEpoch, s.bestEpoch);
  assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/config.json`)).method, "joint");
  const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp"));
  assertEquals(leftovers, []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a run killed after an epoch and resumed ends with the same metrics as an uninterrupted run", async () => {
  // method state in the checkpoint: AMSS+ and OGM-GE (transform state, noise seeds), PMR
  // (prototypes, refreshed on a shuffled half of the data), MSES (stop flags and counters; minDelta
  // 0.05 so that a modality stops before the cut), AGM (running averages), Greedy (speeds, mode),
  // G-Blending (weights, last boundary)
  const methods: MethodName[] = ["amss+", "ogm-ge", "pmr", "mses", "agm", "greedy", "g-blending"];
  for (const method of methods) {
    const opts = {
      ...base,
      method,
      methodOptions: {
        scale: "horvitz-thompson" as const,
        pmr: { fraction: 0.5, perEpochs: 3 },
        mses: { patience: 1, minDelta: 0.05 },
        greedy: { startEpoch: 2 },
      },
      epochs: 4,
    };
    const full = await train({ ...opts, model: model() });
    const dir = tempDir("resume");
    const part = await train({ ...opts, model: model(), outDir: dir, stopAfterEpoch: 2 });
    assert(part.stoppedEarly);
    assertEquals(part.history.length, 2);
    const resumed = await train({ ...opts, model: model(), outDir: dir, resume: true });
    const strip = (h: typeof full.history) => h.map(({ msPerStep: _m, ...r }) => r);
    assertEquals(strip(resumed.history), strip(full.history), method);
    assertEquals(resumed.test, full.test, method);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every method trains one epoch through the same trainer and reports its ratios", async () => {
  for (const method of METHOD_NAMES) {
    const s = await train({
      ...base,
      model: model(),
      method,
      methodOptions: { modality: "visual", scales: { audio: 0.5 } },
      epochs: 1,
    });
    assert(Number.isFinite(s.test.acc), method);
    const rho = s.history[0].meanRho;
    assertEquals(Object.keys(rho), ["audio", "visual"]);
    assertEquals(
      s.history[0].rhoSource,
      ["amss", "amss+", "random-mask"].includes(method) ? "method" : "logged",
      method,
    );
  }
});

Deno.test("tfjs memory does not grow across 200 training steps", async () => {
  // 160 samples / batch 16 = 10 steps per epoch; 20 epochs = 200 steps. Tensors alive after the
  // run must equal those alive before it (the trainer disposes params, state and optimizer state).
  const before = tf.memory().numTensors;
  await train({
    ...base,
    model: model(),
    method: "amss+",
    methodOptions: { scale: "horvitz-thompson" },
    epochs: 20,
  });
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("a diverging run stops with a clear error naming the step and keeps the last good checkpoint", async () => {
  const dir = tempDir("nan");
  // epoch 1 trains normally; the rate jumps by 1e30 for epoch 2, which diverges
  const optimizer = { kind: "sgd" as const, lr: 0.05, milestones: [1], gamma: 1e30 };
  const bad = {
    ...base,
    model: model(),
    method: "joint" as const,
    epochs: 3,
    outDir: dir,
    optimizer,
  };
  const err = await assertRejects(() => train(bad), TrainingDivergedError);
  assert(
    /epoch 2, step \d+/.test(err.message) || /non-finite gradient at step \d+/.test(err.message),
    err.message,
  );
  assert(err.message.includes("last good checkpoint (epoch 1)"), err.message);
  const ckpt = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
  assertEquals(ckpt.tree.epoch, 1);
  assertEquals((await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n").length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("logged significance: AMSS's own estimator is reused only when it is the logged one (paper, logged tau, default lambda)", () => {
  const logTau = SIGNIFICANCE_DEFAULTS.tau;
  const logged = { mode: "paper" as const, tau: logTau, entropyFloor: ENTROPY_FLOOR };
  assert(isLoggedSignificance(logged, logTau));
  assert(isLoggedSignificance({ ...logged, lambda: DEFAULT_LAMBDA, init: "first" }, logTau));
  for (
    const other of [
      undefined,
      { ...logged, tau: 0.2 },
      { ...logged, lambda: 0.5 },
      { ...logged, init: "zero" as const },
      { ...logged, entropy: "none" as const },
      { ...logged, entropyFloor: 0 },
      { mode: "reference" as const, tau: logTau },
    ]
  ) assert(!isLoggedSignificance(other, logTau), JSON.stringify(other));
  // what the registry builds: AMSS by default runs the logged estimator; the reference estimator,
  // another lambda and the baselines do not
  const params = tinyParams(3);
  const ctx = methodContext(params, [...MODALITIES]);
  assert(isLoggedSignificance(createMethod("amss", {}, ctx).significance, logTau));
  assert(isLoggedSignificance(createMethod("amss+", {}, ctx).significance, logTau));
  assert(!isLoggedSignificance(createMethod("amss", { lambda: 0.5 }, ctx).significance, logTau));
  assert(
    !isLoggedSignificance(
      createMethod("amss", { significance: "reference" }, ctx).significance,
      logTau,
    ),
  );
  assertEquals(createMethod("joint", {}, ctx).significance, undefined);
  tf.dispose(Object.values(params));
});

Deno.test("logged significance taken from AMSS's step equals the trainer's own computation, bit for bit, over 6 steps", async () => {
  const params = tinyParams(5);
  const method = createMethod("amss", {}, methodContext(params, [...MODALITIES]));
  const opt = chain(method.transform!, sgd({ lr: 0.05 }));
  const optState = opt.init(params);
  const shared = {
    state: { logSig: initialPaperSignificanceState() },
    logTau: SIGNIFICANCE_DEFAULTS.tau,
    sharesSignificance: isLoggedSignificance(method.significance, SIGNIFICANCE_DEFAULTS.tau),
  };
  assert(shared.sharesSignificance);
  const own = { ...shared, state: { logSig: initialPaperSignificanceState() } };
  own.sharesSignificance = false;
  for (let i = 1; i <= 6; i++) {
    const b = tinyBatch(100 + i);
    const mb = modalBatch(params, b);
    const grads = gradients(params, b);
    const info = await step(params, grads, opt, optState, i, { batch: mb });
    tf.dispose(Object.values(grads));
    tf.dispose(Object.values(b.inputs));
    const a = info.amss!;
    assert(a.significance, "AMSS reports its significance");
    const fromAmss = loggedSignificance(shared, mb, a);
    assertEquals(fromAmss, a.significance, "the shared path returns AMSS's own result");
    const computed = loggedSignificance(own, mb, a);
    assertEquals([...fromAmss.smoothed], [...computed.smoothed], `step ${i}: u`);
    assertEquals([...fromAmss.ratios], [...computed.ratios], `step ${i}: rho`);
    assertEquals(shared.state.logSig, own.state.logSig, `step ${i}: momentum state`);
  }
  // a method whose estimator is not the logged one: the trainer computes its own
  const other = { ...own, state: { logSig: initialPaperSignificanceState() } };
  const b = tinyBatch(200);
  const mb = modalBatch(params, b);
  const fake = { ratios: {}, kept: {}, maxWeight: 1, zeroImportanceGroups: [] };
  const expected = paperSignificance(mb, initialPaperSignificanceState(), {
    tau: SIGNIFICANCE_DEFAULTS.tau,
    entropyFloor: ENTROPY_FLOOR,
  });
  assertEquals([...loggedSignificance(other, mb, fake).smoothed], [...expected.result.smoothed]);
  assertEquals(other.state.logSig, expected.state);
  tf.dispose(Object.values(b.inputs));
  disposeState(optState);
  tf.dispose(Object.values(params));
});
