/**
 * `deno task bench`: end-to-end training of the rebalancing methods with the paper's metrics.
 *
 *   deno task bench [options]            train the grid (methods x seeds x tau), print the table,
 *                                        write the run folder and its report
 *   deno task bench report DIR...        merge run folders (e.g. shards) into one table and report
 *   deno task bench engine               the AMSS engine micro-benchmark (benchmarks/amss_step.ts)
 *   deno task bench speed                ms/step of a narrow ResNet18 vs PyTorch, and AMSS overhead
 *
 * Run `deno task bench --help` for the options.
 */
import { type BackendInfo, initBackend } from "../src/backend/select.ts";
import { type DatasetConfig, modelFromConfig, readConfig } from "./config.ts";
import { setEarlyRho, type Suite, type SuiteContext, SUITES } from "./suites.ts";
import { type Dataset, flattenModality, limitSplit } from "../src/data/dataset.ts";
import { DISK_DATASETS, loadDiskDataset } from "../src/data/datasets.ts";
import { measurePipeline, type SampleReader, WorkerPool } from "../src/data/loaders.ts";
import { loadNpyDataset } from "../src/data/npy.ts";
import { DEFAULT_SYNTHETIC, generateSynthetic } from "../src/data/synthetic.ts";
import { writeFileAtomic, writeJsonAtomic } from "../src/io/atomic.ts";
import { buildModel, type ModelSpec } from "../src/models/build.ts";
import {
  aggregate,
  attachPaper,
  type DivergedRun,
  historyPlots,
  markdownTable,
  type PaperFigures,
  textTable,
} from "../src/report/runs.ts";
import { METHOD_NAMES, type MethodName, type MethodOptions } from "../src/train/methods.ts";
import {
  type OptimizerConfig,
  type RunSummary,
  train,
  TrainingDivergedError,
} from "../src/train/trainer.ts";

const HELP = `deno task bench [options]
  --quick               a short run (1 seed, fewer epochs and samples): under 2 minutes on 2 cores
  --dataset NAME        synthetic (default, embedded, offline) | npy (generic layout, needs --data)
                        | cremad | kinetics-sounds | sarcasm | twitter15 | nvgesture (need --data;
                        settings from benchmarks/configs/<name>.json: the paper's Appendix C)
  --data DIR            dataset folder (layouts: README "Real datasets")
  --config FILE         a dataset config (default benchmarks/configs/<dataset>.json)
  --smoke               apply the config's "smoke" block (tiny inputs and model, 1 epoch): checks
                        that a dataset runs end to end, e.g. on fixtures/data/<name>
  --limit N             keep only the first N samples of each split
  --workers N           decode workers for datasets read from disk (default: cores - 1, at least 1;
                        0 decodes on the main thread)
  --vocab FILE          sarcasm/twitter15: bert-base-uncased vocab.txt (default DATA/vocab.txt)
  --pretrained LIST     encoder weights to start from, e.g. text=/w/bert/model.json,image=...
                        (tfjs weights format; names as this library's encoders, with or without
                        the modality prefix); without it every encoder trains from scratch
  --methods LIST        comma list of: ${METHOD_NAMES.join(", ")}; a variant after a colon, e.g.
                        amss+:horvitz-thompson, amss+:paper, amss+:reference (default scale),
                        unimodal:audio (unimodal alone = one run per modality)
                        default: unimodal,joint,ogm-ge,amss,amss+:reference,amss+:horvitz-thompson
  --seeds LIST|N        seeds, e.g. 1,2,3 or 3 (= 1,2,3); default 3 (quick: 1)
  --epochs N            default 15 (quick: 6)
  --batch-size N        default 32
  --lr X                SGD learning rate, default 0.01 (Appendix C.1; momentum 0.9, weight decay 1e-4)
  --tau LIST            tau values of Eq. 4 (a sweep axis), default 0.25
  --lambda X            momentum of Eq. 3, default 0.9
  --model KIND          mlp (default for the embedded dataset: small images flattened) | resnet
  --units RULE          AMSS mask units: neuron (default with --model mlp: a dense layer's output
                        neuron, like a conv channel) | paper (App. C.2: elements for dense layers)
                        | reference (only ResNet layer1-4 3x3 convs)
  --defensive EPS       AMSS+ defensive mixture: sample with (1-eps) p + eps/C_l (default 0)
  --method-options JSON extra method options for every run, e.g. '{"pmr":{"mu":0.05}}',
                        '{"mses":{"patience":3}}', '{"alpha":0.3}' (ogm-ge),
                        '{"scales":{"audio":0.5}}' (mslr / global-scale); the fields are
                        MethodOptions in src/train/methods.ts, each method's choices documented
                        in its module header
  --significance MODE   paper (default) | reference
  --order ORDER         mask-gradients (authors' code, default) | mask-updates (Eq. 1)
  --backend NAME        auto (default) | wasm | cpu | webgpu | tensorflow
  --out DIR             run folder, default runs/bench-<date>
  --progress MODE       auto (live line on a terminal, periodic lines otherwise) | plain | none
  --resume DIR          continue an interrupted sweep in DIR (same as --out DIR: finished runs are
                        skipped, interrupted ones resume from their last epoch checkpoint)
  --shard i/n           run only grid items with index % n == i (i from 0), for job arrays
  --suite NAME          one of the paper's experiments instead of --methods: table1 (global
                        scaling vs uniform masking grid), table2 (all methods), table5 (fusions x
                        AMSS/AMSS+), table6 (sampling ablation + gain-matched control), table7
                        (masks on classifier / backbone / both), table8
                        (tau sweep, rho over the first 10 epochs), optimizers (Fig. 3); prints the
                        paper's layout with its numbers beside ours
  --fusion KIND         fusion of the model: concat (default) | sum | weight | film | late | mmtm
                        | ml-lstm
  --help                this text
Subcommands: report DIR... (merge run folders), engine (AMSS step micro-benchmark),
speed (ms/step of a narrow ResNet18 on tfjs vs PyTorch, and AMSS/AMSS+ overhead over joint).`;

