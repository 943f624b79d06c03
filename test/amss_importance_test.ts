/**
 * The per-unit importance the AMSS engine samples with (paper Sec. 3.2.2, Appendix C.2), as
 * values: `info.amss.importance` (config `recordImportance`) against a float64 reference computed
 * here element by element, for every unit layout the engine scores differently and every
 * importance mode. Top-k selection alone cannot see an order-preserving change of the score
 * (|g| for g^2, a square root of the sum), while the values drive the sampling law and every
 * AMSS+ scale.
 *
 * Layouts and the engine path that scores them (src/amss/group_layout.ts groups them, src/amss/draw.ts scores them):
 * - element-wise vectors and matrices: the concatenated element block (square per element);
 * - channel-last single-variable groups (conv `[kh, kw, in, out]`, dense `[in, out]`, a rank-1
 *   channel variable): the pooled fast path (`fastSumSquares`);
 * - a channel on axis 0, a channel on a middle axis, attention heads (one variable, and Q/K/V plus
 *   output projection in one group), a neuron group (dense kernel columns with their bias, the
 *   trainer's "neuron" units): `groupImportance` in src/amss/units.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { amss } from "../src/amss/amss.ts";
import { modalityByPrefix, planMasks, type PlanRules } from "../src/amss/groups.ts";
import type { ImportanceMode } from "../src/amss/units.ts";
import { registerWasmTrainingKernels } from "../src/backend/wasm_kernels.ts";
import { neuronRules } from "../src/amss/groups.ts";
import { Rng } from "../src/rng.ts";
import type { Params } from "../src/transform.ts";
import { amssUpdate, unitOf } from "./_helpers.ts";

await tf.setBackend("cpu");

const MODS = ["a", "v"];
const MODES: ImportanceMode[] = ["gn", "gn/wn", "sqrt(gn)"];

/** Shapes and unit rules per modality (before neuronRules joins `ffn/kernel` with `ffn/bias`). */
const LAYOUT: Record<
  string,
  { shape: number[]; rule: (m: string) => ReturnType<PlanRules["unitOf"]> }
> = {
  "conv/kernel": { shape: [3, 3, 2, 6], rule: () => ({ kind: "channel" }) },
  "dense/kernel": { shape: [5, 4], rule: () => ({ kind: "channel", axis: -1 }) },
  "gamma": { shape: [6], rule: () => ({ kind: "channel" }) },
  "rows/kernel": { shape: [7, 3], rule: () => ({ kind: "channel", axis: 0 }) },
  "mid/kernel": { shape: [2, 5, 3], rule: () => ({ kind: "channel", axis: 1 }) },
  "solo/kernel": { shape: [4, 6], rule: () => ({ kind: "heads", heads: 3, axis: 1 }) },
  "attn/query/kernel": {
    shape: [4, 6],
    rule: (m) => ({ kind: "heads", heads: 2, axis: 1, group: `${m}/attn` }),
  },
  "attn/key/kernel": {
    shape: [4, 6],
    rule: (m) => ({ kind: "heads", heads: 2, axis: 1, group: `${m}/attn` }),
  },
  "attn/value/kernel": {
    shape: [4, 6],
    rule: (m) => ({ kind: "heads", heads: 2, axis: 1, group: `${m}/attn` }),
  },
  "attn/out/kernel": {
    shape: [6, 4],
    rule: (m) => ({ kind: "heads", heads: 2, axis: 0, group: `${m}/attn` }),
  },
  "ffn/kernel": { shape: [4, 5], rule: () => ({ kind: "element" }) }, // neuron unit via neuronRules
  "ffn/bias": { shape: [5], rule: () => ({ kind: "element" }) }, // joins ffn/kernel's neurons
  "beta": { shape: [5], rule: () => ({ kind: "element" }) },
  "emb": { shape: [3, 4], rule: () => ({ kind: "element" }) },
};

const rules: PlanRules = neuronRules({
  modalities: MODS,
  modalityOf: modalityByPrefix(MODS),
  unitOf: (name) => {
    const [m, ...rest] = name.split("/");
    return LAYOUT[rest.join("/")]?.rule(m) ?? null;
  },
});

const EPS32 = 2 ** -24; // unit roundoff of float32

/**
 * Runs one amss step (top-k: no randomness needed) with `recordImportance` and checks every
 * group's importance against the float64 reference, per unit:
 * - gn_u = sum over the unit's elements (all members) of g^2, wn_u the same of w^2;
 * - `gn`: gn_u; `gn/wn`: gn_u / (wn_u + 1e-12); `sqrt(gn)`: sqrt(gn_u).
 * Tolerance: the backend sums n_u positive float32 terms (error <= n_u * eps32 relative, eps32 =
 * 2^-24, recursive summation of positive terms), plus a rounding each for the square, the pool's
 * mean and its rescaling by the count, the member sum and the division: relative
 * (2 n_u + 8) eps32, doubled for `gn/wn` (numerator and denominator), in any case far below the
 * factor between g^2 and |g| or between a sum and its square root for these N(0, 1) values.
 */
