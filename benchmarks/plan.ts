/**
 * From parsed flags to a typed plan: the dataset (loaded once), the model, the optimizer and the
 * grid of runs (method x seed x tau, or a suite's runs), each with its folder and the settings that
 * determine its numbers. Sweep axes apply only to the methods that read them: with
 * `--tau 0.2,0.5`, AMSS runs once per tau and joint once (it logs rho with the first tau).
 *
 * Errors: a flag that does not fit the dataset or the methods is a {@link UsageError} (exit 2); a
 * dataset that cannot be read is an `AmssArgumentError` naming the file (exit 1).
 *
 * @module
 */
import { type Dataset, flattenModality, limitSplit } from "../src/data/dataset.ts";
import { type DiskDatasetName, loadDiskDataset } from "../src/data/disk_datasets.ts";
import { type SampleReader, WorkerPool } from "../src/data/loaders.ts";
import { loadMnist2View } from "../src/data/mnist_2view.ts";
import { loadNpyDataset } from "../src/data/npy.ts";
import { DEFAULT_SYNTHETIC, generateSynthetic } from "../src/data/synthetic.ts";
import type { ModelSpec } from "../src/models/build.ts";
import type { FusionKind } from "../src/models/fusion.ts";
import {
  METHOD_NAMES,
  type MethodName,
  type MethodOptions,
  SIGNIFICANCE_DEFAULTS,
} from "../src/train/methods.ts";
import { OPTIMIZER_DEFAULTS, type OptimizerConfig } from "../src/train/types.ts";
import { type BenchArgs, CONFIG_DATASETS, EMBEDDED_DATASETS } from "./args.ts";
import { UsageError } from "./cli.ts";
import {
  type DatasetConfig,
  modelFromConfig,
  modelFromNpyConfig,
  type NpyConfig,
  readConfig,
  readNpyConfig,
} from "./config.ts";
import { optionsFor, parseMethodOptions } from "./method_options.ts";
import { type Suite, type SuiteContext, SUITES } from "./suites.ts";

/** The default `--methods` of the embedded dataset. */
export const DEFAULT_METHODS = "unimodal,joint,ogm-ge,amss,amss+:reference,amss+:horvitz-thompson";

/** The methods whose training reads tau, lambda, the significance mode, units and defensive. */
const AMSS_FAMILY: readonly MethodName[] = ["amss", "amss+", "random-mask"];

/** The dataset the bench trains on, with what was needed to read it. */
export interface LoadedData {
  ds: Dataset;
  config: DatasetConfig | null;
  /** `--config` of `--dataset npy`. */
  npyConfig?: NpyConfig | null;
  /** Decode workers of datasets read from disk (closed by the caller). */
  pool: WorkerPool | null;
  reader?: SampleReader;
}

/** One run of the grid. */
export interface RunSpec {
  /** Folder name under the run folder (method tag, or a suite's run tag; `-tauX` on tau sweeps). */
  tag: string;
  method: MethodName;
  options: MethodOptions;
  seed: number;
  /** tau of the run's significance (the AMSS family) or of its logged rho (every method). */
  tau: number;
  model: ModelSpec;
  optimizer: OptimizerConfig;
  /** Where the method's transformation sits in the chain (the bench's `--order`, or a suite's). */
  order: Order;
  /** `<out>/<tag>/seed-<seed>`. */
  dir: string;
}

/** The gradient chain's order: mask the gradients before the optimizer, or its updates after. */
export type Order = "mask-gradients" | "mask-updates";

/** Everything an invocation of the bench will do. */
export interface Plan {
  out: string;
  shard: [number, number];
  /** The whole grid (every shard's runs), in grid order. */
  runs: RunSpec[];
  /** This shard's runs. */
  mine: RunSpec[];
  epochs: number;
  batchSize: number;
  /** The base optimizer (suites may override it per run). */
  optimizer: OptimizerConfig;
  /** The base order (suites may override it per run). */
  order: Order;
  /** The base model (suites may change the fusion per run). */
  model: ModelSpec;
  pretrained: { modality: string; path: string }[];
  suite: { name: string; context: SuiteContext } | null;
  datasetName: string;
}

/** Reads `--config` (or the dataset's own) for the real datasets; a missing file is a usage error. */
async function datasetConfig(args: BenchArgs): Promise<DatasetConfig | null> {
  if (!(CONFIG_DATASETS as readonly string[]).includes(args.dataset)) return null;
  const path = args.config ??
    new URL(`./configs/${args.dataset}.json`, import.meta.url).pathname;
  return await readConfig(await existingConfig(path), args.smoke);
}