function fail(msg: string): never {
  console.error(`bench: ${msg}\n(deno task bench --help lists the options)`);
  Deno.exit(2);
}

function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) fail(`unexpected argument ${JSON.stringify(a)}`);
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) out[key] = true;
    else {
      out[key] = next;
      i++;
    }
  }
  return out;
}

interface GridItem {
  method: MethodName;
  options: MethodOptions;
  seed: number;
  tau: number;
  dir: string;
  /** Run tag (folder name): the method tag, or a suite's run tag. */
  tag: string;
  fusion?: string;
  optimizer?: Partial<OptimizerConfig>;
}

function expandMethods(
  list: string,
  modalities: string[],
): { method: MethodName; options: MethodOptions; tag: string }[] {
  const out: { method: MethodName; options: MethodOptions; tag: string }[] = [];
  for (const item of list.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, variant] = item.split(":");
    if (!(METHOD_NAMES as readonly string[]).includes(name)) {
      fail(`unknown method ${JSON.stringify(name)}`);
    }
    const method = name as MethodName;
    if (method === "unimodal") {
      const mods = variant ? [variant] : modalities;
      for (const m of mods) {
        if (!modalities.includes(m)) {
          fail(`unimodal:${m}: the dataset has modalities ${modalities.join(", ")}`);
        }
        out.push({ method, options: { modality: m }, tag: `unimodal-${m}` });
      }
    } else if (method === "amss+" || method === "random-mask") {
      const scale = (variant ?? "reference") as MethodOptions["scale"];
      if (!["paper", "reference", "horvitz-thompson", "none"].includes(scale as string)) {
        fail(`${item}: scale must be paper, reference or horvitz-thompson`);
      }
      out.push({ method, options: { scale }, tag: `${method}-${scale}` });
    } else {
      if (variant) fail(`${item}: method ${method} has no variants`);
      out.push({ method, options: {}, tag: method });
    }
  }
  return out;
}

