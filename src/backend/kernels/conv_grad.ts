/**
 * Gradients of an NHWC conv2d (dilation 1) built from forward convolutions, and the
 * `Conv2DBackpropFilter` / `Conv2DBackpropInput` kernel functions that run them (registered by
 * ../wasm_kernels.ts for `wasm` and `webgpu`).
 *
 * TensorFlow.js 4.22's `wasm` backend (XNNPACK) has no `Conv2DBackpropFilter` kernel, so a conv net
 * cannot train on it out of the box, and its `Conv2DBackpropInput` is a slow loop. Both
 * replacements here are ordinary tf ops that run on any backend, chiefly the forward `Conv2D`:
 *
 * - weight gradient as a dilated convolution (rather than an im2col matmul), see
 *   {@link conv2dFilterGrad};
 * - input gradient as a stride-1 convolution with the flipped, channel-swapped filter (rather than
 *   the stock wasm kernel). For stride > 1, rather than convolving a zero-dilated dy, a sub-pixel
 *   (phase) decomposition skips the zeros; see {@link conv2dInputGrad}.
 *
 * Avoided: wasm's StridedSlice, Reverse and Transpose of small filters, which are generic index
 * loops (see `subsample` and `subFilter`), and, on tfjs-webgpu, ops above rank 4: a rank-6 pad
 * gives a wrong result and corrupts an earlier unread tensor. Nothing here is built from wasm's
 * `Conv3DBackpropFilterV2`: it gives wrong results for stride > 1.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** Explicit NHWC pads: one [before, after] pair per axis. */
export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
/** A conv or pool `pad` attribute: 'same', 'valid', a number, or explicit NHWC pads. */
export type Pad = "valid" | "same" | number | ExplicitPad;
/** Rounding of the output size for a numeric pad. */
export type RoundingMode = "floor" | "round" | "ceil";
/** A rank-4 shape. */
export type Shape4 = [number, number, number, number];

/** Error for convolution attributes our replacement kernels do not implement. */
export class UnsupportedConvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedConvError";
  }
}

/** Geometry of a forward NHWC conv2d (dilation 1), with resolved pads. */
interface ConvGeometry {
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  outH: number;
  outW: number;
}

function checkAttrs(
  kernel: string,
  dataFormat: unknown,
  dilations: unknown,
): void {
  if (dataFormat != null && dataFormat !== "NHWC" && dataFormat !== "channelsLast") {
    throw new UnsupportedConvError(
      `${kernel} (ours): dataFormat '${String(dataFormat)}' is not supported; use NHWC`,
    );
  }
  if (dilations != null) {
    const d = Array.isArray(dilations) ? dilations : [dilations, dilations];
    if (d.some((v) => v !== 1)) {
      throw new UnsupportedConvError(
        `${kernel} (ours): forward dilation ${JSON.stringify(dilations)} is not ` +
          `supported; only dilation 1`,
      );
    }
  }
}

function geometry(
  xShape: Shape4,
  filterShape: Shape4,
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  return {
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padBottom: info.padInfo.bottom,
    padLeft: info.padInfo.left,
    padRight: info.padInfo.right,
    outH: info.outHeight,
    outW: info.outWidth,
  };
}

/**
 * Pads (positive) or crops (negative) the two spatial axes of an NHWC tensor, returning the tensor
 * to convolve and the non-negative explicit pads to hand to conv2d. Cropping is a slice, so a
 * negative pad never reaches conv2d (which rejects it).
 */
function padOrCrop(
  t: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
): { t: tf.Tensor4D; pad: ExplicitPad } {
  const [, h, w] = t.shape;
  const cropTop = Math.max(0, -top), cropBottom = Math.max(0, -bottom);
  const cropLeft = Math.max(0, -left), cropRight = Math.max(0, -right);
  let out = t;
  if (cropTop + cropBottom + cropLeft + cropRight > 0) {
    out = tf.slice(t, [0, cropTop, cropLeft, 0], [
      -1,
      h - cropTop - cropBottom,
      w - cropLeft - cropRight,
      -1,
    ]);
  }
  const ph: [number, number] = [Math.max(0, top), Math.max(0, bottom)];
  const pw: [number, number] = [Math.max(0, left), Math.max(0, right)];
  return { t: out, pad: [[0, 0], ph, pw, [0, 0]] };
}

