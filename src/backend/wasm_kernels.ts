/**
 * Training kernels for the tfjs `wasm` and `webgpu` backends, and a closed-form batch norm for every
 * backend. (On webgpu the same two conv-gradient kernels replace slow stock ones: see
 * {@link registerTrainingKernels}.)
 *
 * TensorFlow.js 4.22's `wasm` backend (XNNPACK, single-threaded under Deno) has no
 * `Conv2DBackpropFilter` kernel, so a conv net cannot train on it out of the box, and its
 * `Conv2DBackpropInput` is a slow loop. `registerWasmTrainingKernels()` registers replacements whose
 * kernel functions are built from ordinary tf ops that run on wasm, chiefly XNNPACK's forward
 * `Conv2D`; `tf.grad`, `tf.grads` and the optimizers stay unchanged. Each is faster on wasm than
 * what it replaces (figures in the README, "Backends"):
 *
 * - weight gradient as a dilated convolution (rather than an im2col matmul);
 * - input gradient as a stride-1 convolution with the flipped, channel-swapped filter (rather than
 *   the stock wasm kernel). For stride > 1, rather than convolving a zero-dilated dy, a sub-pixel
 *   (phase) decomposition skips the zeros;
 * - batch norm with a `tf.customGrad` closed-form backward (rather than differentiating
 *   `tf.moments` + `tf.batchNorm` op by op); on wasm its forward and backward run as two TypeScript
 *   kernels on the heap (five passes in all, with no tf-op dispatch between them).
 *
 * Avoided: wasm's StridedSlice, Reverse and Transpose of small filters, which are generic index
 * loops (see `subsample` and `subFilter`), and, on tfjs-webgpu, ops above rank 4: a rank-6 pad gave
 * a wrong result and corrupted an earlier unread tensor. Nothing here is built from wasm's
 * `Conv3DBackpropFilterV2`: it gives wrong results for stride > 1. `MaxPoolGrad` is replaced too,
 * by a TypeScript loop on the wasm heap, and `Identity` by one that shares the block instead of
 * copying it (tfjs clones every tensor saved for a gradient). The README's "Backends" and
 * "Training-step speed" paragraphs give the measured gains.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { SGD_STEP_KERNEL } from "../transform.ts";

type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
type Pad = "valid" | "same" | number | ExplicitPad;
type RoundingMode = "floor" | "round" | "ceil";
type Shape4 = [number, number, number, number];

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
  // (A rank-6 pad on tfjs-webgpu 4.22 corrupted an earlier, not yet read result: seen here.)
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

const filterGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
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

const inputGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
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

/** The parts of tfjs-backend-wasm's backend a TypeScript kernel needs: outputs and heap views. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * `MaxPoolGrad` for wasm in TypeScript, reading and writing the backend's heap in place: per output
 * position, the first maximum of each channel's window (scanning rows, then columns, strict `>`,
 * from -Infinity: the cpu backend's rule, so a window of NaN or -Infinity passes no gradient)
 * receives that position's dy. NHWC with the channel innermost, so the window scan runs over
 * contiguous channel vectors (the stock wasm kernel is a generic loop, and a ResNet stem's pool
 * gradient is a large share of a step). It also settles ties as the cpu backend does, which the
 * stock one does not.
 */
const maxPoolGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const dy = inputs.dy!, input = inputs.input!;
  if (input.dtype !== "float32" || dy.dtype !== "float32") {
    throw new UnsupportedConvError(`MaxPoolGrad (ours): float32 only, got ${input.dtype}`);
  }
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    a.filterSize as number | [number, number],
    a.strides as number | [number, number],
    1,
    a.pad as Pad,
    a.dimRoundingMode as RoundingMode | undefined,
  );
  const b = backend as unknown as WasmHeapBackend;
  const out = b.makeOutput([...input.shape], "float32");
  // views after the allocation: growing the heap would detach earlier ones
  const dx = b.typedArrayFromHeap(out), x = b.typedArrayFromHeap(input);
  const g = b.typedArrayFromHeap(dy);
  dx.fill(0);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } =
    info;
  const sh = info.strideHeight, sw = info.strideWidth;
  const kh = info.effectiveFilterHeight, kw = info.effectiveFilterWidth;
  for (let b0 = 0; b0 < n; b0++) {
    for (let p = 0; p < oh; p++) {
      const r0 = p * sh - info.padInfo.top;
      const rLo = Math.max(0, r0), rHi = Math.min(h, r0 + kh);
      for (let q = 0; q < ow; q++) {
        const c0 = q * sw - info.padInfo.left;
        const cLo = Math.max(0, c0), cHi = Math.min(w, c0 + kw);
        const o = ((b0 * oh + p) * ow + q) * c;
        for (let k = 0; k < c; k++) {
          let bv = -Infinity, bi = -1;
          for (let r = rLo; r < rHi; r++) {
            const rowBase = (b0 * h + r) * w;
            for (let col = cLo; col < cHi; col++) {
              const i = (rowBase + col) * c + k;
              const v = x[i];
              if (v > bv) {
                bv = v;
                bi = i;
              }
            }
          }
          if (bi >= 0) dx[bi] += g[o + k];
        }
      }
    }
  }
  return out;
};

/**
 * `Identity` for wasm without a copy: the output shares the input's heap block, with one more
 * reference on it, as wasm's own `Reshape` and the cpu backend's `Identity` do. tfjs-core clones
 * (Identity) every tensor a kernel saves for its gradient, and the stock wasm `Identity` copies
 * the whole block each time: 411 copies per narrow-ResNet18 training step. Safe because no wasm
 * kernel writes into its inputs (variables are reassigned, not written in place).
 */
const identityKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x!;
  if (x.dtype === "string") {
    throw new UnsupportedConvError("Identity (ours, wasm): string tensors are not supported");
  }
  (backend as tf.KernelBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};

/**
 * {@link SGD_STEP_KERNEL} for wasm: one pass over a variable computing, with every operation
 * rounded to float32 exactly as the unfused chain's tf ops round it (so results are bit-identical),
 * d = g + wd*p; b' = started ? mu*b + d : d; u = -lr * b'. Replaces about seven tf ops (and their
 * passes and dispatches) per variable and step. With input `s` and attr `view` = [pre, units, post,
 * off] (a deferred AMSS mask, src/unit_scale.ts UnitScale), g is first multiplied by s[off + u] on
 * unit u of its [pre, units, post] view, as the tf.mul it replaces rounds it.
 */
const sgdStepKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmHeapBackend;
  const a = attrs as unknown as {
    lr: number;
    mu: number;
    wd: number;
    started: boolean;
    view?: number[];
  };
  const g = inputs.g!, p = inputs.p, buf = inputs.b, s = inputs.s;
  const f = Math.fround;
  const wd = f(a.wd), mu = f(a.mu), r = f(-a.lr); // the chain's scalars are float32 tensors
  if (wd !== 0 && p == null) throw new Error("AmssSgdStep: weight decay needs input p");
  if (mu !== 0 && buf == null) throw new Error("AmssSgdStep: momentum needs input b");
  const n = g.shape.reduce((x, d) => x * d, 1);
  // the scale's view of g (unused without a scale)
  const [pre, units, post, off] = s == null ? [1, 1, n, 0] : a.view ?? [];
  if (s != null && (pre * units * post !== n || !(off >= 0 && off + units <= s.shape[0]))) {
    throw new Error(`AmssSgdStep: view [${a.view}] does not fit g (${n}) and s (${s.shape})`);
  }
  const outs = [b.makeOutput([...g.shape], "float32")];
  if (mu !== 0) outs.push(b.makeOutput([...g.shape], "float32"));
  // views after the allocations: growing the heap would detach earlier ones
  const u = b.typedArrayFromHeap(outs[0]), gv = b.typedArrayFromHeap(g);
  const pv = wd !== 0 ? b.typedArrayFromHeap(p!) : gv;
  const bv = mu !== 0 ? b.typedArrayFromHeap(buf!) : gv;
  const bo = mu !== 0 ? b.typedArrayFromHeap(outs[1]) : u;
  const started = a.started;
  // Training's usual case (weight decay, momentum, after the first step) has loops of its own with
  // no branches and no scale through a closure: in a loop this short, a per-element branch or
  // indirect call is a large part of the cost.
  const common = wd !== 0 && mu !== 0 && started;
  if (s != null) {
    const sv = b.typedArrayFromHeap(s);
    let i = 0;
    if (common && post === 1) {
      // (conv kernels get two loop levels: an inner loop of length 1 per element would cost more
      // than the arithmetic)
      for (let q = 0; q < pre; q++) {
        for (let c = off, end = off + units; c < end; c++, i++) {
          const d = f(f(bv[i] * mu) + f(f(gv[i] * sv[c]) + f(pv[i] * wd)));
          bo[i] = d;
          u[i] = f(d * r);
        }
      }
      return outs;
    }
    // otherwise the scaled gradient goes into u first and the loops below read it from there
    for (let q = 0; q < pre; q++) {
      for (let c = off, end = off + units; c < end; c++) {
        const m = sv[c];
        for (let k = 0; k < post; k++, i++) u[i] = gv[i] * m;
      }
    }
  }
  const src = s == null ? gv : u;
  if (common) {
    for (let i = 0; i < n; i++) {
      const d = f(f(bv[i] * mu) + f(src[i] + f(pv[i] * wd)));
      bo[i] = d;
      u[i] = f(d * r);
    }
    return outs;
  }
  for (let i = 0; i < n; i++) {
    let d = src[i];
    if (wd !== 0) d = f(d + f(pv[i] * wd));
    if (mu !== 0) {
      if (started) d = f(f(bv[i] * mu) + d);
      bo[i] = d;
    }
    u[i] = f(d * r);
  }
  return outs;
};

