/**
 * Tiny encoder specs (CPU-sized) shared by the model and fusion tests: a ResNet18 spectrogram
 * stream and a 2-frame clip stream at a given stage width, and three MLP vector modalities of
 * different input and feature sizes.
 */
import type { ModalityEncoderSpec } from "../src/models/build.ts";

/** A 16x16 one-channel ResNet18 audio stream with stage widths `widths`. */
export function tinyAudio(widths: number[]): ModalityEncoderSpec {
  return { name: "audio", kind: "resnet18", input: [16, 16, 1], options: { widths } };
}

/** A ResNet18 visual stream over 2 frames of 16x16 RGB with stage widths `widths`. */
export function tinyVisual(widths: number[]): ModalityEncoderSpec {
  return { name: "visual", kind: "resnet18", input: [2, 16, 16, 3], options: { widths } };
}

/** MLP modality "a": 5 inputs, one hidden layer of 4. */
export const VEC_A: ModalityEncoderSpec = {
  name: "a",
  kind: "mlp",
  input: [5],
  options: { hidden: [4] },
};
/** MLP modality "b": 3 inputs, hidden layers 6 and 3. */
export const VEC_B: ModalityEncoderSpec = {
  name: "b",
  kind: "mlp",
  input: [3],
  options: { hidden: [6, 3] },
};
/** MLP modality "c": 2 inputs, one hidden layer of 2. */
export const VEC_C: ModalityEncoderSpec = {
  name: "c",
  kind: "mlp",
  input: [2],
  options: { hidden: [2] },
};
