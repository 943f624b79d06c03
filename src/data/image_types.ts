/**
 * The image representation shared by the codec (./image_codec.ts) and the transforms
 * (./image_transforms.ts): float samples, `height * width * channels` values, HWC row-major
 * (`data[(y * width + x) * channels + c]`), as a `[H, W, C]` tfjs tensor expects. In a module of
 * its own so that the codec does not depend on the transforms for its types and input check.
 *
 * @module
 */
import { AmssArgumentError, requireInt } from "../validate.ts";

/** An image of float samples, HWC row-major: `data[(y * width + x) * channels + c]`. */
export interface FloatImage {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

/** A decoded image: always 3 channels (RGB), values in [0, 1]. */
export interface RgbImage extends FloatImage {
  channels: 3;
}

/**
 * Throws {@link AmssArgumentError} naming `name` unless `img` is a {@link FloatImage} with positive
 * integer sizes and exactly `width * height * channels` samples.
 */
export function checkImage(name: string, img: FloatImage): void {
  if (img === null || typeof img !== "object" || !(img.data instanceof Float32Array)) {
    throw new AmssArgumentError(`${name} must be an image {width, height, channels, data}`);
  }
  requireInt(`${name}.width`, img.width, 1);
  requireInt(`${name}.height`, img.height, 1);
  requireInt(`${name}.channels`, img.channels, 1);
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new AmssArgumentError(
      `${name}.data has ${img.data.length} values, expected width * height * channels = ${
        img.width * img.height * img.channels
      }`,
    );
  }
}
