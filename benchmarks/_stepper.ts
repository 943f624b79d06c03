/**
 * One full training step of a model and method on a fixed random batch (forward, loss, gradients,
 * uni-modal download, the method's transformation, SGD), for the speed benchmarks.
 */
import * as tf from "@tensorflow/tfjs";
import { buildModel, type ModelSpec } from "../src/models/build.ts";
import { modalBatchFromOutputs, variableGradsByName } from "../src/models/model.ts";
import { uniModalFisher } from "../src/train/fisher.ts";
import { createMethod, type MethodName, type MethodOptions } from "../src/train/methods.ts";
import { chain, disposeState, sgd, step } from "../src/transform.ts";

/** Median of a list of numbers. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A closure running one training step of `method` (AMSS+ with Horvitz-Thompson weights for
 * "amss+") on a fixed batch of `batch` samples, with the AMSS units of `units` (paper: App. C.2;
 * reference: only ResNet layer1-4 3x3 convs) and further method options `extra` (e.g. importance
 * "fisher": the step then includes the trainer's per-sample Fisher pass, src/train/fisher.ts);
 * `run()` returns its ms, waiting for the device.
 */
export function makeStepper(
  spec: ModelSpec,
  method: MethodName,
  seed: number,
  batch: number,
  classes: number,
  units: "paper" | "reference" = "paper",
  extra: MethodOptions = {},
) {
  const model = buildModel(spec);
  const { params, state } = model.init(seed);
  const m = createMethod(method, { scale: "horvitz-thompson", tau: 0.25, units, ...extra }, {
    modalities: model.modalities,
    params,
    rules: (u) => model.unitRules(u),
    seed,
  });
  const opt = chain(
    ...(m.transform ? [m.transform] : []),
    sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }),
  );
  const optState = opt.init(params);
  const inputs = Object.fromEntries(
    model.modalities.map((mod, i) => [
      mod,
      tf.randomNormal([batch, ...model.encoders[i].inputShape], 0, 1, "float32", 11 + i),
    ]),
  );
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);
  const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), classes);
  let t = 0;
  return {
    /** ms of the last step's update part (method transform + optimizer + apply). */
    lastUpdateMs: 0,
    /** ms of the last step's per-sample Fisher pass (0 unless the method asks for one). */
    lastFisherMs: 0,
    async run(): Promise<number> {
      const t0 = performance.now();
      let kept: tf.Tensor[] = [];
      const { value, grads } = variableGradsByName(params, () => {
        const o = model.forward(params, state, inputs, { training: true });
        kept = [...o.unimodal, ...o.features].map((x) => tf.keep(x));
        return tf.losses.softmaxCrossEntropy(onehot, o.logits) as tf.Scalar;
      });
      const loss = (await value.data())[0];
      if (!Number.isFinite(loss)) throw new Error(`loss ${loss} at step ${t + 1}`);
      const K = model.modalities.length;
      const mb = await modalBatchFromOutputs(
        { unimodal: kept.slice(0, K) as tf.Tensor2D[], features: kept.slice(K) as tf.Tensor2D[] },
        labels,
        classes,
      );
      // importance "fisher": the trainer's extra forward/backward pass (Sec. 3.2.2)
      const tf0 = performance.now();
      const fisher = m.fisher
        ? uniModalFisher(model, params, state, inputs, labels, m.fisher)
        : undefined;
      if (fisher) await Object.values(fisher)[0].data(); // finished on async backends
      this.lastFisherMs = performance.now() - tf0;
      const tu = performance.now();
      await step(params, grads, opt, optState, ++t, { batch: mb, ...(fisher ? { fisher } : {}) });
      await Object.values(params)[0].data(); // the update has finished on async backends
      this.lastUpdateMs = performance.now() - tu;
      tf.dispose([value, ...Object.values(grads), ...kept, ...Object.values(fisher ?? {})]);
      return performance.now() - t0;
    },
    dispose() {
      disposeState(optState);
      tf.dispose([
        ...Object.values(params),
        ...Object.values(state),
        ...Object.values(inputs),
        onehot,
      ]);
    },
  };
}
