/**
 * One trainer for every rebalancing method (issue: "the trainer has no per-method branches").
 *
 * Per step: forward (all parameters) -> cross-entropy on the fused logits (or one modality's, for
 * `unimodal`; or the method's own loss hook, e.g. PMR, G-Blending) -> gradients -> the method's
 * transformation -> the optimizer (SGD with momentum and weight decay, or Adam; Appendix C.1) ->
 * apply. Per epoch: the method's `onEpochStart` hook (e.g. PMR's prototypes), training, evaluation
 * on val and test (accuracy, mAP, macro F1, fused cross-entropy and each modality's branch accuracy
 * and cross-entropy inside the joint model), the method's `onEpochEnd` hook (e.g. MSES,
 * G-Blending), a metrics line, a checkpoint (the method's state included). Model selection uses
 * validation accuracy only; the summary reports the test metrics of the validation-selected epoch.
 *
 * Run folder (`outDir`): `config.json`, `metrics.jsonl` (one line per epoch), `summary.json`,
 * `checkpoint.json` + `checkpoint-<epoch>.bin`; every file is written atomically. With `resume`, a
 * run continues from its last checkpoint and ends with the same metrics as an uninterrupted run
 * with the same seed on the same backend (every random stream is in the checkpoint or derived from
 * (seed, epoch, step)).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { AmssInfo } from "../amss/amss.ts";
import { paperSignificance, type PaperSignificanceState } from "../amss/significance.ts";
import { type AnySplit, type Dataset, disposeBatch } from "../data/dataset.ts";
import { batchStream, type SampleReader } from "../data/loaders.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { Rng } from "../rng.ts";
import {
  adagrad,
  adam,
  chain,
  disposeState,
  type GradientTransformation,
  sgd,
  step,
  stepDecay,
} from "../transform.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import { modalBatchFromOutputs, variableGradsByName } from "../models/model.ts";
import { loadPretrained, type PretrainedSpec } from "../models/pretrained.ts";
import { accuracy, macroF1, meanAveragePrecision } from "./metrics.ts";
import {
  createMethod,
  ENTROPY_FLOOR,
  type FeatureVisitor,
  type MethodName,
  type MethodOptions,
} from "./methods.ts";
import { sumCrossEntropy } from "./rebalance/base.ts";
import type { TrainableModel } from "./model.ts";

/** Optimizer settings (Appendix C.1: SGD momentum 0.9, weight decay 1e-4, step decay x0.1; Adam). */
export interface OptimizerConfig {
  kind: "sgd" | "adam" | "adagrad";
  lr: number;
  momentum?: number;
  weightDecay?: number;
  /** Epochs (0-based) after which the rate is multiplied by `gamma`. */
  milestones?: number[];
  gamma?: number;
}

/** Everything a run needs. */
export interface TrainConfig {
  model: TrainableModel;
  dataset: Dataset;
  method: MethodName;
  methodOptions?: MethodOptions;
  optimizer: OptimizerConfig;
  /** Where the method's transformation stands: before the optimizer (authors' code) or after (Eq. 1). */
  order?: "mask-gradients" | "mask-updates";
  epochs: number;
  batchSize: number;
  seed: number;
  /** Run folder; nothing is written without it. */
  outDir?: string;
  /** Continue from `outDir`'s checkpoint if there is one. */
  resume?: boolean;
  /** Progress output: a live line on a terminal, periodic lines otherwise, or none. */
  progress?: "auto" | "tty" | "plain" | "none";
  evalBatchSize?: number;
  /** Stop (as if killed) after this epoch's checkpoint: for resume tests. */
  stopAfterEpoch?: number;
  /** Extra fields recorded in config.json (backend, dataset description, ...). */
  meta?: Record<string, unknown>;
  /** tau and lambda of the significance that is LOGGED for every method (paper mode). */
  logTau?: number;
  /** Datasets read from disk: who decodes samples (default the main thread; e.g. a WorkerPool). */
  reader?: SampleReader;
  /**
   * Pretrained weights per modality (tfjs weights format, src/models/pretrained.ts), loaded over
   * the seeded initialisation; a resumed run takes its checkpoint instead.
   */
  pretrained?: PretrainedSpec[];
  /** Datasets read from disk: a sample that fails to decode stops the run instead of being skipped. */
  strictData?: boolean;
}