/**
 * The model the bench trains, by input rank: MLP encoders for vectors (and, with `--model mlp`, the
 * default for the embedded dataset, for flattened small images), ResNet18 with widths 8-16-32-64 for
 * images, a one-layer Transformer for sequences; concat fusion (the paper's Concat baseline).
 */
function modelFor(ds: Dataset): ModelSpec {
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

/** Where the run happened: OS, CPU count and the backend (with its adapter on webgpu). */
function deviceInfo(backend: BackendInfo): Record<string, unknown> {
  return {
    os: `${Deno.build.os} ${Deno.build.arch}`,
    cpus: navigator.hardwareConcurrency,
    backend: backend.name,
    adapter: backend.adapter ?? null,
    threads: backend.threads ?? null,
    deno: Deno.version.deno,
  };
}

interface Summaries {
  runs: RunSummary[];
  diverged: DivergedRun[];
  /** Run tag of each run label (the run folder's parent name: joint, amss+-reference, ...). */
  tags: Map<string, string>;
  /** The paper's rows from the first bench.json that has a config with them. */
  paper: { source: string; rows: Record<string, PaperFigures> } | null;
  /** The suite the runs belong to (from bench.json), if any. */
  suite: { name: string; context: SuiteContext } | null;
}

async function readSummaries(dirs: string[]): Promise<Summaries> {
  const runs: RunSummary[] = [];
  const diverged: DivergedRun[] = [];
  const tags = new Map<string, string>();
  let paper: Summaries["paper"] = null;
  let suite: Summaries["suite"] = null;
  let benchSeen = false;
  const tagOf = (p: string) => p.split("/").slice(-3, -2)[0];
  const runTags: string[] = [];
  const divergedTags: string[] = [];
  async function walk(d: string) {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name === "bench.json" && !benchSeen) {
        benchSeen = true;
        const b = JSON.parse(await Deno.readTextFile(p));
        paper = b.config?.paper ?? null;
        suite = b.suite ?? null;
      } else if (e.name === "summary.json") {
        const s = JSON.parse(await Deno.readTextFile(p));
        if (s.history) {
          runs.push(s);
          runTags.push(tagOf(p));
        }
      } else if (e.name === "diverged.json") {
        const s = JSON.parse(await Deno.readTextFile(p));
        diverged.push({ label: s.label, seed: s.seed, message: s.message });
        divergedTags.push(tagOf(p));
      }
    }
  }
  for (const d of dirs) {
    try {
      await walk(d);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) fail(`run folder not found: ${d}`);
      throw e;
    }
  }
  // a label shared by runs of different tags (same method, another fusion, optimizer, tau or
  // fixed ratios) gets its tag appended, so that rows never merge different settings
  const tagsOfLabel = new Map<string, Set<string>>();
  [
    ...runs.map((r, i) => [r.label, runTags[i]]),
    ...diverged.map((d, i) => [d.label, divergedTags[i]]),
  ]
    .forEach(([l, t]) => tagsOfLabel.set(l, (tagsOfLabel.get(l) ?? new Set()).add(t)));
  const relabel = (label: string, tag: string) =>
    (tagsOfLabel.get(label)?.size ?? 0) > 1 ? `${label} [${tag}]` : label;
  runs.forEach((r, i) => {
    r.label = relabel(r.label, runTags[i]);
    tags.set(r.label, runTags[i]);
  });
  diverged.forEach((d, i) => {
    d.label = relabel(d.label, divergedTags[i]);
    tags.set(d.label, divergedTags[i]);
  });
  // table order: baselines first, then the rebalancing methods, AMSS family last
  const order = [
    "unimodal",
    "joint",
    "global-scale",
    "mses",
    "g-blending",
    "mslr",
    "ogm-ge",
    "greedy",
    "pmr",
    "agm",
    "random-mask",
    "amss",
    "amss+",
  ];
  const rank = (m: string, label: string) =>
    `${String(order.indexOf(m)).padStart(2, "0")} ${label}`;
  runs.sort((a, b) =>
    rank(a.method, a.label).localeCompare(rank(b.method, b.label)) || a.seed - b.seed
  );
  return { runs, diverged, tags, paper, suite };
}