/** `path` when it exists; else a usage error naming it. */
async function existingConfig(path: string): Promise<string> {
  try {
    await Deno.stat(path);
  } catch {
    throw new UsageError(`--config ${path}: file not found`, "a dataset config JSON file");
  }
  return path;
}

/** The encoders of the embedded and npy datasets: MLP for the embedded ones, ResNet for npy. */
function modelKindOf(args: BenchArgs): "mlp" | "resnet" {
  return args.model ??
    ((EMBEDDED_DATASETS as readonly string[]).includes(args.dataset) ? "mlp" : "resnet");
}

/** Loads (or generates) the dataset of `args`; data errors name the file. */
export async function loadData(args: BenchArgs): Promise<LoadedData> {
  const config = await datasetConfig(args);
  // npy and the embedded datasets take a config of encoders, optimizer, schedule (config.ts)
  const npyConfig = args.config && !(CONFIG_DATASETS as readonly string[]).includes(args.dataset)
    ? await readNpyConfig(await existingConfig(args.config), args.dataset)
    : null;
  let ds: Dataset;
  let pool: WorkerPool | null = null;
  if (args.dataset === "synthetic") {
    ds = generateSynthetic(
      args.quick
        ? { ...DEFAULT_SYNTHETIC, nTrain: 1200, nVal: 300, nTest: 600 }
        : DEFAULT_SYNTHETIC,
    );
  } else if (args.dataset === "mnist-2view") {
    const full = await loadMnist2View();
    // --quick: the first 2,000 / 500 / 1,000 samples (classes are interleaved in each split)
    ds = args.quick
      ? {
        ...full,
        train: limitSplit(full.train, 2000, full.modalities),
        val: limitSplit(full.val, 500, full.modalities),
        test: limitSplit(full.test, 1000, full.modalities),
      }
      : full;
  } else if (args.dataset === "npy") {
    ds = await loadNpyDataset(args.data!, {
      normalise: args.normalise ?? npyConfig?.normalise,
      valFraction: npyConfig?.valFraction,
    });
  } else {
    ds = await loadDiskDataset(args.dataset as DiskDatasetName, args.data!, {
      ...config!.loader,
      ...(args.vocab ? { vocab: args.vocab } : {}),
      log: (l: string) => console.log(l),
    });
    const workers = args.workers ?? Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1);
    if (workers > 0) pool = new WorkerPool(workers);
  }
  const limit = args.limit ?? config?.limit;
  if (limit !== undefined) {
    ds = {
      ...ds,
      train: limitSplit(ds.train, limit, ds.modalities),
      val: limitSplit(ds.val, limit, ds.modalities),
      test: limitSplit(ds.test, limit, ds.modalities),
    };
  }
  const allMlp = modelKindOf(args) === "mlp";
  for (const m of ds.modalities) {
    // an MLP reads an image flattened: the one a config gives an MLP, else all of them under
    // --model mlp (the embedded datasets' default)
    const kind = npyConfig?.encoders?.[m.name]?.kind;
    if (m.kind === "image" && (kind === "mlp" || (kind === undefined && allMlp))) {
      ds = flattenModality(ds, m.name);
    }
  }
  return { ds, config, npyConfig, pool, reader: pool ?? undefined };
}

/**
 * The model the bench trains on the synthetic and npy datasets, by input rank: MLP encoders for
 * vectors (with `--model mlp`, the default for the embedded dataset, also for flattened small
 * images), ResNet18 with widths 8-16-32-64 for images, a one-layer Transformer for sequences;
 * concat fusion (the paper's Concat baseline).
 */
export function modelFor(ds: Dataset): ModelSpec {
  return {
    modalities: ds.modalities.map((m) =>
      m.kind === "vector"
        ? {
          name: m.name,
          kind: "mlp" as const,
          input: m.shape,
          options: { hidden: m.shape[0] > 64 ? [64, 32] : [32, 32] },
        }
        : m.kind === "sequence"
        ? {
          name: m.name,
          kind: "transformer" as const,
          input: m.shape,
          options: { dModel: 32, heads: 4, layers: 1 },
        }
        : {
          name: m.name,
          kind: "resnet18" as const,
          input: m.shape,
          options: { widths: [8, 16, 32, 64] },
        }
    ),
    fusion: "concat",
    numClasses: ds.classes.length,
  };
}