/** Metrics of one split. */
export interface SplitMetrics {
  acc: number;
  mAP: number;
  macroF1: number;
  /** Accuracy of each modality's uni-modal prediction inside the model. */
  branchAcc: Record<string, number>;
  /** Mean cross-entropy of the fused prediction (always set by {@link evaluate}). */
  loss?: number;
  /** Mean cross-entropy of each modality's uni-modal prediction (always set by {@link evaluate}). */
  branchLoss?: Record<string, number>;
}

/** One line of metrics.jsonl. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  /** Mean of the optimized objective (the method's loss) over the epoch's samples. */
  trainLoss: number;
  /** Mean cross-entropy of the fused logits over the epoch's training samples. */
  trainFusedLoss: number;
  /** Mean cross-entropy of each modality's uni-modal logits over the epoch's training samples. */
  trainBranchLoss: Record<string, number>;
  trainAcc: number;
  val: SplitMetrics;
  test: SplitMetrics;
  /** Mean smoothed significance u per modality (paper-mode estimator, logged for every method). */
  meanU: Record<string, number>;
  /** u_1 / u_2: the imbalance degree of the first two modalities. */
  imbalance: number;
  /** Mean update ratio per modality: AMSS's own for the AMSS family, else what Eq. 4 would give. */
  meanRho: Record<string, number>;
  rhoSource: "method" | "logged";
  /** Largest AMSS+ mask weight applied in the epoch (0 when not masking). */
  maxMaskWeight: number;
  msPerStep: number;
  steps: number;
  /** Training samples dropped this epoch because they failed to decode (datasets read from disk). */
  skippedSamples: number;
  /**
   * What the method reports: epoch means of its per-step `info.methodStats` numbers (e.g. AGM's
   * coefficients) and what its `onEpochEnd` hook returned (e.g. MSES's stopped modalities).
   * Absent for methods that report nothing.
   */
  methodLog?: Record<string, unknown>;
}

/** summary.json. */
export interface RunSummary {
  method: string;
  label: string;
  seed: number;
  epochs: number;
  bestEpoch: number;
  /** Test metrics of the validation-selected epoch. */
  test: SplitMetrics;
  val: SplitMetrics;
  meanRho: Record<string, number>;
  msPerStep: number;
  history: EpochRecord[];
  stoppedEarly: boolean;
}

/** Raised when the loss or a gradient becomes NaN/Inf; the last good checkpoint is kept. */
export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingDivergedError";
  }
}

function crossEntropy(logits: tf.Tensor2D, labels: Int32Array, C: number): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(
    tf.oneHot(tf.tensor1d(labels, "int32"), C),
    logits,
  ) as tf.Scalar;
}

