/**
 * One trainer for every rebalancing method: no per-method branches, the method plugs in through
 * its hooks and its gradient transformation.
 *
 * Per step: forward (all parameters) -> cross-entropy on the fused logits (or one modality's, for
 * `unimodal`; or the method's own loss hook, e.g. PMR, G-Blending) -> gradients -> the method's
 * transformation -> the optimizer (SGD with momentum and weight decay, or Adam; Appendix C.1) ->
 * apply. A method that asks for the paper's importance (`Method.fisher`, AMSS with importance
 * "fisher", Sec. 3.2.2) gets one more forward/backward pass per step on the same batch and weights
 * (./fisher.ts), whose per-element Fisher reaches its transformation in `extras.fisher`.
 * Per epoch: the method's `onEpochStart` hook (e.g. PMR's prototypes), training, evaluation
 * on val and test (accuracy, mAP, macro F1, fused cross-entropy and each modality's branch accuracy
 * and cross-entropy inside the joint model), the method's `onEpochEnd` hook (e.g. MSES,
 * G-Blending), a metrics line, a checkpoint (the method's state included). Model selection uses
 * validation accuracy only; the summary reports the test metrics of the validation-selected epoch
 * (the first epoch with the highest validation accuracy) and, beside them, the final epoch's
 * metrics and whether the run collapsed ({@link collapseOf}).
 *
 * Batches: training passes go through the data in a seeded order, `batchSize` samples a step. When
 * `batchSize > 1`, `n > 1` and `n % batchSize === 1` (n training samples), the lone last sample
 * is merged into the batch before it, which then has `batchSize + 1` samples: training-mode batch
 * norm cannot normalise a batch of one sample (one value per channel). The epoch then has
 * `floor(n / batchSize)` steps (what the step-decay schedule and the ETA count) and its record says
 * `mergedSamples: 1`. For datasets read from disk, a training batch left with one readable sample
 * after decode failures is dropped and its sample counted in `skippedSamples`. Evaluation runs in
 * inference mode and keeps its batches as they are. Nothing changes for other sizes.
 *
 * Bad data and divergence:
 * - An empty train, val or test split is refused before anything runs.
 * - A training sample that fails to decode is skipped and counted (`skippedSamples`); so is an
 *   evaluation sample, whose metrics are then over the samples read (`SplitMetrics.skipped`); a
 *   split none of whose samples can be read is an error. `strictData` makes any failure an error.
 * - The run diverges ({@link TrainingDivergedError}, recorded in `diverged.json` with the epochs
 *   done) when the training loss, a gradient, a uni-modal prediction, a feature or the fused
 *   logits of a step is NaN or infinite, or when an evaluation loss or score is.
 *
 * Run folder (`outDir`): `config.json`, `metrics.jsonl` (one line per epoch), `summary.json`,
 * `checkpoint.json` + `checkpoint-e<epoch>.bin` (resume state, every epoch), `best.json` +
 * `best-e<epoch>.bin` (parameters and batch-norm state of the validation-selected epoch so far,
 * written whenever an epoch's validation accuracy beats every earlier epoch's); every file is
 * written atomically. With `resume`, a run continues from its last checkpoint and ends with the
 * same metrics and the same best checkpoint as an uninterrupted run with the same seed on the same
 * backend (every random stream is in the checkpoint or derived from (seed, epoch, step)).
 *
 * Its parts live beside it: the configuration and record types (./types.ts), the collapse verdict
 * (./collapse.ts), the evaluation of a split (./evaluate.ts), the learning rate schedule and the
 * optimizer (./optimizer.ts) and the progress output (./progress.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { AmssInfo, SignificanceConfig } from "../amss/amss_config.ts";
import {
  DEFAULT_LAMBDA,
  type ModalBatch,
  paperSignificance,
  type PaperSignificanceState,
} from "../amss/significance.ts";
import {
  type AnySplit,
  type Batch,
  batchRanges,
  disposeBatch,
  mergesSingleton,
} from "../data/dataset.ts";
import { batchStream } from "../data/loaders.ts";
import { firstNonFinite } from "../data/npy.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { Rng, runSeeds } from "../rng.ts";
import {
  chain,
  disposeState,
  type GradientTransformation,
  type Params,
  type Schedule,
  step,
  type StepInfo,
} from "../transform.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";
import { modalBatchFromOutputs, variableGradsByName } from "../models/model.ts";
import { loadPretrained, type PretrainedReport } from "../models/pretrained.ts";
import {
  createMethod,
  ENTROPY_FLOOR,
  type FeatureVisitor,
  type Method,
  SIGNIFICANCE_DEFAULTS,
  sumCrossEntropy,
} from "../rebalance/registry.ts";
import { collapseOf, type CollapseRule, completeRule } from "./collapse.ts";
import { evaluate, type EvaluateOptions, nonFiniteMetrics } from "./evaluate.ts";
import { uniModalFisher } from "./fisher.ts";
import { buildOptimizer, learningRate } from "./optimizer.ts";
import { fmtLog, fmtMap, Progress } from "./progress.ts";
import type { TrainableModel } from "./trainable.ts";
import type { EpochRecord, RunSummary, SplitMetrics, TrainConfig } from "./types.ts";

/** Raised when training diverges (NaN/Inf; module comment); the last good checkpoint is kept. */
export class TrainingDivergedError extends Error {
  /** An error whose `message` says what went non-finite, and where. */
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

/**
 * Describes the first NaN or infinite value among a step's uni-modal predictions, features and
 * fused logits (e.g. `the uni-modal prediction of "audio": value 3 of 64 is NaN`); null when all
 * are finite.
 */
function nonFiniteOutputs(
  mb: ModalBatch,
  fused: ArrayLike<number>,
  modalities: readonly string[],
): string | null {
  const look = (what: string, a: ArrayLike<number>) => {
    const i = firstNonFinite(a);
    return i < 0 ? null : `${what}: value ${i} of ${a.length} is ${a[i]}`;
  };
  for (let k = 0; k < modalities.length; k++) {
    const name = JSON.stringify(modalities[k]);
    const bad = look(`the uni-modal prediction of ${name}`, mb.predictions[k]) ??
      (mb.features?.[k] ? look(`the features of ${name}`, mb.features[k].data) : null);
    if (bad) return bad;
  }
  return look("the fused logits", fused);
}

/** Checks what a run is given against itself (before any work); returns the collapse rule. */
function checkConfig(cfg: TrainConfig): CollapseRule {
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
  for (const s of ["train", "val", "test"] as const) {
    if (!(ds[s].n >= 1)) {
      throw new AmssArgumentError(
        `dataset ${ds.name}: the ${s} split is empty (n = ${ds[s].n}); expected at least 1 sample`,
      );
    }
  }
  return completeRule(cfg.collapse ?? {});
}

/** What a run checkpoints (restored in place on resume). */
interface RunState {
  epoch: number;
  step: number;
  params: Params;
  bn: Record<string, tf.Variable>;
  opt: unknown;
  logSig: PaperSignificanceState;
  history: EpochRecord[];
  /** The method's own state (prototypes, blending weights, stop flags). */
  method: Record<string, unknown>;
}

/** A run while it trains: its configuration, what is built once, and its state. */
interface Run {
  cfg: TrainConfig;
  method: Method;
  /** The method's transformation and the optimizer, chained in the configured order. */
  opt: GradientTransformation;
  /** The learning rate schedule (the optimizer's, built once). */
  schedule: Schedule;
  state: RunState;
  progress: Progress;
  stepsPerEpoch: number;
  evalBatchSize: number;
  /** tau of the significance logged for every method. */
  logTau: number;
  /** The method's transformation runs the logged significance ({@link isLoggedSignificance}). */
  sharesSignificance: boolean;
  /** What a divergence message says about the checkpoint: only what is really there. */
  checkpointNote(): Promise<string>;
}

/** Writes the run folder's config.json (a fresh run). */
async function writeRunConfig(
  out: string,
  cfg: TrainConfig,
  method: Method,
  pretrained: readonly PretrainedReport[],
): Promise<void> {
  const { model, dataset: ds } = cfg;
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
        r ? { pretrained: r.path, loaded: r.loaded.length, missing: r.missing } : "from scratch",
      ];
    })),
    ...cfg.meta,
  });
}

