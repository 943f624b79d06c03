/**
 * Uni-modal encoders phi^(k) (paper Sec. 3.1 and 4.1): a ResNet18 for spectrograms and video
 * frames, an MLP for vector modalities and a small Transformer for sequences. Each encoder maps
 * its modality's batch to a feature matrix `[B, dim]`, owns the parameters named
 * `<modality>/...` (never `<modality>/head/...`, which the fusion owns) and says how AMSS splits
 * its parameters into mask units (Appendix C.2).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { paperUnits, referenceResNetUnits, type UnitRule } from "../amss/groups.ts";
import type { Params } from "../types.ts";
import { AmssArgumentError } from "../validate.ts";
import {
  batchNorm,
  type BatchNormConfig,
  conv2d,
  declareBatchNorm,
  declareLayerNorm,
  dense,
  type ForwardOptions,
  layerNorm,
  lookup,
  type ParamSink,
  type State,
} from "./layers.ts";

/** Which AMSS unit selection to use: the paper's (App. C.2) or the authors' code's. */
export type UnitRulesKind = "paper" | "reference";

/** Encoder kinds of a model spec. */
export type EncoderKind = "resnet18" | "mlp" | "transformer";

/** Every {@link EncoderKind}. */
export const ENCODER_KINDS: readonly EncoderKind[] = Object.freeze([
  "resnet18",
  "mlp",
  "transformer",
]);

/** One modality's encoder. */
export interface Encoder {
  /** Modality name; every variable of the encoder is named `<modality>/...`. */
  readonly modality: string;
  /** Which architecture. */
  readonly kind: EncoderKind;
  /** Shape of one sample (without the batch axis). */
  readonly inputShape: readonly number[];
  /** Feature dimension of the output `[B, dim]`. */
  readonly dim: number;
  /** Declares every parameter and state variable. */
  declare(sink: ParamSink): void;
  /** Features `[B, dim]` of a batch `[B, ...inputShape]`. Call inside `tf.tidy`/`tf.variableGrads`. */
  forward(params: Params, state: State, x: tf.Tensor, opts: ForwardOptions): tf.Tensor2D;
  /**
   * How AMSS splits parameter `local` (the name without the `<modality>/` prefix) into units,
   * or null to leave it unmasked.
   */
  unitRule(local: string, shape: readonly number[], kind: UnitRulesKind): UnitRule | null;
}