async function writeReport(
  dir: string,
  { runs, diverged, tags, paper, suite }: Summaries,
  header: string,
): Promise<string> {
  let rows = aggregate(runs, diverged);
  // paper figures are keyed by method tag, without a tau suffix
  const paperKey = (label: string) => tags.get(label)?.replace(/-tau[0-9.]+$/, "");
  if (paper) rows = attachPaper(rows, paper.rows, paperKey);
  let suiteText = "";
  if (suite && SUITES[suite.name]) {
    const byTag = new Map(rows.map((r) => [tags.get(r.label) ?? r.label, r]));
    setEarlyRho((tag, epochs) => {
      const rs = runs.filter((r) => tags.get(r.label) === tag);
      if (!rs.length) return null;
      const mods = Object.keys(rs[0].meanRho);
      return Object.fromEntries(mods.map((m) => {
        const xs = rs.flatMap((r) => r.history.slice(0, epochs).map((h) => h.meanRho[m]));
        return [m, xs.reduce((a, b) => a + b, 0) / xs.length];
      }));
    });
    const s = SUITES[suite.name];
    suiteText = `## ${s.title}\n\n${s.table(byTag, suite.context)}`;
  }
  const plots = historyPlots(runs);
  for (const p of plots) await writeFileAtomic(`${dir}/${p.file}`, p.svg);
  const md = [
    `# Bench report`,
    "",
    header,
    "",
    ...(suiteText ? [suiteText, "", "## All runs", ""] : []),
    "Test metrics of the validation-selected epoch, mean ± sd over seeds; branch accuracy = the",
    "modality's uni-modal prediction inside the model (paper Sec. 3.2.1); mean rho: applied by the",
    "AMSS family, logged (what Eq. 4 would give) for the others.",
    ...(paper ? [`Paper columns: ${paper.source}.`] : []),
    "",
    markdownTable(rows),
    ...(diverged.length
      ? [
        "Diverged runs (loss or gradient NaN/Inf; the last good checkpoint is in the run folder):",
        "",
        ...diverged.map((d) => `- ${d.label}, seed ${d.seed}: ${d.message}`),
        "",
      ]
      : []),
    ...plots.map((p) => `![${p.title}](${p.file})`),
    "",
  ].join("\n");
  await writeFileAtomic(`${dir}/report.md`, md);
  await writeJsonAtomic(`${dir}/table.json`, rows);
  const text = textTable(rows);
  await writeFileAtomic(`${dir}/table.txt`, text + "\n");
  if (suiteText) await writeFileAtomic(`${dir}/suite.md`, suiteText);
  return suiteText ? `${text}\n\n${suiteText}` : text;
}