/** An inference-mode pass over the training split for the method's epoch hook. */
async function trainFeatures(
  r: Run,
  epoch: number,
  visit: FeatureVisitor,
  opts: { fraction?: number } = {},
): Promise<void> {
  const { cfg, state } = r;
  const { model, dataset: ds } = cfg;
  const fraction = opts.fraction ?? 1;
  if (!(fraction > 0 && fraction <= 1)) {
    throw new AmssArgumentError(`trainFeatures: fraction must be in (0, 1], got ${fraction}`);
  }
  const batches = Math.ceil(ds.train.n / r.evalBatchSize);
  const limit = fraction === 1 ? batches : Math.max(1, Math.floor(fraction * batches));
  let seenBatches = 0;
  for await (
    const b of batchStream(ds.train, ds.modalities, r.evalBatchSize, {
      // a subset is the first batches of an order seeded by (seed, epoch), as the data order
      rng: fraction === 1 ? undefined : new Rng(runSeeds.featureSubset(cfg.seed, epoch)),
      reader: cfg.reader,
      strict: cfg.strictData,
    })
  ) {
    const feats = tf.tidy(() =>
      model.forward(state.params, state.bn, b.inputs, { training: false }).features
    );
    try {
      await visit(feats, b.labels);
    } finally {
      tf.dispose(feats);
      disposeBatch(b);
    }
    if (++seenBatches >= limit) break;
  }
}

