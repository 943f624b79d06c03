/**
 * The method registry (src/rebalance/registry.ts): every method has an entry, the bench's
 * `--method-options` schema is derived from the per-method schemas, the defaults are what the
 * methods use, and the trainer's stop signal and K-modality imbalance figure.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  createMethod,
  METHOD_NAMES,
  METHOD_OPTIONS_SCHEMA,
  type MethodOptions,
  METHODS,
} from "../src/rebalance/registry.ts";
import { METHOD_OPTION_SCHEMA } from "../benchmarks/method_options.ts";
import { train } from "../src/train/trainer.ts";
import { methodContext, tempDir } from "./_helpers.ts";
import { tinySetup } from "./_tiny_trainable.ts";

await tf.setBackend("cpu");

Deno.test("registry: one entry per method name, each schema a subset of MethodOptions' schema", () => {
  assertEquals(Object.keys(METHODS).sort(), [...METHOD_NAMES].sort());
  for (const name of METHOD_NAMES) {
    for (const [k, f] of Object.entries(METHODS[name].schema)) {
      assertEquals(f, METHOD_OPTIONS_SCHEMA[k as keyof MethodOptions], `${name}.${k}`);
    }
    for (const k of Object.keys(METHODS[name].defaults)) {
      assert(k in METHODS[name].schema, `${name}: default ${k} is not in its schema`);
    }
  }
});

Deno.test("registry: the bench's --method-options schema is the registry's, field by field", () => {
  assertEquals(Object.keys(METHOD_OPTION_SCHEMA), Object.keys(METHOD_OPTIONS_SCHEMA));
  const amss = ["amss", "amss+", "random-mask"];
  const readers: Record<string, string[]> = {
    modality: ["unimodal"],
    scale: ["amss+", "random-mask"],
    sampler: ["amss", "amss+"],
    scales: ["global-scale", "mslr"],
    alpha: ["ogm-ge"],
    noise: ["ogm-ge"],
    pmr: ["pmr"],
    agm: ["agm"],
    greedy: ["greedy"],
    mses: ["mses"],
    gblend: ["g-blending"],
  };
  for (const [k, spec] of Object.entries(METHOD_OPTION_SCHEMA)) {
    assertEquals([...spec.methods], readers[k] ?? amss, k);
    assertEquals(spec.field, METHOD_OPTIONS_SCHEMA[k as keyof MethodOptions], k);
  }
  assertEquals(METHOD_OPTION_SCHEMA.modality.setBy, "--methods unimodal:NAME");
});

Deno.test("registry: a method given its defaults explicitly is the method given none", () => {
  const params = {
    "a/w": tf.variable(tf.ones([2, 3])),
    "v/w": tf.variable(tf.ones([2, 3])),
    "fusion/w": tf.variable(tf.ones([2])),
  };
  const ctx = methodContext(params, ["a", "v"], { numClasses: 2 });
  const names = ["amss", "amss+", "random-mask", "ogm-ge", "pmr", "agm", "mses", "g-blending"];
  for (const name of names as (keyof typeof METHODS)[]) {
    const plain = createMethod(name, {}, ctx);
    const explicit = createMethod(name, METHODS[name].defaults as MethodOptions, ctx);
    assertEquals(explicit.label, plain.label, name);
    assertEquals(explicit.lossOn, plain.lossOn, name);
  }
  tf.dispose(Object.values(params));
});

Deno.test("train: an AbortSignal aborted from onEpoch stops after that epoch's checkpoint; imbalanceDegree is max u / min u", async () => {
  const { model, base } = tinySetup();
  const dir = tempDir("signal");
  const stop = new AbortController();
  const seen: number[] = [];
  const s = await train({
    ...base,
    model: model(),
    method: "joint",
    epochs: 3,
    outDir: dir,
    signal: stop.signal,
    onEpoch: (rec) => {
      seen.push(rec.epoch);
      if (rec.epoch === 2) stop.abort();
    },
  });
  assert(s.stoppedEarly);
  assertEquals(seen, [1, 2]);
  assertEquals(s.history.length, 2);
  assert(!(await Deno.stat(`${dir}/summary.json`).then(() => true, () => false)));
  for (const r of s.history) {
    const u = Object.values(r.meanU);
    const degree = Math.max(...u) / Math.min(...u);
    assertAlmostEquals(r.imbalanceDegree, degree, 1e-12 * Math.abs(degree));
    assertAlmostEquals(r.imbalance, u[0] / u[1], 1e-12 * Math.abs(u[0] / u[1]));
  }
  await Deno.remove(dir, { recursive: true });
});
