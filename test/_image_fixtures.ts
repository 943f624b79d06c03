/** Image fixtures shared by the image codec and image transform tests. */
import type { FloatImage } from "../src/data/image_types.ts";

/** R = x ramp, G = y ramp, B = a slow sine: smooth, so JPEG error stays small. */
export function gradient(W: number, H: number): FloatImage {
  const data = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      data[i] = x / (W - 1);
      data[i + 1] = y / (H - 1);
      data[i + 2] = 0.5 + 0.25 * Math.sin((x + y) / 12);
    }
  }
  return { width: W, height: H, channels: 3, data };
}
