/** Table 7's classifier masks: the concat head's rows per modality, found from the built model. */
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { buildModel } from "../src/models/build.ts";
import { concatClassifier } from "../src/train/trainer.ts";

await tf.setBackend("cpu");

Deno.test("concat head rows split by the encoders' feature widths; other fusions have none", () => {
  const spec = (fusion: "concat" | "sum") => ({
    modalities: [
      { name: "a", kind: "mlp" as const, input: [5], options: { hidden: [7] } },
      { name: "b", kind: "mlp" as const, input: [3], options: { hidden: [4, 2] } },
    ],
    fusion,
    numClasses: 3,
  });
  const concat = buildModel(spec("concat"));
  const { params, state } = concat.init(1);
  assertEquals(concatClassifier(concat, params), {
    name: "fusion/head/kernel",
    rows: { a: [0, 7], b: [7, 9] },
  });
  assertEquals(params["fusion/head/kernel"].shape, [9, 3]);
  tf.dispose([...Object.values(params), ...Object.values(state)]);
  const sum = buildModel(spec("sum"));
  const s = sum.init(1);
  assertEquals(concatClassifier(sum, s.params), undefined);
  tf.dispose([...Object.values(s.params), ...Object.values(s.state)]);
});
