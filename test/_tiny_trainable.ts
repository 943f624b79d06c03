/**
 * A small TrainableModel for trainer tests (the product models live in src/models/): per modality
 * dense 16 -> ReLU -> dense 8 features; fusion: concat -> linear head. Uni-modal logits: the head
 * with the other modalities' features zeroed (paper Sec. 3.2.1).
 */
import * as tf from "@tensorflow/tfjs";
import { modalityByPrefix, paperUnits } from "../src/amss/groups.ts";
import { generateSynthetic, type SyntheticConfig } from "../src/data/synthetic.ts";
import type { TrainableModel } from "../src/train/trainable.ts";
import type { Params } from "../src/transform.ts";

export function tinyTrainable(
  modalities: { name: string; dim: number }[],
  numClasses: number,
): TrainableModel {
  const names = modalities.map((m) => m.name);
  const F = 8;
  return {
    modalities: names,
    numClasses,
    init(seed: number) {
      let s = seed * 101;
      const v = (shape: number[], fan: number) =>
        tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fan), "float32", ++s)));
      const params: Params = {};
      for (const m of modalities) {
        params[`${m.name}/w1`] = v([m.dim, 16], m.dim);
        params[`${m.name}/b1`] = tf.tidy(() => tf.variable(tf.zeros([16])));
        params[`${m.name}/w2`] = v([16, F], 16);
      }
      params["fusion/w"] = v([F * names.length, numClasses], F * names.length);
      params["fusion/b"] = tf.tidy(() => tf.variable(tf.zeros([numClasses])));
      return { params, state: {} };
    },
    forward(p, _state, inputs) {
      const features = names.map((m) =>
        tf.relu(
          tf.matMul(
            tf.relu(
              tf.add(
                tf.matMul(inputs[m] as tf.Tensor2D, p[`${m}/w1`] as tf.Tensor2D),
                p[`${m}/b1`],
              ),
            ),
            p[`${m}/w2`] as tf.Tensor2D,
          ),
        )
      ) as tf.Tensor2D[];
      const head = (fs: tf.Tensor2D[]) =>
        tf.add(
          tf.matMul(tf.concat(fs, 1), p["fusion/w"] as tf.Tensor2D),
          p["fusion/b"],
        ) as tf.Tensor2D;
      return {
        logits: head(features),
        unimodal: features.map((_, k) =>
          head(features.map((f, j) => (j === k ? f : tf.zerosLike(f))))
        ),
        features,
      };
    },
    unitRules: () => ({
      modalities: names,
      modalityOf: modalityByPrefix(names),
      unitOf: paperUnits,
    }),
    describe: () => ({ name: "tiny-mlp", modalities }),
  };
}

/**
 * The small imbalanced dataset the trainer tests share (4 classes; a 12-d strong modality with one
 * confusable pair, a 6-d weak one) and the matching tiny model and run settings.
 */
export function tinySetup() {
  const dataCfg: SyntheticConfig = {
    name: "tiny",
    numClasses: 4,
    modalities: [
      { name: "audio", kind: "vector", shape: [12], signal: 0.8, noise: 1, confusablePairs: 1 },
      { name: "visual", kind: "vector", shape: [6], signal: 0.5, noise: 1 },
    ],
    nTrain: 160,
    nVal: 40,
    nTest: 80,
    seed: 2,
  };
  const ds = generateSynthetic(dataCfg);
  const model = () => tinyTrainable([{ name: "audio", dim: 12 }, { name: "visual", dim: 6 }], 4);
  const base = {
    dataset: ds,
    optimizer: { kind: "sgd" as const, lr: 0.05 },
    batchSize: 16,
    seed: 3,
    progress: "none" as const,
  };
  return { dataCfg, ds, model, base };
}