/**
 * Inserts s-1 zeros after every row (column) of an NHWC tensor: [N, h, w, C] becomes
 * [N, h*sh, w*sw, C] with the values at multiples of the stride (trailing zeros included).
 */
function zeroDilate(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  // Rank 4 throughout: [N*h, 1, w, C] padded to [N*h, sh, w, sw*C] is [N, h*sh, w*sw, C] in memory.
  // (A rank-6 pad on tfjs-webgpu 4.22 corrupts an earlier, not yet read result.)
  const e = tf.reshape(t, [n * h, 1, w, c]);
  const p = tf.pad(e, [[0, 0], [0, sh - 1], [0, 0], [0, (sw - 1) * c]]);
  return tf.reshape(p, [n, h * sh, w * sw, c]);
}

/** Zero-pads (positive) or crops (negative) the bottom and right of an NHWC tensor. */
function fit(t: tf.Tensor4D, bottom: number, right: number): tf.Tensor4D {
  const src = padOrCrop(t, 0, bottom, 0, right);
  const b = src.pad[1][1], r = src.pad[2][1];
  return b > 0 || r > 0 ? tf.pad(src.t, src.pad) : src.t;
}

/**
 * x[:, i*sh, j*sw, :] for i < oh, j < ow: x is padded or cropped to [N, oh*sh, ow*sw, C] (padding
 * is never sampled), viewed as [N*oh, sh, ow, sw*C], and sliced to [.., 0:1, .., 0:C]: on wasm a
 * Slice copies contiguous runs, where StridedSlice is a generic per-element index loop.
 */
function subsample(x: tf.Tensor4D, sh: number, sw: number, oh: number, ow: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (sh === 1 && sw === 1 && oh === h && ow === w) return x;
  const fitted = fit(x, oh * sh - h, ow * sw - w);
  const view = tf.reshape(fitted, [n * oh, sh, ow, sw * c]);
  return tf.reshape(tf.slice(view, [0, 0, 0, 0], [n * oh, 1, ow, c]), [n, oh, ow, c]);
}