function checkInput(enc: Encoder, x: tf.Tensor): void {
  const want = enc.inputShape;
  if (x.dtype !== "float32") {
    throw new AmssArgumentError(`inputs.${enc.modality}: expected float32, got ${x.dtype}`);
  }
  // a frame sequence [T, H, W, C] may have any T >= 1 (features are pooled over time)
  const anyT = enc.kind === "resnet18" && want.length === 4;
  const ok = x.rank === want.length + 1 &&
    want.every((d, i) => x.shape[i + 1] === d || (anyT && i === 0 && (x.shape[1] ?? 0) >= 1));
  if (!ok) {
    throw new AmssArgumentError(
      `inputs.${enc.modality}: expected shape [B, ${want.join(", ")}], got [${x.shape.join(", ")}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// ResNet18

/** Options of {@link resnet18Encoder}. */
export interface ResNet18Options {
  /** Channels of layer1..layer4. Default `[64, 128, 256, 512]` (torchvision); `[16, 32, 64, 128]` for CPU runs. */
  widths?: number[];
  /** Batch-norm epsilon. Default 1e-5. */
  bnEps?: number;
  /** Batch-norm running-statistics momentum (PyTorch convention). Default 0.1. */
  bnMomentum?: number;
}

/** The ResNet18 channel widths of torchvision (and of the paper's audio-video encoders, Sec. 4.1). */
export const RESNET18_WIDTHS: readonly number[] = [64, 128, 256, 512];

/**
 * A ResNet18 activation between stages: the feature map of the `batch * frames` images and the
 * clip layout (`frames` = 1 for `[H, W, C]` inputs), so stage hooks can pool per clip.
 */
export interface ResNetActivation {
  /** Feature map `[batch * frames, H', W', C']` (frame-major within a clip). */
  h: tf.Tensor4D;
  /** Clips in the batch (B). */
  batch: number;
  /** Frames per clip (T; 1 for image inputs). */
  frames: number;
}

/**
 * A ResNet18 encoder with a staged API: `forward(x)` is exactly
 * `pool(stage(4, stage(3, stage(2, stage(1, stem(x))))))`, so a fusion can act between stages
 * (MMTM, Joze et al. 2020) and still reproduce the plain forward when it does nothing.
 */
export interface ResNet18Encoder extends Encoder {
  /** Always `"resnet18"`. */
  readonly kind: "resnet18";
  /** Channels of layer1..layer4. */
  readonly widths: readonly number[];
  /** Checks the input and runs the stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool) on every frame. */
  stem(params: Params, state: State, x: tf.Tensor, opts: ForwardOptions): ResNetActivation;
  /** Runs `layer{layer}` (1..4: two BasicBlocks) on an activation. */
  stage(
    layer: number,
    params: Params,
    state: State,
    a: ResNetActivation,
    opts: ForwardOptions,
  ): ResNetActivation;
  /** Global average pool over H', W' and the T frames: features `[batch, C']`. */
  pool(a: ResNetActivation): tf.Tensor2D;
}

/** True for encoders built by {@link resnet18Encoder} (which have the staged API). */
export function isResNet18(e: Encoder): e is ResNet18Encoder {
  const r = e as Partial<ResNet18Encoder>;
  return e.kind === "resnet18" && typeof r.stem === "function" && typeof r.stage === "function" &&
    typeof r.pool === "function";
}

/**
 * ResNet18 with BasicBlocks (He et al. 2016; torchvision layout) as the paper's audio and video
 * encoders (Sec. 4.1, following OGM-GE): stem 7x7/2 conv + BN + ReLU + 3x3/2 max pool; layer1..4
 * of two BasicBlocks (3x3 conv, BN, ReLU, 3x3 conv, BN, + shortcut, ReLU), the first block of
 * layer2..4 with stride 2 and a 1x1/2 conv + BN shortcut; global average pool.
 *
 * Input `[H, W, C]` (audio: a 1-channel spectrogram) or `[T, H, W, C]` (video: T frames of 1 or 3
 * channels, encoded per frame as a batch of B*T images, then the pooled features averaged over
 * T: the same as OGM-GE's 3-D average pool over (T, H, W)).
 *
 * Convolutions pad symmetrically like PyTorch (`k // 2`), not TF's asymmetric "same". Kernels are
 * `[kh, kw, in, out]` and named `<m>/layer{1-4}/{0,1}/conv{1,2}/kernel`, so
 * {@link referenceResNetUnits} selects the 16 block 3x3 convs.
 *
 * The returned encoder also exposes the stages (`stem`, `stage(1..4)`, `pool`; see
 * {@link ResNet18Encoder}); `forward` is their composition.
 */
export function resnet18Encoder(
  modality: string,
  inputShape: readonly number[],
  options: ResNet18Options = {},
): ResNet18Encoder {
  const widths = options.widths ?? [...RESNET18_WIDTHS];
  if (widths.length !== 4 || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new AmssArgumentError(
      `resnet18 ${modality}: widths must be 4 positive integers, got [${widths.join(", ")}]`,
    );
  }
  const bn: BatchNormConfig = { eps: options.bnEps ?? 1e-5, momentum: options.bnMomentum ?? 0.1 };
  if (inputShape.length !== 3 && inputShape.length !== 4) {
    throw new AmssArgumentError(
      `resnet18 ${modality}: input shape must be [H, W, C] or [T, H, W, C], got [${
        inputShape.join(", ")
      }]`,
    );
  }
  const inChannels = inputShape[inputShape.length - 1];
  const p = (s: string) => `${modality}/${s}`;
  // Blocks: [layer index 1..4, block 0..1, in, out, stride].
  const blocks: { layer: number; name: string; cin: number; cout: number; stride: number }[] = [];
  let cin = widths[0];
  for (let l = 0; l < 4; l++) {
    for (let b = 0; b < 2; b++) {
      const stride = l > 0 && b === 0 ? 2 : 1;
      blocks.push({ layer: l + 1, name: `layer${l + 1}/${b}`, cin, cout: widths[l], stride });
      cin = widths[l];
    }
  }
  const hasDownsample = (blk: { cin: number; cout: number; stride: number }) =>
    blk.stride !== 1 || blk.cin !== blk.cout;
  const convOf = (params: Params) => (t: tf.Tensor, name: string, stride: number, pad: number) =>
    conv2d(t, lookup(params, p(`${name}/kernel`)), stride, pad);
  const normOf =
    (params: Params, state: State, opts: ForwardOptions) => (t: tf.Tensor, n: string) =>
      batchNorm(t, params, state, p(n), opts, bn);

  const enc: ResNet18Encoder = {
    modality,
    kind: "resnet18",
    inputShape: [...inputShape],
    dim: widths[3],
    widths: [...widths],
    declare(sink) {
      const conv = (name: string, shape: number[]) =>
        sink.param(p(`${name}/kernel`), shape, { kind: "he", mode: "fan_out" });
      conv("stem/conv", [7, 7, inChannels, widths[0]]);
      declareBatchNorm(sink, p("stem/bn"), widths[0]);
      for (const blk of blocks) {
        conv(`${blk.name}/conv1`, [3, 3, blk.cin, blk.cout]);
        declareBatchNorm(sink, p(`${blk.name}/bn1`), blk.cout);
        conv(`${blk.name}/conv2`, [3, 3, blk.cout, blk.cout]);
        declareBatchNorm(sink, p(`${blk.name}/bn2`), blk.cout);
        if (hasDownsample(blk)) {
          conv(`${blk.name}/downsample/conv`, [1, 1, blk.cin, blk.cout]);
          declareBatchNorm(sink, p(`${blk.name}/downsample/bn`), blk.cout);
        }
      }
    },
    stem(params, state, x, opts) {
      checkInput(enc, x);
      const conv = convOf(params);
      const norm = normOf(params, state, opts);
      const [B] = x.shape;
      // frames: T may differ from inputShape[0] (e.g. NVGesture evaluates all 80 frames of a clip
      // it trains on 64 of); every frame is encoded alone and the features are averaged over T
      const frames = inputShape.length === 4 ? x.shape[1] ?? 1 : 1;
      let h: tf.Tensor = inputShape.length === 3
        ? x
        : x.reshape([B * frames, ...inputShape.slice(1)]);
      h = tf.relu(norm(conv(h, "stem/conv", 2, 3), "stem/bn"));
      h = tf.maxPool(h as tf.Tensor4D, 3, 2, 1);
      return { h: h as tf.Tensor4D, batch: B, frames };
    },
    stage(layer, params, state, a, opts) {
      if (!Number.isInteger(layer) || layer < 1 || layer > 4) {
        throw new AmssArgumentError(`resnet18 ${modality}: stage must be 1..4, got ${layer}`);
      }
      const conv = convOf(params);
      const norm = normOf(params, state, opts);
      let h: tf.Tensor = a.h;
      for (const blk of blocks) {
        if (blk.layer !== layer) continue;
        let out = tf.relu(norm(conv(h, `${blk.name}/conv1`, blk.stride, 1), `${blk.name}/bn1`));
        out = norm(conv(out, `${blk.name}/conv2`, 1, 1), `${blk.name}/bn2`);
        const shortcut = hasDownsample(blk)
          ? norm(conv(h, `${blk.name}/downsample/conv`, blk.stride, 0), `${blk.name}/downsample/bn`)
          : h;
        h = tf.relu(tf.add(out, shortcut));
      }
      return { h: h as tf.Tensor4D, batch: a.batch, frames: a.frames };
    },
    pool({ h, batch, frames }) {
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // [B*T, C]
      if (inputShape.length === 3) return pooled;
      return tf.mean(pooled.reshape([batch, frames, h.shape[3]]), 1) as tf.Tensor2D;
    },
    forward(params, state, x, opts) {
      let a = enc.stem(params, state, x, opts);
      for (let layer = 1; layer <= 4; layer++) a = enc.stage(layer, params, state, a, opts);
      return enc.pool(a);
    },
    unitRule(local, shape, kind) {
      return kind === "reference" ? referenceResNetUnits(local, shape) : paperUnits(local, shape);
    },
  };
  return enc;
}

// ---------------------------------------------------------------------------------------------
// MLP

/** Options of {@link mlpEncoder}. */
export interface MlpOptions {
  /** Hidden widths; the last one is the feature dimension. Default `[64, 64]`. */
  hidden?: number[];
}

/**
 * MLP encoder for vector modalities `[D]`: `Linear -> ReLU` per hidden width (He-normal kernels,
 * zero biases); the features are the last ReLU output. Parameters `<m>/mlp/<i>/{kernel,bias}`.
 * AMSS units: element-wise under both rule kinds (App. C.2 "other layers"; the authors' code has
 * no MLP encoder).
 */
export function mlpEncoder(
  modality: string,
  inputShape: readonly number[],
  options: MlpOptions = {},
): Encoder {
  const hidden = options.hidden ?? [64, 64];
  if (inputShape.length !== 1) {
    throw new AmssArgumentError(
      `mlp ${modality}: input shape must be [D], got [${inputShape.join(", ")}]`,
    );
  }
  const enc: Encoder = {
    modality,
    kind: "mlp",
    inputShape: [...inputShape],
    dim: hidden[hidden.length - 1],
    declare(sink) {
      let din = inputShape[0];
      hidden.forEach((h, i) => {
        sink.param(`${modality}/mlp/${i}/kernel`, [din, h], { kind: "he", mode: "fan_in" });
        sink.param(`${modality}/mlp/${i}/bias`, [h], { kind: "constant", value: 0 });
        din = h;
      });
    },
    forward(params, _state, x) {
      checkInput(enc, x);
      let h = x as tf.Tensor2D;
      hidden.forEach((_h, i) => {
        h = tf.relu(
          dense(
            h,
            lookup(params, `${modality}/mlp/${i}/kernel`),
            lookup(params, `${modality}/mlp/${i}/bias`),
          ),
        );
      });
      return h;
    },
    unitRule: (local, shape) => paperUnits(local, shape),
  };
  return enc;
}

// ---------------------------------------------------------------------------------------------
// Transformer

/** Options of {@link transformerEncoder}. */
export interface TransformerOptions {
  /** Model width d. Default 64. */
  dModel?: number;
  /** Attention heads per layer. Default 4. */
  heads?: number;
  /** Width of one head. Default `dModel / heads` (must divide). */
  headDim?: number;
  /** Number of encoder layers. Default 2. */
  layers?: number;
  /** Feed-forward width. Default `4 * dModel`. */
  ffDim?: number;
  /** Layer-norm epsilon. Default 1e-5. */
  lnEps?: number;
  /** Learned positional embedding `[L, d]`. Default true. */
  positional?: boolean;
  /**
   * Token input: the input is `[L]` integer ids (stored as floats) embedded by a learned table
   * `[vocabSize, d]` instead of a projection of `[L, D]` features. Tokens equal to `padId` are
   * masked out of attention (as keys) and of the mean pool.
   */
  vocabSize?: number;
  /** Padding id of token inputs. Default 0 ([PAD] in BERT's vocabulary). */
  padId?: number;
}

/**
 * Embedding lookup `table[ids]` whose gradient is a scatter-add of the output gradient into the
 * table's rows (tfjs's own gather gradient needs UnsortedSegmentSum, which the wasm backend lacks;
 * ScatterNd sums duplicate indices, which is the gradient of a lookup).
 */
function embedLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  // ids go in as a second input (saved for the backward pass, so the tape keeps them alive); their
  // gradient is zero
  const f = tf.customGrad((t, i, save) => {
    const tt = t as tf.Tensor2D;
    const ii = i as tf.Tensor1D;
    (save as tf.GradSaveFunc)([ii]);
    return {
      value: tf.gather(tt, ii),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const idx = saved[0].reshape([saved[0].shape[0], 1]);
        return [tf.scatterND(idx, dy, tt.shape), tf.zerosLike(saved[0])];
      },
    };
  });
  return f(table, ids) as tf.Tensor2D;
}

/**
 * A small pre-LN Transformer encoder for sequences `[L, D]` (token features): input projection
 * `D -> d` (+ learned positional embedding), then per layer
 * `x += MHA(LN(x))`, `x += FFN(LN(x))` (FFN: Linear d->ff, ReLU, Linear ff->d), final LN, mean pool
 * over L. No padding mask: sequences have fixed length L.
 *
 * Multi-head attention has separate projections: Q, K, V kernels `[d, heads*dh]` and an output
 * kernel `[heads*dh, d]` named `<m>/block<i>/attn/{query,key,value,out}/kernel`. Q, K and V have no
 * bias (a key bias cancels in the softmax; a value bias only adds a constant that the output bias
 * already provides), so a head's parameters are exactly its slices of the four matrices and form
 * one AMSS unit (Appendix C.2, head-wise mask unit, C_l = heads).
 */
export function transformerEncoder(
  modality: string,
  inputShape: readonly number[],
  options: TransformerOptions = {},
): Encoder {
  const d = options.dModel ?? 64;
  const heads = options.heads ?? 4;
  if (options.headDim === undefined && d % heads !== 0) {
    throw new AmssArgumentError(
      `transformer ${modality}: dModel ${d} is not divisible by heads ${heads}; set headDim`,
    );
  }
  const dh = options.headDim ?? d / heads;
  const layers = options.layers ?? 2;
  const ff = options.ffDim ?? 4 * d;
  const eps = options.lnEps ?? 1e-5;
  const positional = options.positional ?? true;
  const vocab = options.vocabSize;
  const padId = options.padId ?? 0;
  if (vocab !== undefined && (!Number.isInteger(vocab) || vocab < 2)) {
    throw new AmssArgumentError(`transformer ${modality}: vocabSize must be an integer >= 2`);
  }
  if (inputShape.length !== (vocab ? 1 : 2)) {
    throw new AmssArgumentError(
      `transformer ${modality}: input shape must be ${vocab ? "[L] (token ids)" : "[L, D]"}, got [${
        inputShape.join(", ")
      }]`,
    );
  }
  const L = inputShape[0];
  const D = vocab ? 0 : inputShape[1];
  const n = (s: string) => `${modality}/${s}`;
  const enc: Encoder = {
    modality,
    kind: "transformer",
    inputShape: [...inputShape],
    dim: d,
    declare(sink) {
      if (vocab) {
        sink.param(n("embed/tokens"), [vocab, d], { kind: "normal", std: 0.02, truncated: true });
      } else {
        sink.param(n("embed/kernel"), [D, d], { kind: "glorot" });
        sink.param(n("embed/bias"), [d], { kind: "constant", value: 0 });
      }
      if (positional) {
        sink.param(n("embed/position"), [L, d], { kind: "normal", std: 0.02, truncated: true });
      }
      for (let i = 0; i < layers; i++) {
        const b = `block${i}`;
        declareLayerNorm(sink, n(`${b}/ln1`), d);
        for (const m of ["query", "key", "value"]) {
          sink.param(n(`${b}/attn/${m}/kernel`), [d, heads * dh], { kind: "glorot" });
        }
        sink.param(n(`${b}/attn/out/kernel`), [heads * dh, d], { kind: "glorot" });
        sink.param(n(`${b}/attn/out/bias`), [d], { kind: "constant", value: 0 });
        declareLayerNorm(sink, n(`${b}/ln2`), d);
        sink.param(n(`${b}/ffn/0/kernel`), [d, ff], { kind: "he", mode: "fan_in" });
        sink.param(n(`${b}/ffn/0/bias`), [ff], { kind: "constant", value: 0 });
        sink.param(n(`${b}/ffn/1/kernel`), [ff, d], { kind: "glorot" });
        sink.param(n(`${b}/ffn/1/bias`), [d], { kind: "constant", value: 0 });
      }
      declareLayerNorm(sink, n("norm"), d);
    },
    forward(params, _state, x) {
      checkInput(enc, x);
      const B = x.shape[0];
      const P = (s: string) => lookup(params, n(s));
      let keep: tf.Tensor | null = null; // [B, L] 1 for real tokens
      let h: tf.Tensor;
      if (vocab) {
        const ids = tf.clipByValue(x, 0, vocab - 1).toInt().reshape([B * L]) as tf.Tensor1D;
        h = embedLookup(P("embed/tokens") as tf.Tensor2D, ids).reshape([B, L, d]);
        keep = tf.notEqual(x, padId).toFloat();
      } else {
        h = dense(x.reshape([B * L, D]), P("embed/kernel"), P("embed/bias")).reshape([B, L, d]);
      }
      // additive attention bias: -1e9 on padded keys
      const keyBias = keep ? tf.mul(tf.sub(1, keep), -1e9).reshape([B, 1, 1, L]) : null;
      if (positional) h = tf.add(h, P("embed/position"));
      const split = (t: tf.Tensor) => t.reshape([B, L, heads, dh]).transpose([0, 2, 1, 3]);
      for (let i = 0; i < layers; i++) {
        const b = `block${i}`;
        const a = layerNorm(h, params, n(`${b}/ln1`), eps).reshape([B * L, d]);
        const q = split(dense(a, P(`${b}/attn/query/kernel`)));
        const k = split(dense(a, P(`${b}/attn/key/kernel`)));
        const v = split(dense(a, P(`${b}/attn/value/kernel`)));
        let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)); // [B, H, L, L]
        if (keyBias) scores = tf.add(scores, keyBias);
        const ctx = tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3])
          .reshape([B * L, heads * dh]);
        const o = dense(ctx, P(`${b}/attn/out/kernel`), P(`${b}/attn/out/bias`));
        h = tf.add(h, o.reshape([B, L, d]));
        const f = layerNorm(h, params, n(`${b}/ln2`), eps).reshape([B * L, d]);
        const f2 = dense(
          tf.relu(dense(f, P(`${b}/ffn/0/kernel`), P(`${b}/ffn/0/bias`))),
          P(`${b}/ffn/1/kernel`),
          P(`${b}/ffn/1/bias`),
        );
        h = tf.add(h, f2.reshape([B, L, d]));
      }
      const out = layerNorm(h, params, n("norm"), eps);
      if (!keep) return tf.mean(out, 1) as tf.Tensor2D;
      // mean over real tokens only (at least one: [CLS] is never padding)
      const w = keep.reshape([B, L, 1]);
      return tf.div(tf.sum(tf.mul(out, w), 1), tf.maximum(tf.sum(w, 1), 1)) as tf.Tensor2D;
    },
    unitRule(local, shape) {
      // Head-wise units for both rule kinds (App. C.2); the authors' audio-video code has no
      // Transformer, so "reference" falls back to the paper's rule here.
      const m = /^(block\d+)\/attn\/(query|key|value|out)\/kernel$/.exec(local);
      if (m) {
        return { kind: "heads", heads, axis: m[2] === "out" ? 0 : 1, group: n(`${m[1]}/attn`) };
      }
      return paperUnits(local, shape);
    },
  };
  return enc;
}
