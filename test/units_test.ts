import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  applyUnitScale,
  groupImportance,
  unitLayout,
  type UnitSpec,
  unitSumSquares,
} from "../src/amss/units.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { unitOf } from "./_helpers.ts";

await tf.setBackend("cpu");

const shapeAndSpec = fc.oneof(
  fc.tuple(
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
    fc.constant({ kind: "element" } as UnitSpec),
  ),
  fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      fc.integer({ min: -shape.length, max: shape.length - 1 }).map((axis) =>
        ({ kind: "channel", axis }) as UnitSpec
      ),
    )
  ),
  fc.tuple(
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 0, max: 1 }),
  )
    .map(([h, d, other, axis]) => {
      const shape = axis === 0 ? [h * d, other] : [other, h * d];
      return [shape, { kind: "heads", heads: h, axis }] as [number[], UnitSpec];
    }),
);

Deno.test("per-unit sum of squares on the backend equals the element-by-element sum for every unit layout", () => {
  fc.assert(
    fc.property(shapeAndSpec, fc.integer({ min: 1, max: 1000 }), ([shape, spec], seed) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const vals = Array.from({ length: size }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) * 2);
      const { units } = unitLayout(shape, spec);
      const expected = new Float64Array(units);
      vals.forEach((v, i) => (expected[unitOf(i, shape, spec)] += v * v));
      const got = tf.tidy(() => unitSumSquares(tf.tensor(vals, shape), spec).dataSync());
      assertEquals(got.length, units);
      for (let u = 0; u < units; u++) {
        assertAlmostEquals(got[u], expected[u], 1e-5 * (1 + expected[u]));
      }
    }),
    { seed: 11, numRuns: 120 },
  );
});

Deno.test("a unit scale multiplies exactly the elements of its unit", () => {
  fc.assert(
    fc.property(shapeAndSpec, ([shape, spec]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const { units } = unitLayout(shape, spec);
      const scale = Array.from({ length: units }, (_, u) => u + 2);
      const vals = Array.from({ length: size }, (_, i) => i + 1);
      const got = tf.tidy(() =>
        applyUnitScale(tf.tensor(vals, shape), tf.tensor1d(scale), spec).dataSync()
      );
      for (let i = 0; i < size; i++) assertEquals(got[i], vals[i] * scale[unitOf(i, shape, spec)]);
    }),
    { seed: 12, numRuns: 120 },
  );
});

Deno.test("conv kernels [kh, kw, in, out] are masked per output channel (last axis)", () => {
  assertEquals(unitLayout([3, 3, 8, 16], { kind: "channel" }), { pre: 72, units: 16, post: 1 });
  assertEquals(unitLayout([32, 4 * 8], { kind: "heads", heads: 4, axis: 1 }), {
    pre: 32,
    units: 4,
    post: 8,
  });
});

Deno.test("group importance adds squared sums over members before applying the mode", () => {
  tf.tidy(() => {
    const q = tf.tensor2d([[1, 2, 3, 4]]); // 2 heads of width 2 along axis 1
    const o = tf.tensor2d([[1], [1], [2], [2]]); // 2 heads along axis 0
    const members = [
      { grad: q, weight: tf.onesLike(q), spec: { kind: "heads", heads: 2, axis: 1 } as UnitSpec },
      { grad: o, weight: tf.onesLike(o), spec: { kind: "heads", heads: 2, axis: 0 } as UnitSpec },
    ];
    // head 0: 1+4 + 1+1 = 7; head 1: 9+16 + 4+4 = 33
    assertEquals(Array.from(groupImportance(members, "gn").dataSync()), [7, 33]);
    const s = groupImportance(members, "sqrt(gn)").dataSync();
    assertAlmostEquals(s[0], Math.sqrt(7), 1e-6);
    assertAlmostEquals(s[1], Math.sqrt(33), 1e-6);
    // weights: each head has 2 + 2 ones -> wn = 4
    const r = groupImportance(members, "gn/wn").dataSync();
    assertAlmostEquals(r[0], 7 / 4, 1e-6);
    assertAlmostEquals(r[1], 33 / 4, 1e-6);
  });
});

Deno.test("bad unit specs give clear errors naming the variable", () => {
  assertThrows(
    () => unitLayout([6, 5], { kind: "heads", heads: 4, axis: 0 }, "w"),
    AmssArgumentError,
    "does not split into 4 heads",
  );
  assertThrows(
    () => unitLayout([6, 5], { kind: "channel", axis: 2 }, "w"),
    AmssArgumentError,
    "w: unit axis 2 is out of range",
  );
  assertThrows(() => unitLayout([], { kind: "channel" }, "s"), AmssArgumentError, "scalar");
  assertThrows(
    () =>
      tf.tidy(() =>
        applyUnitScale(tf.ones([2, 3]), tf.ones([2]) as tf.Tensor1D, { kind: "channel" })
      ),
    AmssArgumentError,
    "expected 3",
  );
});

Deno.test("per-unit reductions agree between the wasm and cpu backends (pool-based sum on ResNet kernel shapes)", async () => {
  await import("@tensorflow/tfjs-backend-wasm");
  const shapes: [number[], UnitSpec][] = [
    [[7, 7, 1, 64], { kind: "channel" }],
    [[3, 3, 64, 128], { kind: "channel" }],
    [[1, 1, 64, 128], { kind: "channel" }],
    [[32, 4 * 8], { kind: "heads", heads: 4, axis: 1 }],
    [[4 * 8, 32], { kind: "heads", heads: 4, axis: 0 }],
  ];
  const results: Record<string, Float32Array[]> = {};
  for (const backend of ["cpu", "wasm"]) {
    await tf.setBackend(backend);
    results[backend] = shapes.map(([shape, spec]) =>
      tf.tidy(() =>
        unitSumSquares(tf.randomNormal(shape, 0, 1, "float32", 5), spec).dataSync() as Float32Array
      )
    );
  }
  await tf.setBackend("cpu");
  // float32 sums of up to 1,152 squares: relative error bound ~ n * 2^-24 ~ 7e-5; we ask for 1e-4.
  results.cpu.forEach((c, s) =>
    c.forEach((v, u) => assertAlmostEquals(results.wasm[s][u], v, 1e-4 * v, `shape ${s} unit ${u}`))
  );
});
