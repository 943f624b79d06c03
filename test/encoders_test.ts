/**
 * Token inputs of the Transformer encoder (text modalities of Sarcasm / Twitter-15): the embedding
 * lookup's gradient (a scatter-add, written by us because the wasm backend lacks the kernel of
 * tfjs's own gather gradient) and the padding mask.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { transformerEncoder } from "../src/models/encoders.ts";
import { variableGradsByName } from "../src/models/model.ts";
import { VariableSink } from "../src/models/layers.ts";
import { initBackend } from "../src/backend/select.ts";

await initBackend("wasm");

function build(vocab: number, L: number) {
  const enc = transformerEncoder("text", [L], { vocabSize: vocab, dModel: 8, heads: 2, layers: 1 });
  const sink = new VariableSink(3);
  enc.declare(sink);
  return { enc, params: sink.params, state: sink.stateVars };
}

Deno.test("token transformer: [PAD] positions are masked out of attention and the pool", () => {
  const { enc, params, state } = build(12, 6);
  const x = tf.tensor2d([[3, 7, 8, 4, 0, 0], [3, 9, 4, 0, 0, 0]]);
  const before = enc.forward(params, state, x, { training: true }).arraySync() as number[][];
  // rewrite the [PAD] embedding row: if padded slots were attended to or pooled, features move
  const table = params["text/embed/tokens"];
  const t = table.arraySync() as number[][];
  t[0] = t[0].map((v, i) => v + (i % 2 ? 3 : -2) * (i + 1)); // not a constant shift (LN removes those)
  table.assign(tf.tensor2d(t));
  const after = enc.forward(params, state, x, { training: true }).arraySync() as number[][];
  before.forEach((row, b) => row.forEach((v, i) => assertAlmostEquals(v, after[b][i], 1e-5)));
  // a real token's row does move them
  t[7] = t[7].map((v, i) => v + (i % 2 ? 3 : -2) * (i + 1));
  table.assign(tf.tensor2d(t));
  const moved = enc.forward(params, state, x, { training: true }).arraySync() as number[][];
  assert(moved[0].some((v, i) => Math.abs(v - before[0][i]) > 1e-4));
  before[1].forEach((v, i) => assertAlmostEquals(v, moved[1][i], 1e-5)); // sample 2 has no 7
  x.dispose();
});

Deno.test("token embedding: gradient is the scatter-add of the output gradient (repeated ids add)", () => {
  const { enc, params, state } = build(10, 5);
  const ids = tf.tensor2d([[3, 6, 6, 2, 0]]);
  const { grads } = variableGradsByName(params, () => {
    const f = enc.forward(params, state, ids, { training: true });
    return tf.sum(f) as tf.Scalar;
  });
  const g = grads["text/embed/tokens"]!.arraySync() as number[][];
  const zeroRow = (r: number) => g[r].every((v) => v === 0);
  // rows never looked up get no gradient; [PAD] (0) is looked up but masked everywhere it matters
  for (const r of [1, 4, 5, 7, 8, 9]) assert(zeroRow(r), `row ${r}`);
  for (const r of [2, 3, 6]) assert(!zeroRow(r), `row ${r}`);
  // numerical check of one entry of a repeated id against a central difference
  const table = params["text/embed/tokens"];
  const base = table.arraySync() as number[][];
  const eps = 1e-2;
  const at = (delta: number) => {
    const t = base.map((row) => row.slice());
    t[6][1] += delta;
    table.assign(tf.tensor2d(t));
    const v = tf.sum(enc.forward(params, state, ids, { training: true })).arraySync() as number;
    return v;
  };
  const numeric = (at(eps) - at(-eps)) / (2 * eps);
  table.assign(tf.tensor2d(base));
  // float32 forward: a central difference with eps 1e-2 is good to about 1e-3 here
  assertAlmostEquals(g[6][1], numeric, 2e-3);
  assertEquals(g.length, 10);
  tf.dispose([ids, ...Object.values(grads).filter((t) => t !== undefined) as tf.Tensor[]]);
});