/** One `--methods` entry, expanded (unimodal without a modality: one entry per modality). */
export interface MethodEntry {
  method: MethodName;
  options: MethodOptions;
  tag: string;
}

/** Expands a `--methods` list; unknown methods and variants are usage errors. */
export function expandMethods(list: string, modalities: readonly string[]): MethodEntry[] {
  const out: MethodEntry[] = [];
  const items = list.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) {
    throw new UsageError(
      `--methods ${JSON.stringify(list)} has an empty entry`,
      `a comma list of ${METHOD_NAMES.join(", ")}`,
    );
  }
  for (const item of items) {
    const [name, variant, extra] = item.split(":");
    if (!(METHOD_NAMES as readonly string[]).includes(name) || extra !== undefined) {
      throw new UsageError(
        `unknown method ${JSON.stringify(item)}`,
        `one of ${METHOD_NAMES.join(", ")}`,
      );
    }
    const method = name as MethodName;
    if (method === "unimodal") {
      for (const m of variant ? [variant] : modalities) {
        if (!modalities.includes(m)) {
          throw new UsageError(
            `unimodal:${m}: no modality ${JSON.stringify(m)}`,
            `the dataset's modalities are ${modalities.join(", ")}`,
          );
        }
        out.push({ method, options: { modality: m }, tag: `unimodal-${m}` });
      }
    } else if (method === "amss+" || method === "random-mask") {
      const scales = ["paper", "reference", "horvitz-thompson", "none"];
      const scale = variant ?? "reference";
      if (!scales.includes(scale)) {
        throw new UsageError(
          `${item}: unknown scale ${JSON.stringify(scale)}`,
          `one of ${scales.join(", ")}`,
        );
      }
      out.push({
        method,
        options: { scale: scale as MethodOptions["scale"] },
        tag: `${method}-${scale}`,
      });
    } else {
      if (variant !== undefined) {
        throw new UsageError(`${item}: method ${method} has no variants`, `write ${method}`);
      }
      out.push({ method, options: {}, tag: method });
    }
  }
  const tags = out.map((e) => e.tag);
  const dup = tags.find((t, i) => tags.indexOf(t) !== i);
  if (dup) throw new UsageError(`--methods lists ${dup} twice`, "each method once");
  return out;
}

function parsePretrained(list: string | undefined, modalities: readonly string[]) {
  if (list === undefined) return [];
  return list.split(",").map((kv) => {
    const i = kv.indexOf("=");
    if (i <= 0 || i === kv.length - 1) {
      throw new UsageError(
        `--pretrained ${JSON.stringify(kv)}`,
        "MODALITY=PATH pairs, comma separated",
      );
    }
    const modality = kv.slice(0, i);
    if (!modalities.includes(modality)) {
      throw new UsageError(
        `--pretrained ${modality}: no such modality`,
        `the dataset's modalities are ${modalities.join(", ")}`,
      );
    }
    return { modality, path: kv.slice(i + 1) };
  });
}

/** The default run folder: `runs/bench-<UTC date and time>`. */
export function defaultOut(now = new Date()): string {
  return `runs/bench-${now.toISOString().replace(/[:.]/g, "-").slice(0, 19)}`;
}