/**
 * Weight gradient of an NHWC conv2d (dilation 1) as one forward convolution, on any backend.
 *
 * With x transposed to [Cin, H, W, N] (batch = input channels, channels = examples) and dy to
 * [oh, ow, N, Cout] (a filter as large as the output map), a stride-1 conv2d with dilation equal to
 * the forward stride and the forward top/left pads yields dW transposed, [Cin, kh, kw, Cout]. Bottom
 * and right pads are chosen so the output is exactly kh x kw; where that needs a negative pad (rows
 * the forward conv never read, e.g. 'valid' with a leftover row), x is cropped instead.
 * An unpadded 1x1 conv (any stride) is a plain matmul of the sampled x, xsᵀ·dy: cheaper still.
 * On wasm this is faster than an im2col matmul.
 *
 * @param x forward input [N, H, W, Cin]
 * @param dy gradient of the forward output [N, oh, ow, Cout]
 * @param filterShape [kh, kw, Cin, Cout]
 * @param strides forward strides
 * @param pad forward padding: 'same', 'valid', a number, or explicit NHWC pads
 * @param dimRoundingMode forward rounding mode for numeric pads
 * @returns dW, [kh, kw, Cin, Cout]
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = filterShape;
    const g = geometry(x.shape, filterShape, strides, pad, dimRoundingMode);
    const [n, h, w] = x.shape;
    if (dy.shape[1] !== g.outH || dy.shape[2] !== g.outW || dy.shape[3] !== cout) {
      throw new Error(
        `conv2dFilterGrad: dy shape ${JSON.stringify(dy.shape)} does not match the forward ` +
          `output [${n}, ${g.outH}, ${g.outW}, ${cout}]`,
      );
    }
    if (kh === 1 && kw === 1 && g.padTop === 0 && g.padLeft === 0) {
      // 1x1, unpadded: dW = xsᵀ·dy with xs the strided samples of x. x is transposed first and
      // multiplied untransposed: wasm's matMul(transposeA) is slower than the two steps.
      const m = n * g.outH * g.outW;
      const xs = subsample(x, g.strideH, g.strideW, g.outH, g.outW);
      const xT = tf.transpose(tf.reshape(xs, [m, cin]));
      return tf.reshape(tf.matMul(xT, tf.reshape(dy, [m, cout])), filterShape);
    }
    // Pads that make a stride-1, dilation-s conv over x' output exactly kh x kw.
    const bottom = kh + (g.outH - 1) * g.strideH - h - g.padTop;
    const right = kw + (g.outW - 1) * g.strideW - w - g.padLeft;
    const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [Cin, H, W, N]
    const src = padOrCrop(xt, g.padTop, bottom, g.padLeft, right);
    const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, N, Cout]
    const dwT = tf.conv2d(src.t, f, 1, src.pad, "NHWC", [g.strideH, g.strideW]); // [Cin,kh,kw,Cout]
    return tf.transpose(dwT, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Input gradient of an NHWC conv2d (dilation 1) from forward convolutions, on any backend.
 *
 * Stride 1: one conv2d of dy with the spatially flipped filter whose in/out channels are swapped,
 * [kh, kw, Cout, Cin], top pad kh-1-padTop and a bottom pad that makes the output exactly H (crops
 * where negative). On wasm this is faster than the stock Conv2DBackpropInput.
 * Stride s > 1: the same conv of a zero-dilated dy would spend (s²-1)/s² of the FLOPs on zeros;
 * instead each of the s² output phases is a stride-1 conv of dy with a sub-filter (every s-th
 * flipped tap), interleaved afterwards, which skips the zeros' FLOPs.
 * Unpadded 1x1: a matmul dy·Wᵀ scattered to the sampled positions.
 *
 * @param inputShape forward input shape [N, H, W, Cin]
 * @param dy gradient of the forward output [N, oh, ow, Cout]
 * @param filter forward filter [kh, kw, Cin, Cout]
 * @param strides forward strides
 * @param pad forward padding: 'same', 'valid', a number, or explicit NHWC pads
 * @param dimRoundingMode forward rounding mode for numeric pads
 * @returns dx, [N, H, W, Cin]
 */
export function conv2dInputGrad(
  inputShape: Shape4,
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = filter.shape;
    const g = geometry(inputShape, filter.shape, strides, pad, dimRoundingMode);
    const [n, h, w] = inputShape;
    if (
      dy.shape[0] !== n || dy.shape[1] !== g.outH || dy.shape[2] !== g.outW || dy.shape[3] !== cout
    ) {
      throw new Error(
        `conv2dInputGrad: dy shape ${JSON.stringify(dy.shape)} does not match the forward ` +
          `output [${n}, ${g.outH}, ${g.outW}, ${cout}]`,
      );
    }
    const sh = g.strideH, sw = g.strideW;
    if (kh === 1 && kw === 1 && g.padTop === 0 && g.padLeft === 0) {
      // 1x1, unpadded: dx at the sampled positions is dy·Wᵀ, zero elsewhere.
      const m = n * g.outH * g.outW;
      const wT = tf.transpose(tf.reshape(filter, [cin, cout]));
      const ds = tf.reshape(tf.matMul(tf.reshape(dy, [m, cout]), wT), [
        n,
        g.outH,
        g.outW,
        cin,
      ]) as tf.Tensor4D;
      const d = zeroDilate(ds, sh, sw);
      return fit(d, h - d.shape[1], w - d.shape[2]);
    }
    if (sh > 1 || sw > 1) return inputGradByPhases(inputShape, dy, filter, g);
    // Stride 1: a "full" correlation of dy with the flipped filter.
    const top = kh - 1 - g.padTop;
    const left = kw - 1 - g.padLeft;
    const bottom = h + kh - 1 - dy.shape[1] - top;
    const right = w + kw - 1 - dy.shape[2] - left;
    const src = padOrCrop(dy, top, bottom, left, right);
    return tf.conv2d(src.t, subFilter(filter, 0, kh, 1, 0, kw, 1), 1, src.pad, "NHWC");
  });
}