async function checkImportance(seed: number): Promise<number> {
  const rng = new Rng(seed);
  const values = (shape: number[]) =>
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
  const shapes: Record<string, number[]> = {};
  for (const m of MODS) {
    for (const [k, { shape }] of Object.entries(LAYOUT)) shapes[`${m}/${k}`] = shape;
  }
  shapes["head/kernel"] = [4, 2]; // no modality: never scored
  const w = Object.fromEntries(Object.entries(shapes).map(([k, sh]) => [k, values(sh)]));
  const g = Object.fromEntries(Object.entries(shapes).map(([k, sh]) => [k, values(sh)]));
  const params: Params = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [k, tf.tidy(() => tf.variable(tf.tensor(w[k], sh)))]),
  );
  const grads = Object.fromEntries(
    Object.entries(shapes).map(([k, sh]) => [k, tf.tensor(g[k], sh)]),
  );
  const plan = planMasks(params, rules);
  // every layout is planned as intended
  const kinds = plan.groups.map((gr) =>
    `${gr.members.length}:${gr.members.map((mb) => mb.spec.kind).join(",")}`
  );
  assert(kinds.includes("4:heads,heads,heads,heads"), "Q/K/V/out head group");
  assert(kinds.includes("2:channel,channel"), "neuron group (kernel columns + bias)");
  assert(plan.groups.some((gr) => gr.id === "a/ffn"), "neuronRules named the neuron group");
  let checked = 0;
  for (const importance of MODES) {
    const opt = amss({ plan, sampler: "topk", importance, seed: 1, recordImportance: true });
    const { out, info: a } = await amssUpdate(opt, opt.init(params), params, grads, 1, {
      ratios: [0.5, 0.5],
    });
    const got = a.importance!;
    assertEquals(Object.keys(got).sort(), plan.groups.map((gr) => gr.id).sort());
    for (const group of plan.groups) {
      const gn = new Float64Array(group.units), wn = new Float64Array(group.units);
      const terms = new Float64Array(group.units);
      for (const mb of group.members) {
        const shape = shapes[mb.name];
        g[mb.name].forEach((v, i) => {
          const u = unitOf(i, shape, mb.spec);
          gn[u] += v * v;
          terms[u]++;
        });
        w[mb.name].forEach((v, i) => (wn[unitOf(i, shape, mb.spec)] += v * v));
      }
      assertEquals(got[group.id].length, group.units, group.id);
      for (let u = 0; u < group.units; u++) {
        const want = importance === "gn"
          ? gn[u]
          : importance === "sqrt(gn)"
          ? Math.sqrt(gn[u])
          : gn[u] / (wn[u] + 1e-12);
        const tol = (importance === "gn/wn" ? 2 : 1) * (2 * terms[u] + 8) * EPS32 * want;
        const err = Math.abs(got[group.id][u] - want);
        assert(
          err <= tol,
          `${tf.getBackend()} ${importance} ${group.id} unit ${u}: engine ${
            got[group.id][u]
          }, float64 reference ${want} (|err| ${err} > ${tol})`,
        );
        checked++;
      }
    }
    for (const [name, t] of Object.entries(out)) if (t !== grads[name]) t.dispose();
  }
  tf.dispose([...Object.values(grads), ...Object.values(params)]);
  return checked;
}

Deno.test("the engine's per-unit importance equals the float64 per-unit gn, gn/wn and sqrt(gn) for every unit layout (cpu and wasm)", async () => {
  const before = tf.memory().numTensors;
  let checked = 0;
  for (const seed of [11, 12]) checked += await checkImportance(seed);
  assertEquals(tf.memory().numTensors, before, "no tensor left behind");
  registerWasmTrainingKernels();
  await tf.setBackend("wasm");
  try {
    checked += await checkImportance(13);
  } finally {
    await tf.setBackend("cpu");
  }
  assert(checked > 300, `${checked} unit values checked`);
});

Deno.test("the shared classifier's row importance (Table 7 target) is the row's sum of squared gradients", async () => {
  const rng = new Rng(4);
  const vals = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const params: Params = {
    "a/beta": tf.tidy(() => tf.variable(tf.tensor(vals(3)))),
    "v/beta": tf.tidy(() => tf.variable(tf.tensor(vals(3)))),
    "head/kernel": tf.tidy(() => tf.variable(tf.tensor(vals(15), [5, 3]))),
  };
  const gHead = vals(15);
  const grads = {
    "a/beta": tf.tensor(vals(3)),
    "v/beta": tf.tensor(vals(3)),
    "head/kernel": tf.tensor(gHead, [5, 3]),
  };
  const plan = planMasks(params, rules);
  const opt = amss({
    plan,
    seed: 2,
    target: "classifier",
    classifier: { name: "head/kernel", rows: { a: [0, 2], v: [2, 5] } },
    recordImportance: true,
  });
  const { out, info: a } = await amssUpdate(opt, opt.init(params), params, grads, 1, {
    ratios: [0.5, 0.5],
  });
  const imp = a.importance!;
  const row = (r: number) => gHead[3 * r] ** 2 + gHead[3 * r + 1] ** 2 + gHead[3 * r + 2] ** 2;
  const check = (id: string, rows: number[]) => {
    assertEquals(imp[id].length, rows.length, id);
    rows.forEach((r, i) => {
      const err = Math.abs(imp[id][i] - row(r));
      assert(err <= 10 * EPS32 * row(r), `${id} row ${r}: ${imp[id][i]} vs ${row(r)}`);
    });
  };
  check("classifier/a", [0, 1]);
  check("classifier/v", [2, 3, 4]);
  assertEquals(Object.keys(imp).sort(), ["classifier/a", "classifier/v"]);
  tf.dispose([
    ...Object.values(grads),
    ...Object.values(params),
    ...Object.values(out).filter((t) => !Object.values(grads).includes(t)),
  ]);
});