/** Evaluates the model on a split (inference mode). */
export async function evaluate(
  model: TrainableModel,
  params: Record<string, tf.Variable>,
  state: Record<string, tf.Variable>,
  data: AnySplit,
  ds: Dataset,
  batchSize: number,
  reader?: SampleReader,
): Promise<SplitMetrics> {
  const C = model.numClasses;
  const K = model.modalities.length;
  const probs = new Float32Array(data.n * C);
  const uni = Array.from({ length: K }, () => new Float32Array(data.n * C));
  let fusedCE = 0;
  let off = 0;
  // evaluation must see every sample: a sample that fails to decode is an error here
  for await (const b of batchStream(data, ds.modalities, batchSize, { reader, strict: true })) {
    const [p, f, ...u] = tf.tidy(() => {
      const out = model.forward(params, state, b.inputs, { training: false });
      return [tf.softmax(out.logits), out.logits, ...out.unimodal];
    });
    probs.set(await p.data(), off * C);
    fusedCE += sumCrossEntropy(await f.data(), b.labels, C);
    for (let k = 0; k < K; k++) uni[k].set(await u[k].data(), off * C);
    tf.dispose([p, f, ...u]);
    off += b.labels.length;
    disposeBatch(b);
  }
  return {
    acc: accuracy(probs, data.labels, C),
    mAP: meanAveragePrecision(probs, data.labels, C),
    macroF1: macroF1(probs, data.labels, C),
    branchAcc: Object.fromEntries(
      model.modalities.map((m, k) => [m, accuracy(uni[k], data.labels, C)]),
    ),
    loss: fusedCE / data.n,
    branchLoss: Object.fromEntries(
      model.modalities.map((m, k) => [m, sumCrossEntropy(uni[k], data.labels, C) / data.n]),
    ),
  };
}

function buildOptimizer(cfg: OptimizerConfig, stepsPerEpoch: number): GradientTransformation {
  const lr = cfg.milestones?.length
    ? stepDecay(cfg.lr, cfg.milestones, cfg.gamma ?? 0.1, stepsPerEpoch)
    : cfg.lr;
  if (cfg.kind === "sgd") {
    return sgd({ lr, momentum: cfg.momentum ?? 0.9, weightDecay: cfg.weightDecay ?? 1e-4 });
  }
  if (cfg.kind === "adam") return adam({ lr, weightDecay: cfg.weightDecay ?? 0 });
  // AdaGrad (Fig. 3): torch.optim.Adagrad defaults, weight decay as configured (default 1e-4)
  if (cfg.kind === "adagrad") return adagrad({ lr, weightDecay: cfg.weightDecay ?? 1e-4 });
  throw new AmssArgumentError(
    `optimizer.kind must be "sgd", "adam" or "adagrad", got ${JSON.stringify(cfg.kind)}`,
  );
}

