/**
 * Every dataset the bench can read, by name, behind one call. Importing this module registers all
 * sample loaders (the decode workers import it for that reason).
 *
 * @module
 */
import { loadCremad } from "./cremad.ts";
import type { Dataset } from "./dataset.ts";
import { loadKineticsSounds } from "./kinetics_sounds.ts";
import { loadNpyDataset } from "./npy.ts";
import { loadNvGesture } from "./nvgesture.ts";
import { loadTextImage } from "./text_image.ts";
import { AmssArgumentError } from "../validate.ts";

/** Dataset names `--dataset` accepts besides `synthetic`. */
export const DISK_DATASETS = [
  "npy",
  "cremad",
  "kinetics-sounds",
  "sarcasm",
  "twitter15",
  "nvgesture",
] as const;
/** One of {@link DISK_DATASETS}. */
export type DiskDatasetName = typeof DISK_DATASETS[number];

/**
 * Reads dataset `name` from `dir`. `options` are the loader's own (image size, channels, frame
 * mode, vocab, limit, ...); unknown keys are ignored by the loaders.
 */
export function loadDiskDataset(
  name: string,
  dir: string,
  options: Record<string, unknown> = {},
): Promise<Dataset> {
  switch (name as DiskDatasetName) {
    case "npy":
      return loadNpyDataset(dir, options);
    case "cremad":
      return loadCremad(dir, options);
    case "kinetics-sounds":
      return loadKineticsSounds(dir, options);
    case "sarcasm":
    case "twitter15":
      return loadTextImage(name as "sarcasm" | "twitter15", dir, options);
    case "nvgesture":
      return loadNvGesture(dir, options);
  }
  throw new AmssArgumentError(
    `dataset must be synthetic or one of ${DISK_DATASETS.join(", ")}, got ${JSON.stringify(name)}`,
  );
}