/** Sums over one epoch's training steps. */
class EpochTotals {
  lossSum = 0;
  hit = 0;
  seen = 0;
  msSum = 0;
  steps = 0;
  maxW = 0;
  skipped = 0;
  fusedCESum = 0;
  rhoFromMethod = false;
  readonly uSum: Float64Array;
  readonly rhoSum: Float64Array;
  readonly branchCESum: Float64Array;
  readonly statSum: Record<string, number> = {};
  readonly statCount: Record<string, number> = {};
  constructor(K: number) {
    this.uSum = new Float64Array(K);
    this.rhoSum = new Float64Array(K);
    this.branchCESum = new Float64Array(K);
  }
}

/** The per-step figures the trainer reads from what the method's transformation reported. */
interface StepReport {
  /** AMSS-family report (ratios, largest mask weight). */
  amss?: AmssInfo;
  /** Per-step statistics a method reports for the epoch's `methodLog` (averaged). */
  methodStats?: Record<string, number>;
}

/** Reads the typed figures of a step's info. */
function stepReport(info: StepInfo): StepReport {
  return {
    amss: info.amss,
    methodStats: info.methodStats as Record<string, number> | undefined,
  };
}

/**
 * Whether `sig` (a method's own significance estimator) is the one the trainer logs for every
 * method: paper mode (Eqs. 2-4) at the logged tau, with the default lambda, initialisation,
 * feature entropy and {@link ENTROPY_FLOOR}. Both then start from the same state and see the same
 * batches, so the method's per-step result is the logged one.
 */
export function isLoggedSignificance(sig: SignificanceConfig | undefined, logTau: number): boolean {
  return sig?.mode === "paper" && sig.tau === logTau &&
    (sig.lambda ?? DEFAULT_LAMBDA) === DEFAULT_LAMBDA && (sig.init ?? "first") === "first" &&
    (sig.entropy ?? "features") === "features" && (sig.entropyFloor ?? 0) === ENTROPY_FLOOR;
}

/**
 * The step's logged significance (paper mode, Eqs. 2-4, for every method: the imbalance degree),
 * advancing `state.logSig`. Taken from what the method's AMSS transformation computed when it ran
 * the logged estimator ({@link isLoggedSignificance}); computed here otherwise (methods without
 * significance, the reference estimator, another tau or lambda, fixed ratios).
 */
export function loggedSignificance(
  r: { state: { logSig: PaperSignificanceState }; logTau: number; sharesSignificance: boolean },
  mb: ModalBatch,
  amssInfo: AmssInfo | undefined,
): { smoothed: Float64Array; ratios: Float64Array } {
  const own = amssInfo?.significance;
  if (r.sharesSignificance && own?.mode === "paper") {
    r.state.logSig = { u: Array.from(own.smoothed), steps: r.state.logSig.steps + 1 };
    return own;
  }
  const sig = paperSignificance(mb, r.state.logSig, { tau: r.logTau, entropyFloor: ENTROPY_FLOOR });
  r.state.logSig = sig.state;
  return sig.result;
}