/**
 * Taps [y0 + sy*i, x0 + sx*j] (i < ny, j < nx) of the spatially flipped filter with in/out
 * channels swapped: [ny, nx, Cout, Cin]. On synchronous backends (wasm, cpu) the filter, which is
 * small, is re-indexed in plain JS: wasm's Reverse, Transpose and StridedSlice kernels are generic
 * index loops, each a separate pass, where this is one pass with precomputed strides.
 * Elsewhere (webgpu, tensorflow) it is reverse + transpose + stridedSlice on the device.
 */
function subFilter(
  filter: tf.Tensor4D,
  y0: number,
  ny: number,
  sy: number,
  x0: number,
  nx: number,
  sx: number,
): tf.Tensor4D {
  const [kh, kw, cin, cout] = filter.shape;
  const backend = tf.getBackend();
  if (backend !== "wasm" && backend !== "cpu") {
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
    return tf.stridedSlice(
      flipped,
      [y0, x0, 0, 0],
      [y0 + sy * (ny - 1) + 1, x0 + sx * (nx - 1) + 1, cout, cin],
      [sy, sx, 1, 1],
    ) as tf.Tensor4D;
  }
  const src = filter.dataSync() as Float32Array;
  const out = new Float32Array(ny * nx * cout * cin);
  let o = 0;
  for (let i = 0; i < ny; i++) {
    for (let j = 0; j < nx; j++) {
      // flipped[y, x] = filter[kh-1-y, kw-1-x]; out[i, j, co, ci] = filter[.., .., ci, co]
      const base = ((kh - 1 - (y0 + sy * i)) * kw + (kw - 1 - (x0 + sx * j))) * cin * cout;
      for (let co = 0; co < cout; co++) {
        for (let ci = 0, k = base + co; ci < cin; ci++, k += cout) out[o++] = src[k];
      }
    }
  }
  return tf.tensor4d(out, [ny, nx, cout, cin]);
}

/** Per-axis plan of one output phase r (positions r, r+s, r+2s, ...) of a strided conv's dx. */
interface PhaseAxis {
  /** Taps of the sub-filter along this axis (0: the phase receives no gradient). */
  taps: number;
  /** First index into the spatially flipped filter; the sub-filter takes every s-th from here. */
  start: number;
  /** Pads (negative: crop) of dy so a stride-1 conv gives `count` outputs. */
  before: number;
  after: number;
}

function phaseAxis(r: number, s: number, k: number, pad: number, outLen: number, count: number) {
  const c = (r + pad) % s, e = Math.floor((r + pad) / s);
  const taps = c < k ? Math.ceil((k - c) / s) : 0;
  const before = taps - 1 - e;
  return {
    taps,
    start: k - 1 - c - s * (taps - 1),
    before,
    after: count + taps - 1 - outLen - before,
  } satisfies PhaseAxis;
}

/**
 * dx of a strided conv by phases (sub-pixel decomposition): output position s*q + r only receives
 * the filter taps congruent to r + pad (mod s), so each of the sh*sw phases is a stride-1 conv of
 * dy with a strided slice of the flipped, channel-swapped filter, and the phases are interleaved
 * with concat + reshape. Same result as the zero-dilated convolution without its (s²-1)/s² zeros.
 */