/** Names of our batch-norm training kernels (wasm only; see {@link batchNormTrain}). */
const BN_FORWARD = "AmssBatchNormTrain", BN_BACKWARD = "AmssBatchNormTrainGrad";

/**
 * Batch norm in training mode for wasm, in TypeScript on the heap: x viewed as [M, C] (channels
 * innermost). Three passes: per-channel mean, then the biased variance as the mean of squared
 * deviations (two passes, as tf.moments, so a large mean does not cancel), then
 * y = (x - mean) * (gamma * invStd) + beta. Outputs y, mean, variance, invStd.
 */
const bnForwardKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmHeapBackend;
  const x = inputs.x!, gamma = inputs.gamma!, beta = inputs.beta!;
  const eps = (attrs as { eps: number }).eps;
  const c = x.shape[x.shape.length - 1], size = x.shape.reduce((a, d) => a * d, 1), m = size / c;
  const outs = [
    b.makeOutput([...x.shape], "float32"),
    b.makeOutput([c], "float32"),
    b.makeOutput([c], "float32"),
    b.makeOutput([c], "float32"),
  ];
  const [y, mean, variance, invStd] = outs.map((o) => b.typedArrayFromHeap(o));
  const xv = b.typedArrayFromHeap(x), g = b.typedArrayFromHeap(gamma);
  const be = b.typedArrayFromHeap(beta);
  const acc = new Float64Array(c), mu = new Float64Array(c), scale = new Float64Array(c);
  for (let o = 0; o < size; o += c) for (let k = 0; k < c; k++) acc[k] += xv[o + k];
  for (let k = 0; k < c; k++) {
    mu[k] = acc[k] / m;
    acc[k] = 0;
  }
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) {
      const d = xv[o + k] - mu[k];
      acc[k] += d * d;
    }
  }
  for (let k = 0; k < c; k++) {
    const v = acc[k] / m, is = 1 / Math.sqrt(v + eps);
    mean[k] = mu[k];
    variance[k] = v;
    invStd[k] = is;
    scale[k] = g[k] * is;
  }
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) y[o + k] = (xv[o + k] - mu[k]) * scale[k] + be[k];
  }
  return outs;
};

/**
 * Backward of {@link bnForwardKernel} (the closed form of {@link batchNormTrain}), two passes with
 * xhat recomputed on the fly instead of stored: sums of dy and dy * xhat, then
 * dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)). Outputs dx, dgamma, dbeta.
 */
const bnBackwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as WasmHeapBackend;
  const dy = inputs.dy!, x = inputs.x!;
  const c = x.shape[x.shape.length - 1], size = x.shape.reduce((a, d) => a * d, 1), m = size / c;
  const outs = [
    b.makeOutput([...x.shape], "float32"),
    b.makeOutput([c], "float32"),
    b.makeOutput([c], "float32"),
  ];
  const [dx, dgamma, dbeta] = outs.map((o) => b.typedArrayFromHeap(o));
  const d = b.typedArrayFromHeap(dy), xv = b.typedArrayFromHeap(x);
  const mu = b.typedArrayFromHeap(inputs.mean!), is = b.typedArrayFromHeap(inputs.invStd!);
  const g = b.typedArrayFromHeap(inputs.gamma!);
  const sd = new Float64Array(c), sdx = new Float64Array(c);
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) {
      const dv = d[o + k];
      sd[k] += dv;
      sdx[k] += dv * (xv[o + k] - mu[k]) * is[k];
    }
  }
  const kk = new Float64Array(c), mb = new Float64Array(c), mg = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    dbeta[k] = sd[k];
    dgamma[k] = sdx[k];
    kk[k] = g[k] * is[k];
    mb[k] = sd[k] / m;
    mg[k] = sdx[k] / m;
  }
  for (let o = 0; o < size; o += c) {
    for (let k = 0; k < c; k++) {
      const xh = (xv[o + k] - mu[k]) * is[k];
      dx[o + k] = kk[k] * (d[o + k] - mb[k] - xh * mg[k]);
    }
  }
  return outs;
};

/** Backends our replacement kernels can be registered for. */
export type TrainingKernelBackend = "wasm" | "webgpu";

/** Per backend: the stock configs we replaced (for restoring) and the options now registered. */
const registry = new Map<
  TrainingKernelBackend,
  { stock: Map<string, tf.KernelConfig | undefined>; key: string }
>();

function lookup(name: string, backendName: string): tf.KernelConfig | undefined {
  try {
    return tf.getKernel(name, backendName) ?? undefined;
  } catch {
    return undefined;
  }
}