/** One training step on batch `b`: forward/backward, the method and optimizer, the logged sums. */
async function trainStep(r: Run, b: Batch, epoch: number, t: EpochTotals): Promise<void> {
  const { cfg, method, state } = r;
  const { model } = cfg;
  const { params, bn } = state;
  const C = model.numClasses;
  const K = model.modalities.length;
  state.step++;
  let kept: tf.Tensor[] = [];
  const { value, grads: all } = variableGradsByName(params, () => {
    const o = model.forward(params, bn, b.inputs, { training: true });
    kept = [...o.unimodal, ...o.features, o.logits].map((x) => tf.keep(x));
    if (method.loss) {
      const oneHot = tf.oneHot(tf.tensor1d(b.labels, "int32"), C).asType("float32");
      return method.loss(o, oneHot as tf.Tensor2D, {
        epoch,
        step: state.step,
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
  // NaN/Inf in the loss, or in what the method's transformation reads (the uni-modal
  // predictions and features AMSS's significance takes, the fused logits): the run diverged
  const bad = !Number.isFinite(loss)
    ? `loss is ${loss}`
    : nonFiniteOutputs(mb, logits, model.modalities);
  if (bad) {
    tf.dispose(Object.values(grads));
    disposeBatch(b);
    throw new TrainingDivergedError(
      `${bad} at epoch ${epoch}, step ${state.step}; ${await r.checkpointNote()}`,
    );
  }
  let report: StepReport;
  // importance "fisher" (Sec. 3.2.2): per-sample squared gradients of the uni-modal
  // log-likelihood, from one more forward/backward pass on the same batch and weights
  let fisher: Record<string, tf.Tensor> | undefined;
  try {
    if (method.fisher) {
      fisher = uniModalFisher(model, params, bn, b.inputs, b.labels, method.fisher);
    }
    report = stepReport(
      await step(params, grads, r.opt, state.opt, state.step, {
        batch: mb,
        fused: logits,
        epoch,
        ...(fisher ? { fisher } : {}),
      }),
    );
  } catch (e) {
    tf.dispose(Object.values(grads));
    if (fisher) tf.dispose(Object.values(fisher));
    disposeBatch(b);
    if (e instanceof AmssArgumentError && /non-finite gradient/.test(e.message)) {
      throw new TrainingDivergedError(
        `${e.message} (epoch ${epoch}); ${await r.checkpointNote()}`,
      );
    }
    throw e;
  }
  tf.dispose(Object.values(grads));
  if (fisher) tf.dispose(Object.values(fisher));
  const a = report.amss;
  const sig = loggedSignificance(r, mb, a);
  model.modalities.forEach((m, k) => {
    t.uSum[k] += sig.smoothed[k];
    t.rhoSum[k] += a ? a.ratios[m] : sig.ratios[k];
  });
  if (a) {
    t.rhoFromMethod = true;
    t.maxW = Math.max(t.maxW, a.maxWeight);
  }
  // per-head training cross-entropy (G-Blending's train losses; logged for every method)
  t.fusedCESum += sumCrossEntropy(logits, b.labels, C);
  for (let k = 0; k < K; k++) {
    t.branchCESum[k] += sumCrossEntropy(mb.predictions[k], b.labels, C);
  }
  for (const [key, v] of Object.entries(report.methodStats ?? {})) {
    t.statSum[key] = (t.statSum[key] ?? 0) + v;
    t.statCount[key] = (t.statCount[key] ?? 0) + 1;
  }
  t.lossSum += loss * b.labels.length;
  for (let i = 0; i < b.labels.length; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    if (best === b.labels[i]) t.hit++;
  }
  t.seen += b.labels.length;
  t.steps++;
  disposeBatch(b);
}

/** One epoch's training pass; returns its sums. */
async function trainEpoch(r: Run, epoch: number): Promise<EpochTotals> {
  const { cfg, progress, stepsPerEpoch } = r;
  const { model, dataset: ds } = cfg;
  const t = new EpochTotals(model.modalities.length);
  const t0Epoch = performance.now();
  const stream = batchStream(ds.train, ds.modalities, cfg.batchSize, {
    rng: new Rng(runSeeds.dataOrder(cfg.seed, epoch)), // data order: a function of (seed, epoch)
    augmentSeed: runSeeds.augmentation(cfg.seed, epoch), // a function of (seed, epoch, sample)
    reader: cfg.reader,
    strict: cfg.strictData,
    mergeSingleton: TRAIN_BATCHES.mergeSingleton,
    onSkip: (i, reason) => {
      t.skipped++;
      progress.line(`skipped training sample ${i}: ${reason}`);
    },
  });
  for await (const b of stream) {
    const t0 = performance.now();
    await trainStep(r, b, epoch, t);
    t.msSum += performance.now() - t0;
    const eta = ((performance.now() - t0Epoch) / t.steps) *
      (stepsPerEpoch - t.steps + (cfg.epochs - epoch) * stepsPerEpoch);
    progress.step(
      `epoch ${epoch}/${cfg.epochs} step ${t.steps}/${stepsPerEpoch} loss ${
        (t.lossSum / t.seen).toFixed(4)
      } acc ${(t.hit / t.seen).toFixed(3)} rho ${
        model.modalities.map((m, k) => `${m} ${(t.rhoSum[k] / t.steps).toFixed(3)}`).join(" ")
      } eta ${(eta / 1000).toFixed(0)}s`,
      t.steps / stepsPerEpoch,
    );
  }
  if (t.steps === 0) {
    throw new AmssArgumentError(
      `epoch ${epoch}: no training sample could be read (${t.skipped} skipped); see the lines above`,
    );
  }
  return t;
}

/** Validation and test metrics after an epoch; a non-finite figure is a divergence. */
async function evaluateEpoch(
  r: Run,
  epoch: number,
): Promise<{ val: SplitMetrics; test: SplitMetrics }> {
  const { cfg, progress, state } = r;
  const { model, dataset: ds } = cfg;
  const evalOpts = (split: string): EvaluateOptions => ({
    split: `${ds.name} ${split}`,
    strict: cfg.strictData,
    onSkip: (i, reason) => progress.line(`skipped ${split} sample ${i}: ${reason}`),
  });
  const on = (split: AnySplit, name: string) =>
    evaluate(model, state.params, state.bn, split, ds, r.evalBatchSize, cfg.reader, evalOpts(name));
  const val = await on(ds.val, "val");
  const test = await on(ds.test, "test");
  for (const [split, m] of [["val", val], ["test", test]] as const) {
    const bad = nonFiniteMetrics(m);
    if (bad.length) {
      throw new TrainingDivergedError(
        `${split} evaluation after epoch ${epoch} is not finite (${bad.join(", ")}); ${await r
          .checkpointNote()}`,
      );
    }
  }
  return { val, test };
}

/** The progress line of a finished epoch. */
function epochLine(r: Run, rec: EpochRecord): string {
  const { val, test } = rec;
  return `epoch ${rec.epoch}/${r.cfg.epochs} ${r.method.label}: loss ${
    rec.trainLoss.toFixed(4)
  } train ${rec.trainAcc.toFixed(3)} | val ${val.acc.toFixed(3)} test ${test.acc.toFixed(3)} mAP ${
    test.mAP.toFixed(3)
  } F1 ${test.macroF1.toFixed(3)} | branches ${fmtMap(test.branchAcc)} | rho ${
    fmtMap(rec.meanRho)
  } | ${rec.msPerStep.toFixed(1)} ms/step${rec.methodLog ? ` | ${fmtLog(rec.methodLog)}` : ""}${
    val.skipped || test.skipped
      ? ` | skipped evaluation samples: val ${val.skipped}, test ${test.skipped}`
      : ""
  }`;
}

/** One epoch: the method's start hook, training, evaluation, the end hook; returns its record. */
async function runEpoch(r: Run, epoch: number, mergedSamples: number): Promise<EpochRecord> {
  const { cfg, method, state } = r;
  const { modalities } = cfg.model;
  await method.onEpochStart?.({
    epoch,
    trainFeatures: (visit, opts) => trainFeatures(r, epoch, visit, opts),
  });
  const t = await trainEpoch(r, epoch);
  const { val, test } = await evaluateEpoch(r, epoch);
  const { seen, steps, uSum } = t;
  const meanU = Object.fromEntries(modalities.map((m, k) => [m, uSum[k] / steps]));
  const trainBranchLoss = Object.fromEntries(
    modalities.map((m, k) => [m, t.branchCESum[k] / seen]),
  );
  const ended = await method.onEpochEnd?.({
    epoch,
    trainLoss: t.lossSum / seen,
    trainFusedLoss: t.fusedCESum / seen,
    trainBranchLoss,
    val,
  });
  const methodLog: Record<string, unknown> = {
    ...Object.fromEntries(Object.keys(t.statSum).map((k) => [k, t.statSum[k] / t.statCount[k]])),
    ...(ended ?? {}),
  };
  return {
    epoch,
    lr: typeof r.schedule === "number" ? r.schedule : r.schedule(state.step),
    trainLoss: t.lossSum / seen,
    trainFusedLoss: t.fusedCESum / seen,
    trainBranchLoss,
    trainAcc: t.hit / seen,
    val,
    test,
    meanU,
    imbalance: uSum[0] / uSum[1],
    imbalanceDegree: Math.max(...uSum) / Math.min(...uSum),
    meanRho: Object.fromEntries(modalities.map((m, k) => [m, t.rhoSum[k] / steps])),
    rhoSource: t.rhoFromMethod ? "method" : "logged",
    maxMaskWeight: t.maxW,
    msPerStep: t.msSum / steps,
    steps,
    skippedSamples: t.skipped,
    mergedSamples,
    // only when the method reports something (records of other methods stay as they were)
    ...(Object.keys(methodLog).length ? { methodLog } : {}),
  };
}

/** Writes an epoch into the run folder: metrics.jsonl, the best weights, the resume checkpoint. */
async function saveEpoch(out: string, state: RunState, rec: EpochRecord): Promise<void> {
  await writeFileAtomic(
    `${out}/metrics.jsonl`,
    state.history.map((h) => JSON.stringify(h)).join("\n") + "\n",
  );
  // the selected epoch's weights (the summary's first-maximum rule), written before the
  // resume checkpoint: a run killed in between redoes this epoch and writes the same file
  if (state.history.every((h) => h === rec || rec.val.acc > h.val.acc)) {
    await saveCheckpoint(out, "best", `e${rec.epoch}`, {
      epoch: rec.epoch,
      valAcc: rec.val.acc,
      params: state.params,
      bn: state.bn,
    });
  }
  await saveCheckpoint(out, "checkpoint", `e${rec.epoch}`, state);
}

/** The run's summary: the selected (first best-validation) epoch, the last one, the verdict. */
function summarise(r: Run, stoppedEarly: boolean, rule: CollapseRule): RunSummary {
  const { cfg, method, state: { history } } = r;
  const best = history.reduce((b, h) => (h.val.acc > b.val.acc ? h : b), history[0]);
  const last = history[history.length - 1];
  const verdict = collapseOf(history, best.epoch, rule);
  return {
    method: cfg.method,
    label: method.label,
    seed: cfg.seed,
    epochs: r.state.epoch,
    bestEpoch: best.epoch,
    test: best.test,
    val: best.val,
    meanRho: Object.fromEntries(
      cfg.model.modalities.map((
        m,
      ) => [m, history.reduce((s, h) => s + h.meanRho[m], 0) / history.length]),
    ),
    msPerStep: history.reduce((s, h) => s + h.msPerStep * h.steps, 0) /
      history.reduce((s, h) => s + h.steps, 0),
    history,
    stoppedEarly,
    final: { epoch: last.epoch, test: last.test, val: last.val, trainLoss: last.trainLoss },
    minTrainLoss: verdict.minTrainLoss,
    collapsed: verdict.collapsed,
    collapseReason: verdict.reason,
    collapseRule: verdict.rule,
  };
}

/** Training batches: a lone last sample joins the batch before it (module comment). */
const TRAIN_BATCHES = { mergeSingleton: true };

/** Trains one run and returns its summary. */
export async function train(cfg: TrainConfig): Promise<RunSummary> {
  const { model, dataset: ds } = cfg;
  const collapseRule = checkConfig(cfg); // before any work
  const stepsPerEpoch = batchRanges(ds.train.n, cfg.batchSize, TRAIN_BATCHES).length;
  const mergedSamples = mergesSingleton(ds.train.n, cfg.batchSize, TRAIN_BATCHES) ? 1 : 0;
  const { params, state: bn } = model.init(cfg.seed);
  const pretrained = cfg.pretrained?.length ? await loadPretrained(params, cfg.pretrained) : [];
  const method = createMethod(cfg.method, cfg.methodOptions ?? {}, {
    modalities: model.modalities,
    params,
    rules: (u) => model.unitRules(u),
    seed: cfg.seed,
    numClasses: model.numClasses,
    classifier: concatClassifier(model, params),
  });
  const schedule = learningRate(cfg.optimizer, stepsPerEpoch);
  const optimizer = buildOptimizer(cfg.optimizer, schedule);
  const parts = method.transform
    ? (cfg.order === "mask-updates" ? [optimizer, method.transform] : [method.transform, optimizer])
    : [optimizer];
  const opt = chain(...parts);
  const state: RunState = {
    epoch: 0,
    step: 0,
    params,
    bn,
    opt: opt.init(params),
    logSig: { u: null, steps: 0 },
    history: [],
    // the method's own state (prototypes, blending weights, stop flags): restored in place on resume
    method: method.state ?? {},
  };
  const out = cfg.outDir;
  /** Whether the resume checkpoint of the last completed epoch is on disk. */
  const checkpointKept = async () =>
    out !== undefined && state.epoch > 0 && await hasCheckpoint(out, "checkpoint");
  const logTau = cfg.logTau ?? SIGNIFICANCE_DEFAULTS.tau;
  const r: Run = {
    cfg,
    method,
    opt,
    schedule,
    state,
    progress: new Progress(cfg.progress),
    stepsPerEpoch,
    evalBatchSize: cfg.evalBatchSize ?? Math.max(cfg.batchSize, 128),
    logTau,
    sharesSignificance: isLoggedSignificance(method.significance, logTau),
    checkpointNote: async () =>
      await checkpointKept()
        ? `the last good checkpoint (epoch ${state.epoch}) is kept in ${out}`
        : out
        ? `no checkpoint was written yet (no epoch completed in ${out})`
        : "no checkpoint is written (no outDir)",
  };
  for (const p of pretrained) {
    r.progress.line(
      `pretrained ${p.modality}: ${p.loaded.length} variables from ${p.path}` +
        (p.missing.length ? `; ${p.missing.length} kept their initialisation` : "") +
        (p.unused.length ? `; ${p.unused.length} weights unused` : ""),
    );
  }
  if (out) {
    await Deno.mkdir(out, { recursive: true });
    if (cfg.resume && await hasCheckpoint(out, "checkpoint")) {
      await loadCheckpoint(out, "checkpoint", state);
      r.progress.line(`resumed ${out} after epoch ${state.epoch} (step ${state.step})`);
    } else {
      await writeRunConfig(out, cfg, method, pretrained);
    }
  }
  let stoppedEarly = false;
  try {
    for (let epoch = state.epoch + 1; epoch <= cfg.epochs; epoch++) {
      const rec = await runEpoch(r, epoch, mergedSamples);
      state.history.push(rec);
      state.epoch = epoch;
      r.progress.line(epochLine(r, rec));
      if (out) await saveEpoch(out, state, rec);
      await cfg.onEpoch?.(rec);
      const stopAt = cfg.stopAfterEpoch !== undefined && epoch >= cfg.stopAfterEpoch;
      if ((stopAt || cfg.signal?.aborted) && epoch < cfg.epochs) {
        stoppedEarly = true;
        break;
      }
    }
    const summary = summarise(r, stoppedEarly, collapseRule);
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
        lastGoodEpoch: state.epoch,
        checkpointKept: await checkpointKept(),
        history: state.history,
      });
    }
    throw e;
  } finally {
    // params, batch-norm state and optimizer state die with the run, also when it fails
    disposeState(state.opt);
    tf.dispose([...Object.values(params), ...Object.values(bn)]);
  }
}