function inputGradByPhases(
  inputShape: Shape4,
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  g: ConvGeometry,
): tf.Tensor4D {
  const [n, h, w, cin] = inputShape;
  const [kh, kw] = filter.shape;
  const sh = g.strideH, sw = g.strideW;
  const qh = Math.ceil(h / sh), qw = Math.ceil(w / sw);
  const rows: tf.Tensor[] = [];
  for (let ry = 0; ry < sh; ry++) {
    const py = phaseAxis(ry, sh, kh, g.padTop, g.outH, qh);
    const cols: tf.Tensor[] = [];
    for (let rx = 0; rx < sw; rx++) {
      const px = phaseAxis(rx, sw, kw, g.padLeft, g.outW, qw);
      if (py.taps === 0 || px.taps === 0) {
        cols.push(tf.zeros([n, qh, qw, cin]));
        continue;
      }
      const sub = subFilter(filter, py.start, py.taps, sh, px.start, px.taps, sw);
      const src = padOrCrop(dy, py.before, py.after, px.before, px.after);
      cols.push(tf.conv2d(src.t, sub, 1, src.pad, "NHWC"));
    }
    // Columns interleave: [N, qh, qw, sw*Cin] is [N, qh, qw*sw, Cin] in memory.
    const row = sw === 1 ? cols[0] : tf.concat(cols, 3);
    rows.push(tf.reshape(row, [n * qh, 1, qw * sw * cin]));
  }
  // Rows interleave: [N*qh, sh, qw*sw*Cin] is [N, qh*sh, qw*sw, Cin] in memory. Ranks stay <= 4.
  const all = sh === 1 ? rows[0] : tf.concat(rows, 1);
  const d = tf.reshape(all, [n, qh * sh, qw * sw, cin]) as tf.Tensor4D;
  return qh * sh === h && qw * sw === w ? d : tf.slice(d, [0, 0, 0, 0], [n, h, w, cin]);
}

/**
 * Turns a kernel input into a Tensor we may use in tf ops. Ops pass Tensors; a bare TensorInfo
 * (from a direct `engine.runKernel`) is wrapped with one extra backend reference, which the
 * wrapper's disposal (at the end of the enclosing tidy) gives back.
 */
function asTensor<R extends tf.Rank>(info: tf.TensorInfo, backend: tf.KernelBackend): tf.Tensor<R> {
  if (info instanceof tf.Tensor) return info as tf.Tensor<R>;
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor<R>;
}

/**
 * Hands a tf-op result out of a kernel function: the engine wraps the returned TensorInfo in a new
 * Tensor without taking a backend reference, so we add one and dispose our own Tensor. Net effect:
 * exactly one live reference, owned by the engine's output tensor (no leak, no double free).
 */
function handOut(t: tf.Tensor, backend: tf.KernelBackend): tf.TensorInfo {
  backend.incRef(t.dataId);
  const info = { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
  t.dispose();
  return info;
}

/** `Conv2DBackpropFilter` (NHWC, dilation 1) as {@link conv2dFilterGrad}. */
export const filterGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  checkAttrs("Conv2DBackpropFilter", a.dataFormat, a.dilations);
  const b = backend as tf.KernelBackend;
  const out = tf.tidy(() =>
    conv2dFilterGrad(
      asTensor<tf.Rank.R4>(inputs.x!, b),
      asTensor<tf.Rank.R4>(inputs.dy!, b),
      a.filterShape as Shape4,
      a.strides as number | [number, number],
      a.pad as Pad,
      a.dimRoundingMode as RoundingMode | undefined,
    )
  );
  return handOut(out, b);
};

/** `Conv2DBackpropInput` (NHWC, dilation 1) as {@link conv2dInputGrad}. */
export const inputGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  checkAttrs("Conv2DBackpropInput", a.dataFormat, a.dilations);
  const b = backend as tf.KernelBackend;
  const out = tf.tidy(() =>
    conv2dInputGrad(
      a.inputShape as Shape4,
      asTensor<tf.Rank.R4>(inputs.dy!, b),
      asTensor<tf.Rank.R4>(inputs.filter!, b),
      a.strides as number | [number, number],
      a.pad as Pad,
      a.dimRoundingMode as RoundingMode | undefined,
    )
  );
  return handOut(out, b);
};