async function main(argv: string[]) {
  if (argv[0] === "engine") {
    await import("./amss_step.ts");
    return;
  }
  if (argv[0] === "speed") {
    await import("./step_speed.ts");
    return;
  }
  if (argv[0] === "report") {
    const dirs = argv.slice(1);
    if (dirs.length === 0) fail("report needs at least one run folder");
    const runs = await readSummaries(dirs);
    if (runs.runs.length + runs.diverged.length === 0) {
      fail(`no summary.json under ${dirs.join(", ")}`);
    }
    const text = await writeReport(dirs[0], runs, `Merged from: ${dirs.join(", ")}`);
    console.log(text);
    console.log(`\nreport: ${dirs[0]}/report.md`);
    return;
  }
  const a = parseArgs(argv);
  if (a.help) {
    console.log(HELP);
    return;
  }
  const quick = a.quick === true;
  const str = (k: string) => (typeof a[k] === "string" ? a[k] as string : undefined);
  const num = (k: string, d: number) => {
    const v = str(k);
    if (v === undefined) return d;
    const x = Number(v);
    if (!Number.isFinite(x)) fail(`--${k} must be a number, got ${JSON.stringify(v)}`);
    return x;
  };
  const backend = await initBackend((str("backend") ?? "auto") as "auto", { fallback: "auto" });
  console.log(
    `backend: ${backend.name}${backend.adapter ? ` (${backend.adapter})` : ""}${
      backend.notes.length ? `; ${backend.notes.join("; ")}` : ""
    }`,
  );

  const datasetName = str("dataset") ?? "synthetic";
  let ds: Dataset;
  let config: DatasetConfig | null = null;
  let reader: SampleReader | undefined;
  let pool: WorkerPool | null = null;
  if (datasetName === "synthetic") {
    ds = generateSynthetic(
      quick ? { ...DEFAULT_SYNTHETIC, nTrain: 1200, nVal: 300, nTest: 600 } : DEFAULT_SYNTHETIC,
    );
  } else if (datasetName === "npy") {
    const dir = str("data") ?? fail("--dataset npy needs --data DIR");
    ds = await loadNpyDataset(dir);
  } else if ((DISK_DATASETS as readonly string[]).includes(datasetName)) {
    const dir = str("data") ?? fail(`--dataset ${datasetName} needs --data DIR`);
    config = await readConfig(
      str("config") ?? new URL(`./configs/${datasetName}.json`, import.meta.url).pathname,
      a.smoke === true,
    );
    ds = await loadDiskDataset(datasetName, dir, {
      ...config.loader,
      ...(str("vocab") ? { vocab: str("vocab") } : {}),
      log: (l: string) => console.log(l),
    });
    const workers = num("workers", Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1));
    if (workers > 0) {
      pool = new WorkerPool(workers);
      reader = pool;
    }
  } else {
    fail(
      `--dataset must be synthetic, npy or one of ${DISK_DATASETS.join(", ")}, got ${datasetName}`,
    );
  }
  const limit = str("limit") !== undefined ? num("limit", 0) : config?.limit;
  if (limit !== undefined) {
    if (!Number.isInteger(limit) || limit < 1) fail(`--limit must be a positive integer`);
    ds = {
      ...ds,
      train: limitSplit(ds.train, limit, ds.modalities),
      val: limitSplit(ds.val, limit, ds.modalities),
      test: limitSplit(ds.test, limit, ds.modalities),
    };
  }
  const modelKind = str("model") ?? (datasetName === "synthetic" ? "mlp" : "resnet");
  if (modelKind !== "mlp" && modelKind !== "resnet") {
    fail(`--model must be mlp or resnet, got ${modelKind}`);
  }
  if (modelKind === "mlp") {
    for (const m of ds.modalities) if (m.kind === "image") ds = flattenModality(ds, m.name);
  }

  const seedsArg = str("seeds") ?? (quick ? "1" : "3");
  const seeds = /^\d+$/.test(seedsArg)
    ? Array.from({ length: Number(seedsArg) }, (_, i) => i + 1)
    : seedsArg.split(",").map(Number);
  if (seeds.some((s) => !Number.isInteger(s))) {
    fail(`--seeds must be N or a comma list of integers`);
  }
  const taus = (str("tau") ?? String(config?.tau ?? 0.25)).split(",").map(Number);
  if (taus.some((t) => !(t > 0))) fail("--tau values must be > 0");
  const methods = expandMethods(
    str("methods") ?? config?.methods ??
      "unimodal,joint,ogm-ge,amss,amss+:reference,amss+:horvitz-thompson",
    ds.modalities.map((m) => m.name),
  );
  const epochs = num("epochs", config?.epochs ?? (quick ? 6 : 15));
  const batchSize = num("batch-size", config?.batchSize ?? 32);
  const optimizer: OptimizerConfig = config
    ? { ...config.optimizer, lr: num("lr", config.optimizer.lr) }
    : { kind: "sgd", lr: num("lr", 0.01), momentum: 0.9, weightDecay: 1e-4 };
  const out = str("out") ??
    `runs/bench-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}`;
  const shard = str("shard");
  let shardI = 0, shardN = 1;
  if (shard) {
    const m = /^(\d+)\/(\d+)$/.exec(shard);
    if (!m || Number(m[1]) >= Number(m[2])) {
      fail(`--shard must be i/n with 0 <= i < n, got ${shard}`);
    }
    [shardI, shardN] = [Number(m[1]), Number(m[2])];
  }
  const sigMode = (str("significance") ?? "paper") as "paper" | "reference";
  const units = (str("units") ?? config?.units ?? (modelKind === "mlp" ? "neuron" : "paper")) as
    | "paper"
    | "reference"
    | "neuron";
  if (!["paper", "reference", "neuron"].includes(units)) {
    fail(`--units must be paper, reference or neuron`);
  }
  const order = (str("order") ?? "mask-gradients") as "mask-gradients" | "mask-updates";
  if (!["mask-gradients", "mask-updates"].includes(order)) {
    fail(`--order must be mask-gradients or mask-updates`);
  }
  if (!["paper", "reference"].includes(sigMode)) fail(`--significance must be paper or reference`);

  const suiteName = str("suite");
  const suite: Suite | null = suiteName ? SUITES[suiteName] ?? null : null;
  if (suiteName && !suite) {
    fail(`--suite must be one of ${Object.keys(SUITES).join(", ")}, got ${suiteName}`);
  }
  const baseSpec = config ? modelFromConfig(ds, config) : modelFor(ds);
  const suiteCtx: SuiteContext = {
    dataset: datasetName,
    modalities: ds.modalities.map((m) => m.name),
    quick,
    paperRows: config?.paper?.rows,
    allResNet: baseSpec.modalities.every((m) => m.kind === "resnet18"),
  };
  // one entry per distinct run (method, options, tau, fusion, optimizer), then x seeds
  type Entry = Omit<GridItem, "seed" | "dir">;
  const entries: Entry[] = [];
  if (suite) {
    for (const r of suite.runs(suiteCtx)) {
      for (const m of expandMethods(r.method, suiteCtx.modalities)) {
        entries.push({
          tag: r.tag,
          method: m.method,
          options: { ...m.options, ...r.options },
          tau: r.tau ?? taus[0],
          fusion: r.fusion,
          optimizer: r.optimizer,
        });
      }
    }
  } else {
    for (const tau of taus) {
      for (const m of methods) {
        const tauTag = taus.length > 1 ? `-tau${tau}` : "";
        entries.push({ tag: `${m.tag}${tauTag}`, method: m.method, options: m.options, tau });
      }
    }
  }
  const fusionFlag = str("fusion");
  let extraOptions: MethodOptions = {};
  if (str("method-options")) {
    try {
      extraOptions = JSON.parse(str("method-options")!);
    } catch (e) {
      fail(`--method-options must be a JSON object: ${(e as Error).message}`);
    }
    if (extraOptions === null || typeof extraOptions !== "object" || Array.isArray(extraOptions)) {
      fail(`--method-options must be a JSON object`);
    }
  }
  const pretrained = (str("pretrained") ?? "").split(",").filter(Boolean).map((kv) => {
    const i = kv.indexOf("=");
    if (i <= 0) fail(`--pretrained takes MODALITY=PATH pairs, got ${JSON.stringify(kv)}`);
    const modality = kv.slice(0, i);
    if (!ds.modalities.some((m) => m.name === modality)) {
      fail(
        `--pretrained ${modality}: the dataset's modalities are ${
          ds.modalities.map((m) => m.name)
        }`,
      );
    }
    return { modality, path: kv.slice(i + 1) };
  });
  const grid: GridItem[] = [];
  for (const e of entries) {
    for (const seed of seeds) {
      grid.push({
        ...e,
        fusion: e.fusion ?? fusionFlag,
        options: {
          tau: e.tau,
          lambda: num("lambda", 0.9),
          significance: sigMode,
          units,
          defensive: num("defensive", 0),
          ...extraOptions,
          ...e.options,
        },
        seed,
        dir: `${out}/${e.tag}/seed-${seed}`,
      });
    }
  }
  const mine = grid.filter((_, i) => i % shardN === shardI);
  await Deno.mkdir(out, { recursive: true });
  const specFor = (g: GridItem): ModelSpec =>
    g.fusion ? { ...baseSpec, fusion: g.fusion as ModelSpec["fusion"] } : baseSpec;
  let pipeline: { samplesPerSecond: number; samples: number; seconds: number } | null = null;
  if (config) {
    // the input pipeline alone (decode + augment + batch), as training reads it
    pipeline = await measurePipeline(ds.train, ds.modalities, batchSize, {
      reader,
      augmentSeed: 1,
      maxBatches: 4,
    });
    console.log(
      `input pipeline: ${
        pipeline.samplesPerSecond.toFixed(1)
      } samples/s (${pipeline.samples} samples in ${pipeline.seconds.toFixed(2)} s, ${
        pool ? `${pool.size} decode worker(s)` : "main thread"
      }, no training)`,
    );
  }
  await writeJsonAtomic(`${out}/bench.json`, {
    argv,
    dataset: { name: ds.name, meta: ds.meta },
    model: baseSpec,
    suite: suite ? { name: suite.name, context: suiteCtx } : null,
    pretrained,
    backend,
    epochs,
    batchSize,
    optimizer,
    grid: grid.map(({ dir, ...g }) => ({ ...g, dir })),
    shard: `${shardI}/${shardN}`,
    config,
    pipeline,
  });
  console.log(
    `${ds.name}: ${ds.train.n}/${ds.val.n}/${ds.test.n} samples, modalities ${
      ds.modalities.map((m) => `${m.name} [${m.shape}]`).join(", ")
    }; ${mine.length} of ${grid.length} runs, ${epochs} epochs each; output ${out}`,
  );
  const t0 = performance.now();
  for (const [i, g] of mine.entries()) {
    try {
      const done = JSON.parse(await Deno.readTextFile(`${g.dir}/summary.json`));
      if (done.history?.length === epochs) {
        console.log(`[${i + 1}/${mine.length}] ${g.dir}: already complete, skipped`);
        continue;
      }
    } catch { /* not done yet */ }
    console.log(
      `[${i + 1}/${mine.length}] ${g.method} ${JSON.stringify(g.options)} seed ${g.seed}`,
    );
    await Deno.remove(`${g.dir}/diverged.json`).catch(() => {});
    try {
      await train({
        model: buildModel(specFor(g)),
        dataset: ds,
        method: g.method,
        methodOptions: g.options,
        optimizer: { ...optimizer, ...g.optimizer },
        order,
        epochs,
        batchSize,
        seed: g.seed,
        outDir: g.dir,
        resume: true,
        logTau: g.tau,
        progress: (str("progress") ?? "auto") as "auto",
        meta: { backend, device: deviceInfo(backend), datasetMeta: ds.meta },
        reader,
        pretrained,
      });
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      console.log(
        `  diverged: ${e.message} (recorded in ${g.dir}/diverged.json; the sweep goes on)`,
      );
    }
  }
  pool?.close();
  const runs = await readSummaries([out]);
  const text = await writeReport(
    out,
    runs,
    `Command: \`deno task bench ${
      argv.join(" ")
    }\`; dataset ${ds.name}; backend ${backend.name}; ${epochs} epochs, batch ${batchSize}, ${optimizer.kind} lr ${optimizer.lr}${
      optimizer.kind === "sgd"
        ? ` momentum ${optimizer.momentum ?? 0.9} wd ${optimizer.weightDecay ?? 1e-4}`
        : ""
    }${
      optimizer.milestones?.length
        ? `, x${optimizer.gamma ?? 0.1} after epochs ${optimizer.milestones}`
        : ""
    }; encoders: ${
      pretrained.length
        ? `pretrained ${pretrained.map((p) => p.modality).join(", ")}, the others from scratch`
        : "all trained from scratch"
    }; total ${((performance.now() - t0) / 1000).toFixed(0)} s.`,
  );
  console.log(`\n${text}\n\nreport: ${out}/report.md (runs, metrics.jsonl, SVG plots in ${out})`);
}

if (import.meta.main) await main(Deno.args);