/** The grid of runs and the settings of an invocation; throws {@link UsageError}. */
export function makePlan(args: BenchArgs, data: LoadedData): Plan {
  const { ds, config } = data;
  const user = data.npyConfig ?? null;
  const modalities = ds.modalities.map((m) => m.name);
  const quick = args.quick;
  const suite: Suite | null = args.suite ? SUITES[args.suite] : null;
  const nSeeds = suite?.defaultSeeds ?? (quick ? 1 : 3);
  const seeds = args.seeds ?? Array.from({ length: nSeeds }, (_, i) => i + 1);
  const taus = args.taus ?? [config?.tau ?? user?.tau ?? SIGNIFICANCE_DEFAULTS.tau];
  const epochs = args.epochs ?? config?.epochs ?? user?.epochs ?? (quick ? 6 : 15);
  const batchSize = args.batchSize ?? config?.batchSize ?? user?.batchSize ?? 32;
  const optimizer: OptimizerConfig = config
    ? { ...config.optimizer, lr: args.lr ?? config.optimizer.lr }
    : {
      kind: "sgd",
      momentum: OPTIMIZER_DEFAULTS.momentum,
      weightDecay: OPTIMIZER_DEFAULTS.weightDecay,
      ...user?.optimizer,
      lr: args.lr ?? user?.optimizer?.lr ?? 0.01,
    };
  const modelKind = modelKindOf(args);
  const units = args.units ?? config?.units ?? user?.units ??
    (modelKind === "mlp" ? "neuron" : "paper");
  const baseModel = config
    ? modelFromConfig(ds, config)
    : user
    ? modelFromNpyConfig(ds, modelFor(ds), user)
    : modelFor(ds);
  const suiteCtx: SuiteContext = {
    dataset: args.dataset,
    modalities,
    quick,
    paperRows: config?.paper?.rows,
    allResNet: baseModel.modalities.every((m) => m.kind === "resnet18"),
  };

  // one entry per distinct run (method, options, tau, fusion, optimizer), then x seeds
  type Entry = {
    tag: string;
    method: MethodName;
    options: MethodOptions;
    tau: number;
    fusion?: FusionKind;
    optimizer?: Partial<OptimizerConfig>;
    order?: Order;
  };
  const entries: Entry[] = [];
  if (suite) {
    for (const r of suite.runs(suiteCtx)) {
      for (const m of expandMethods(r.method, modalities)) {
        entries.push({
          tag: r.tag,
          method: m.method,
          options: { ...m.options, ...r.options },
          tau: r.tau ?? taus[0],
          fusion: r.fusion,
          optimizer: r.optimizer,
          order: r.order,
        });
      }
    }
  } else {
    const methods = expandMethods(
      args.methods ?? config?.methods ?? user?.methods ?? DEFAULT_METHODS,
      modalities,
    );
    for (const m of methods) {
      // tau is a sweep axis of the methods whose training reads it; the others run once and log
      // rho (Eq. 4) with the first tau
      const sweep = AMSS_FAMILY.includes(m.method) && taus.length > 1;
      for (const tau of sweep ? taus : [taus[0]]) {
        entries.push({
          tag: sweep ? `${m.tag}-tau${tau}` : m.tag,
          method: m.method,
          options: m.options,
          tau,
        });
      }
    }
  }
  const selected = entries.map((e) => e.method);
  const needs = (flag: string, methods: readonly MethodName[], what: string) => {
    if (args.given.has(flag) && !selected.some((m) => methods.includes(m))) {
      throw new UsageError(
        `--${flag} applies to ${what}, none of which is selected`,
        `selected methods: ${[...new Set(selected)].join(", ")}`,
      );
    }
  };
  for (const flag of ["lambda", "significance", "units", "defensive"]) {
    needs(flag, AMSS_FAMILY, AMSS_FAMILY.join(", "));
  }
  needs(
    "order",
    METHOD_NAMES.filter((m) => m !== "joint" && m !== "unimodal"),
    "methods with a gradient transformation (not joint or unimodal)",
  );
  const extra = args.methodOptions !== undefined
    ? parseMethodOptions(args.methodOptions, selected, modalities)
    : {};
  const pretrained = parsePretrained(args.pretrained, modalities);
  const out = args.out ?? defaultOut();
  const runs: RunSpec[] = [];
  for (const e of entries) {
    const fusion = e.fusion ?? args.fusion;
    for (const seed of seeds) {
      runs.push({
        tag: e.tag,
        method: e.method,
        // the AMSS family's flags go to the methods that read them, so that a run's options (and
        // its fingerprint) hold only what determines its numbers
        options: {
          ...(AMSS_FAMILY.includes(e.method)
            ? {
              tau: e.tau,
              lambda: args.lambda ?? 0.9,
              significance: args.significance ?? "paper",
              units,
              defensive: args.defensive ?? 0,
            }
            : {}),
          ...optionsFor(e.method, extra),
          ...e.options,
        },
        seed,
        tau: e.tau,
        model: fusion ? { ...baseModel, fusion } : baseModel,
        optimizer: { ...optimizer, ...e.optimizer },
        order: e.order ?? args.order ?? "mask-gradients",
        dir: `${out}/${e.tag}/seed-${seed}`,
      });
    }
  }
  if (runs.length === 0) throw new UsageError("the grid is empty", "at least one method and seed");
  const [shardI, shardN] = args.shard ?? [0, 1];
  return {
    out,
    shard: [shardI, shardN],
    runs,
    mine: runs.filter((_, i) => i % shardN === shardI),
    epochs,
    batchSize,
    optimizer,
    order: args.order ?? "mask-gradients",
    model: baseModel,
    pretrained,
    suite: suite ? { name: suite.name, context: suiteCtx } : null,
    datasetName: args.dataset,
  };
}