class Progress {
  #mode: "tty" | "plain" | "none";
  #last = 0;
  constructor(mode: TrainConfig["progress"]) {
    this.#mode = mode === "auto" || mode === undefined
      ? (Deno.stdout.isTerminal() ? "tty" : "plain")
      : mode;
  }
  step(text: string, frac: number): void {
    if (this.#mode === "tty") {
      Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${text}`));
    } else if (this.#mode === "plain" && (frac - this.#last >= 0.25 || frac < this.#last)) {
      this.#last = frac;
      console.log(text);
    }
  }
  line(text: string): void {
    if (this.#mode === "none") return;
    if (this.#mode === "tty") Deno.stdout.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    console.log(text);
  }
}

const fmtMap = (r: Record<string, number>) =>
  Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" ");
const fmtLog = (r: Record<string, unknown>): string =>
  Object.entries(r).map(([k, v]): string =>
    `${k} ${
      typeof v === "number"
        ? v.toFixed(3)
        : Array.isArray(v)
        ? `[${v.join(",")}]`
        : v && typeof v === "object"
        ? fmtLog(v as Record<string, unknown>)
        : String(v)
    }`
  ).join(" ");

/**
 * The concat fusion's head kernel and the row range of each modality's features in it (Table 7's
 * classifier masks); undefined for other fusions.
 */
export function concatClassifier(
  model: TrainableModel,
  params: Record<string, tf.Variable>,
): { name: string; rows: Record<string, [number, number]> } | undefined {
  const m = model as TrainableModel & {
    fusion?: { kind?: string };
    encoders?: readonly { dim: number }[];
  };
  const kernel = params["fusion/head/kernel"];
  if (m.fusion?.kind !== "concat" || !m.encoders || !kernel) return undefined;
  const rows: Record<string, [number, number]> = {};
  let at = 0;
  model.modalities.forEach((name, k) => {
    rows[name] = [at, at + m.encoders![k].dim];
    at += m.encoders![k].dim;
  });
  return at === kernel.shape[0] ? { name: "fusion/head/kernel", rows } : undefined;
}

/** Trains one run and returns its summary. */
export async function train(cfg: TrainConfig): Promise<RunSummary> {
  const { model, dataset: ds } = cfg;
  requireInt("epochs", cfg.epochs, 1);
  requireInt("batchSize", cfg.batchSize, 1);
  if (JSON.stringify(model.modalities) !== JSON.stringify(ds.modalities.map((m) => m.name))) {
    throw new AmssArgumentError(
      `model modalities [${model.modalities}] differ from dataset modalities [${
        ds.modalities.map((m) => m.name)
      }]`,
    );
  }
  if (model.numClasses !== ds.classes.length) {
    throw new AmssArgumentError(
      `model has ${model.numClasses} classes, dataset ${ds.classes.length}`,
    );
  }
  const C = model.numClasses;
  const stepsPerEpoch = Math.ceil(ds.train.n / cfg.batchSize);
  const { params, state: bn } = model.init(cfg.seed);
  const pretrained = cfg.pretrained?.length ? await loadPretrained(params, cfg.pretrained) : [];
  const method = createMethod(cfg.method, cfg.methodOptions ?? {}, {
    modalities: model.modalities,
    params,
    rules: (u) => model.unitRules(u),
    seed: cfg.seed,
    numClasses: C,
    classifier: concatClassifier(model, params),
  });
  const optimizer = buildOptimizer(cfg.optimizer, stepsPerEpoch);
  const parts = method.transform
    ? (cfg.order === "mask-updates" ? [optimizer, method.transform] : [method.transform, optimizer])
    : [optimizer];
  const opt = chain(...parts);
  const run = {
    epoch: 0,
    step: 0,
    params,
    bn,
    opt: opt.init(params),
    logSig: { u: null, steps: 0 } as PaperSignificanceState,
    history: [] as EpochRecord[],
    // the method's own state (prototypes, blending weights, stop flags): restored in place on resume
    method: method.state ?? {},
  };
  const progress = new Progress(cfg.progress);
  for (const r of pretrained) {
    progress.line(
      `pretrained ${r.modality}: ${r.loaded.length} variables from ${r.path}` +
        (r.missing.length ? `; ${r.missing.length} kept their initialisation` : "") +
        (r.unused.length ? `; ${r.unused.length} weights unused` : ""),
    );
  }
  const out = cfg.outDir;
  if (out) {
    await Deno.mkdir(out, { recursive: true });
    if (cfg.resume && await hasCheckpoint(out, "checkpoint")) {
      await loadCheckpoint(out, "checkpoint", run);
      progress.line(`resumed ${out} after epoch ${run.epoch} (step ${run.step})`);
    } else {
      await writeJsonAtomic(`${out}/config.json`, {
        method: cfg.method,
        label: method.label,
        methodOptions: cfg.methodOptions ?? {},
        optimizer: cfg.optimizer,
        order: cfg.order ?? "mask-gradients",
        epochs: cfg.epochs,
        batchSize: cfg.batchSize,
        seed: cfg.seed,
        dataset: {
          name: ds.name,
          classes: ds.classes,
          modalities: ds.modalities,
          n: [ds.train.n, ds.val.n, ds.test.n],
          valSource: ds.valSource,
        },
        model: model.describe?.() ?? {},
        backend: tf.getBackend(),
        encoders: Object.fromEntries(model.modalities.map((m) => {
          const r = pretrained.find((p) => p.modality === m);
          return [
            m,
            r
              ? { pretrained: r.path, loaded: r.loaded.length, missing: r.missing }
              : "from scratch",
          ];
        })),
        ...cfg.meta,
      });
    }
  }
  const logTau = cfg.logTau ?? 0.25;
  const lrAt = (s: number) =>
    cfg.optimizer.milestones?.length
      ? stepDecay(
        cfg.optimizer.lr,
        cfg.optimizer.milestones,
        cfg.optimizer.gamma ?? 0.1,
        stepsPerEpoch,
      )(s)
      : cfg.optimizer.lr;
  let stoppedEarly = false;
  const evalBs = cfg.evalBatchSize ?? Math.max(cfg.batchSize, 128);
  const K = model.modalities.length;

  /** An inference-mode pass over the training split for the method's epoch hook. */
  const trainFeatures = async (
    epoch: number,
    visit: FeatureVisitor,
    opts: { fraction?: number } = {},
  ) => {
    const fraction = opts.fraction ?? 1;
    if (!(fraction > 0 && fraction <= 1)) {
      throw new AmssArgumentError(`trainFeatures: fraction must be in (0, 1], got ${fraction}`);
    }
    const batches = Math.ceil(ds.train.n / evalBs);
    const limit = fraction === 1 ? batches : Math.max(1, Math.floor(fraction * batches));
    let seenBatches = 0;
    for await (
      const b of batchStream(ds.train, ds.modalities, evalBs, {
        // a subset is the first batches of an order seeded by (seed, epoch), as the data order
        rng: fraction === 1 ? undefined : new Rng(cfg.seed * 7919 + epoch + 0x51ed27),
        reader: cfg.reader,
        strict: cfg.strictData,
      })
    ) {
      const feats = tf.tidy(() =>
        model.forward(params, bn, b.inputs, { training: false }).features
      );
      try {
        await visit(feats, b.labels);
      } finally {
        tf.dispose(feats);
        disposeBatch(b);
      }
      if (++seenBatches >= limit) break;
    }
  };

  try {
    for (let epoch = run.epoch + 1; epoch <= cfg.epochs; epoch++) {
      await method.onEpochStart?.({
        epoch,
        trainFeatures: (visit, opts) => trainFeatures(epoch, visit, opts),
      });
      const rng = new Rng(cfg.seed * 7919 + epoch); // data order: a function of (seed, epoch)
      let lossSum = 0, hit = 0, seen = 0, msSum = 0, steps = 0, maxW = 0;
      const uSum = new Float64Array(model.modalities.length);
      const rhoSum = new Float64Array(model.modalities.length);
      let fusedCESum = 0;
      const branchCESum = new Float64Array(K);
      const statSum: Record<string, number> = {};
      const statCount: Record<string, number> = {};
      let rhoFromMethod = false;
      const t0Epoch = performance.now();
      let skipped = 0;
      const stream = batchStream(ds.train, ds.modalities, cfg.batchSize, {
        rng,
        augmentSeed: cfg.seed * 1_000_003 + epoch, // augmentation: a function of (seed, epoch, sample)
        reader: cfg.reader,
        strict: cfg.strictData,
        onSkip: (i, reason) => {
          skipped++;
          progress.line(`skipped training sample ${i}: ${reason}`);
        },
      });
      for await (const b of stream) {
        const t0 = performance.now();
        run.step++;
        let kept: tf.Tensor[] = [];
        const { value, grads: all } = variableGradsByName(params, () => {
          const o = model.forward(params, bn, b.inputs, { training: true });
          kept = [...o.unimodal, ...o.features, o.logits].map((t) => tf.keep(t));
          if (method.loss) {
            const oneHot = tf.oneHot(tf.tensor1d(b.labels, "int32"), C).asType("float32");
            return method.loss(o, oneHot as tf.Tensor2D, {
              epoch,
              step: run.step,
              numClasses: C,
              labels: b.labels,
            });
          }
          return crossEntropy(
            method.lossOn === "fused" ? o.logits : o.unimodal[method.lossOn],
            b.labels,
            C,
          );
        });
        // variables the loss does not reach (another modality's encoder under `unimodal`) get no
        // gradient and are left alone
        const grads = Object.fromEntries(Object.entries(all).filter(([, g]) => g !== undefined));
        const loss = (await value.data())[0];
        const mb = await modalBatchFromOutputs(
          {
            unimodal: kept.slice(0, K) as tf.Tensor2D[],
            features: kept.slice(K, 2 * K) as tf.Tensor2D[],
          },
          b.labels,
          C,
        );
        const logits = await kept[2 * K].data();
        tf.dispose(kept);
        value.dispose();
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(grads));
          disposeBatch(b);
          throw new TrainingDivergedError(
            `loss is ${loss} at epoch ${epoch}, step ${run.step}; the last good checkpoint (epoch ${run.epoch}) is kept${
              out ? ` in ${out}` : ""
            }`,
          );
        }
        let info: Record<string, unknown>;
        try {
          info = await step(params, grads, opt, run.opt, run.step, {
            batch: mb,
            fused: logits,
            epoch,
          });
        } catch (e) {
          tf.dispose(Object.values(grads));
          disposeBatch(b);
          if (e instanceof AmssArgumentError && /non-finite gradient/.test(e.message)) {
            throw new TrainingDivergedError(
              `${e.message}; the last good checkpoint (epoch ${run.epoch}) is kept`,
            );
          }
          throw e;
        }
        tf.dispose(Object.values(grads));
        // logged significance (paper mode, Eqs. 2-4) for every method: the imbalance degree
        const sig = paperSignificance(mb, run.logSig, { tau: logTau, entropyFloor: ENTROPY_FLOOR });
        run.logSig = sig.state;
        const a = info.amss as AmssInfo | undefined;
        model.modalities.forEach((m, k) => {
          uSum[k] += sig.result.smoothed[k];
          rhoSum[k] += a ? a.ratios[m] : sig.result.ratios[k];
        });
        if (a) {
          rhoFromMethod = true;
          maxW = Math.max(maxW, a.maxWeight);
        }
        // per-head training cross-entropy (G-Blending's train losses; logged for every method)
        fusedCESum += sumCrossEntropy(logits, b.labels, C);
        for (let k = 0; k < K; k++) {
          branchCESum[k] += sumCrossEntropy(mb.predictions[k], b.labels, C);
        }
        const stats = info.methodStats as Record<string, number> | undefined;
        for (const [key, v] of Object.entries(stats ?? {})) {
          statSum[key] = (statSum[key] ?? 0) + v;
          statCount[key] = (statCount[key] ?? 0) + 1;
        }
        lossSum += loss * b.labels.length;
        for (let i = 0; i < b.labels.length; i++) {
          let best = 0;
          for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
          if (best === b.labels[i]) hit++;
        }
        seen += b.labels.length;
        steps++;
        disposeBatch(b);
        msSum += performance.now() - t0;
        const eta = ((performance.now() - t0Epoch) / steps) *
          (stepsPerEpoch - steps + (cfg.epochs - epoch) * stepsPerEpoch);
        progress.step(
          `epoch ${epoch}/${cfg.epochs} step ${steps}/${stepsPerEpoch} loss ${
            (lossSum / seen).toFixed(4)
          } acc ${(hit / seen).toFixed(3)} rho ${
            model.modalities.map((m, k) => `${m} ${(rhoSum[k] / steps).toFixed(3)}`).join(" ")
          } eta ${(eta / 1000).toFixed(0)}s`,
          steps / stepsPerEpoch,
        );
      }
      if (steps === 0) {
        throw new AmssArgumentError(
          `epoch ${epoch}: no training sample could be read (${skipped} skipped); see the lines above`,
        );
      }
      const val = await evaluate(model, params, bn, ds.val, ds, evalBs, cfg.reader);
      const test = await evaluate(model, params, bn, ds.test, ds, evalBs, cfg.reader);
      const meanU = Object.fromEntries(model.modalities.map((m, k) => [m, uSum[k] / steps]));
      const trainBranchLoss = Object.fromEntries(
        model.modalities.map((m, k) => [m, branchCESum[k] / seen]),
      );
      const ended = await method.onEpochEnd?.({
        epoch,
        trainLoss: lossSum / seen,
        trainFusedLoss: fusedCESum / seen,
        trainBranchLoss,
        val,
      });
      const methodLog: Record<string, unknown> = {
        ...Object.fromEntries(Object.keys(statSum).map((k) => [k, statSum[k] / statCount[k]])),
        ...(ended ?? {}),
      };
      const rec: EpochRecord = {
        epoch,
        lr: lrAt(run.step),
        trainLoss: lossSum / seen,
        trainFusedLoss: fusedCESum / seen,
        trainBranchLoss,
        trainAcc: hit / seen,
        val,
        test,
        meanU,
        imbalance: uSum[0] / uSum[1],
        meanRho: Object.fromEntries(model.modalities.map((m, k) => [m, rhoSum[k] / steps])),
        rhoSource: rhoFromMethod ? "method" : "logged",
        maxMaskWeight: maxW,
        msPerStep: msSum / steps,
        steps,
        skippedSamples: skipped,
        // only when the method reports something (records of other methods stay as they were)
        ...(Object.keys(methodLog).length ? { methodLog } : {}),
      };
      run.history.push(rec);
      run.epoch = epoch;
      progress.line(
        `epoch ${epoch}/${cfg.epochs} ${method.label}: loss ${rec.trainLoss.toFixed(4)} train ${
          rec.trainAcc.toFixed(3)
        } | val ${val.acc.toFixed(3)} test ${test.acc.toFixed(3)} mAP ${test.mAP.toFixed(3)} F1 ${
          test.macroF1.toFixed(3)
        } | branches ${fmtMap(test.branchAcc)} | rho ${fmtMap(rec.meanRho)} | ${
          rec.msPerStep.toFixed(1)
        } ms/step${rec.methodLog ? ` | ${fmtLog(rec.methodLog)}` : ""}`,
      );
      if (out) {
        await writeFileAtomic(
          `${out}/metrics.jsonl`,
          run.history.map((r) => JSON.stringify(r)).join("\n") + "\n",
        );
        await saveCheckpoint(out, "checkpoint", `e${epoch}`, run);
      }
      if (cfg.stopAfterEpoch !== undefined && epoch >= cfg.stopAfterEpoch && epoch < cfg.epochs) {
        stoppedEarly = true;
        break;
      }
    }
    const best = run.history.reduce((b, r) => (r.val.acc > b.val.acc ? r : b), run.history[0]);
    const summary: RunSummary = {
      method: cfg.method,
      label: method.label,
      seed: cfg.seed,
      epochs: run.epoch,
      bestEpoch: best.epoch,
      test: best.test,
      val: best.val,
      meanRho: Object.fromEntries(
        model.modalities.map((
          m,
        ) => [m, run.history.reduce((s, r) => s + r.meanRho[m], 0) / run.history.length]),
      ),
      msPerStep: run.history.reduce((s, r) => s + r.msPerStep * r.steps, 0) /
        run.history.reduce((s, r) => s + r.steps, 0),
      history: run.history,
      stoppedEarly,
    };
    if (out && !stoppedEarly) await writeJsonAtomic(`${out}/summary.json`, summary);
    return summary;
  } catch (e) {
    if (e instanceof TrainingDivergedError && out) {
      // the run folder says what happened; the last good checkpoint stays next to it
      await writeJsonAtomic(`${out}/diverged.json`, {
        method: cfg.method,
        label: method.label,
        seed: cfg.seed,
        message: e.message,
        lastGoodEpoch: run.epoch,
        history: run.history,
      });
    }
    throw e;
  } finally {
    // params, batch-norm state and optimizer state die with the run, also when it fails
    disposeState(run.opt);
    tf.dispose([...Object.values(params), ...Object.values(bn)]);
  }
}