function replace(
  stock: Map<string, tf.KernelConfig | undefined>,
  kernelName: string,
  backendName: TrainingKernelBackend,
  kernelFunc: tf.KernelFunc,
): void {
  if (!stock.has(kernelName)) stock.set(kernelName, lookup(kernelName, backendName));
  if (lookup(kernelName, backendName) != null) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/** Which kernels to register for a backend. */
export interface TrainingKernelOptions {
  /** Register our `Conv2DBackpropFilter` ({@link conv2dFilterGrad}); default true. */
  filterGrad?: boolean;
  /** Replace the stock `Conv2DBackpropInput` with ours (flipped-filter / phase convolutions). */
  inputGrad?: boolean;
  /** wasm only: replace the stock `MaxPoolGrad` with ours (TypeScript on the heap); default true. */
  maxPoolGrad?: boolean;
  /** wasm only: {@link batchNormTrain} runs as two TypeScript kernels on the heap; default true. */
  batchNorm?: boolean;
  /** wasm only: `Identity` (tf.clone) shares the heap block instead of copying it; default true. */
  identity?: boolean;
  /** wasm only: `sgd` (src/transform.ts) steps run as one fused kernel per variable; default true. */
  sgd?: boolean;
}

/**
 * Registers our training kernels for `backendName` (see {@link conv2dFilterGrad} and
 * {@link conv2dInputGrad}). Idempotent for the same options; other options first restore the stock
 * kernels. For `webgpu`, call it after the webgpu backend package has been imported, so that its
 * own registrations come first and ours replace them.
 *
 * On webgpu, tfjs 4.22's own `Conv2DBackpropFilter` is one GPU thread per weight looping over
 * N*oh*ow, and its `Conv2DBackpropInput` a naive loop (or, with WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE
 * off, a matmul program); both of ours run on its tiled Conv2D program instead.
 * benchmarks/gpu_check.ts compares the variants (timings in the README, "GPU").
 *
 * @param backendName "wasm" or "webgpu"
 * @param opts which kernels; default both
 */
export function registerTrainingKernels(
  backendName: TrainingKernelBackend,
  opts: TrainingKernelOptions = {},
): void {
  const filterGrad = opts.filterGrad ?? true, inputGrad = opts.inputGrad ?? true;
  const maxPool = backendName === "wasm" && (opts.maxPoolGrad ?? true);
  const bn = backendName === "wasm" && (opts.batchNorm ?? true);
  const identity = backendName === "wasm" && (opts.identity ?? true);
  const fusedSgd = backendName === "wasm" && (opts.sgd ?? true);
  const key = `filterGrad=${filterGrad},inputGrad=${inputGrad}` +
    `${maxPool ? ",maxPoolGrad=true" : ""}${bn ? ",batchNorm=true" : ""}` +
    `${identity ? ",identity=true" : ""}${fusedSgd ? ",sgd=true" : ""}`;
  if (registry.get(backendName)?.key === key) return;
  unregisterTrainingKernels(backendName);
  const stock = new Map<string, tf.KernelConfig | undefined>();
  if (filterGrad) replace(stock, tf.Conv2DBackpropFilter, backendName, filterGradKernel);
  if (inputGrad) replace(stock, tf.Conv2DBackpropInput, backendName, inputGradKernel);
  if (maxPool) replace(stock, tf.MaxPoolGrad, backendName, maxPoolGradKernel);
  if (identity) replace(stock, tf.Identity, backendName, identityKernel);
  if (fusedSgd) replace(stock, SGD_STEP_KERNEL, backendName, sgdStepKernel);
  if (bn) {
    replace(stock, BN_FORWARD, backendName, bnForwardKernel);
    replace(stock, BN_BACKWARD, backendName, bnBackwardKernel);
  }
  registry.set(backendName, { stock, key });
}

/**
 * Undoes {@link registerTrainingKernels} for one backend: restores the stock kernels it replaced
 * and removes the ones the backend never had. Idempotent.
 */
export function unregisterTrainingKernels(backendName: TrainingKernelBackend): void {
  const entry = registry.get(backendName);
  if (entry == null) return;
  for (const [name, config] of entry.stock) {
    if (lookup(name, backendName) != null) tf.unregisterKernel(name, backendName);
    if (config != null) tf.registerKernel(config);
  }
  registry.delete(backendName);
}

/** The options registered for a backend ("filterGrad=true,inputGrad=true"), or null if none. */
export function trainingKernelsRegistered(backendName: TrainingKernelBackend): string | null {
  return registry.get(backendName)?.key ?? null;
}

/** Which kernels to register on wasm (whose own has no `Conv2DBackpropFilter` at all). */
export type WasmKernelOptions = TrainingKernelOptions;

/**
 * Registers our training kernels for the `wasm` backend: `Conv2DBackpropFilter` (missing from
 * wasm; see {@link conv2dFilterGrad}) and a faster `Conv2DBackpropInput` (see
 * {@link conv2dInputGrad}). Idempotent: a second call with the same options does nothing. Can be
 * called before or after `tf.setBackend("wasm")`; the wasm backend package is imported by this
 * module, so its own registrations always come first and ours win.
 *
 * @param opts which kernels to register (both by default)
 */
export function registerWasmTrainingKernels(opts: WasmKernelOptions = {}): void {
  registerTrainingKernels("wasm", opts);
}

/**
 * Undoes {@link registerWasmTrainingKernels}: restores the stock wasm kernels it replaced and
 * removes the ones wasm never had. Used by benchmarks to time the stock kernels. Idempotent.
 */
export function unregisterWasmTrainingKernels(): void {
  unregisterTrainingKernels("wasm");
}

/** True while our wasm training kernels are registered. */
export function wasmTrainingKernelsRegistered(): boolean {
  return registry.has("wasm");
}

/** Output of {@link batchNormTrain}. */
export interface BatchNormResult<R extends tf.Rank> {
  /** Normalised, scaled and shifted output, same shape as x; differentiable in x, gamma, beta. */
  y: tf.Tensor<R>;
  /** Batch mean per channel [C] (biased statistics; no gradient flows through it). */
  mean: tf.Tensor1D;
  /**
   * Batch variance per channel [C], biased (divides by the count m); no gradient flows through it.
   * PyTorch's running_var uses the unbiased one: multiply by m / (m - 1).
   */
  variance: tf.Tensor1D;
}

/**
 * Batch normalisation in training mode over every axis but the last (channels-last), with a
 * closed-form backward via `tf.customGrad`:
 *
 *   y = gamma * xhat + beta,  xhat = (x - mean) / sqrt(var + eps)
 *   dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))
 *   dgamma = sum(dy * xhat),  dbeta = sum(dy)
 *
 * (means and sums over all axes but the last). The batch mean and (biased) variance are returned
 * for running statistics; they are computed inside the custom op, so they are not differentiated
 * (a stop-gradient), which is what running-statistics updates need. Works on every backend.
 * Faster on wasm than differentiating `tf.moments` + `tf.batchNorm` op by op (whose gradient
 * uses the slow Tile).
 *
 * @param x input [..., C], rank >= 2
 * @param gamma scale [C]
 * @param beta shift [C]
 * @param eps variance epsilon (default 1e-5)
 */
export function batchNormTrain<R extends tf.Rank>(
  x: tf.Tensor<R>,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps = 1e-5,
): BatchNormResult<R> {
  if (x.rank < 2) throw new Error(`batchNormTrain: x must have rank >= 2, got ${x.rank}`);
  const c = x.shape[x.rank - 1];
  if (
    gamma.shape.length !== 1 || gamma.shape[0] !== c || beta.shape.length !== 1 ||
    beta.shape[0] !== c
  ) {
    throw new Error(
      `batchNormTrain: gamma ${JSON.stringify(gamma.shape)} and beta ${
        JSON.stringify(beta.shape)
      } must be [${c}] for x ${JSON.stringify(x.shape)}`,
    );
  }
  if (
    x.dtype === "float32" && tf.getBackend() === "wasm" && tf.getKernel(BN_FORWARD, "wasm") != null
  ) {
    return batchNormTrainWasm(x, gamma, beta, eps);
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const count = x.size / c;
  let mean: tf.Tensor1D | undefined, variance: tf.Tensor1D | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const m = tf.moments(xs, axes);
    const invStd = tf.rsqrt(tf.add(m.variance, eps));
    const xhat = tf.mul(tf.sub(xs, m.mean), invStd);
    const y = tf.add(tf.mul(xhat, g), b);
    save([xhat, invStd, g]);
    // Escape the custom op's tidy; re-scoped in the caller's scope below.
    mean = tf.keep(m.mean as tf.Tensor1D);
    variance = tf.keep(m.variance as tf.Tensor1D);
    return {
      value: y,
      gradFunc: (d: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, is, gm] = saved;
        const dbeta = tf.sum(d, axes);
        const dgamma = tf.sum(tf.mul(d, xh), axes);
        const k = tf.mul(gm, is); // gamma / sqrt(var + eps), [C]
        const dx = tf.mul(
          tf.sub(tf.sub(d, tf.div(dbeta, count)), tf.mul(xh, tf.div(dgamma, count))),
          k,
        );
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor<R>;
  // Move the kept statistics into the caller's scope: a clone shares the data (one more
  // reference), and disposing the kept tensor drops ours, so an enclosing tidy frees them.
  const meanOut = mean!.clone(), varOut = variance!.clone();
  mean!.dispose();
  variance!.dispose();
  return { y, mean: meanOut, variance: varOut };
}

/**
 * {@link batchNormTrain} on wasm with our two heap kernels: the same closed form, five passes over
 * x in all (three forward, two backward) instead of about fifteen tf ops, and no stored xhat.
 */
function batchNormTrainWasm<R extends tf.Rank>(
  x: tf.Tensor<R>,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): BatchNormResult<R> {
  let mean: tf.Tensor1D | undefined, variance: tf.Tensor1D | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mu, v, is] = tf.engine().runKernel(BN_FORWARD, { x: xs, gamma: g, beta: b }, {
      eps,
    } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([xs, mu, is, g]);
    mean = tf.keep(mu as tf.Tensor1D);
    variance = tf.keep(v as tf.Tensor1D);
    return {
      value: y,
      gradFunc: (d: tf.Tensor, saved: tf.Tensor[]) => {
        const [xx, mm, ii, gg] = saved;
        return tf.engine().runKernel(
          BN_BACKWARD,
          { dy: d, x: xx, mean: mm, invStd: ii, gamma: gg },
          {},
        ) as tf.Tensor[];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor<R>;
  const meanOut = mean!.clone(), varOut = variance!.clone();
  mean!.dispose();
  variance!.dispose();
  return { y, mean: meanOut, variance: varOut };
}
