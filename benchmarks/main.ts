/**
 * `deno task bench`: end-to-end training of the rebalancing methods with the paper's metrics.
 *
 *   deno task bench [flags]              train the grid (methods x seeds x tau), print the table,
 *                                        write the run folder and, once every run of the sweep is
 *                                        complete, its report
 *   deno task bench report DIR...        the table and report of run folders (e.g. shards)
 *   deno task bench engine               the AMSS engine micro-benchmark (benchmarks/amss_step.ts)
 *   deno task bench speed                ms/step of a narrow ResNet18 vs PyTorch, and AMSS overhead
 *
 * The pipeline: parse (benchmarks/args.ts: one flag table; a usage error exits 2 before anything
 * is read) -> dataset (a data error exits 1 naming the file) -> plan (benchmarks/plan.ts: the grid)
 * -> backend -> run folder (benchmarks/run_folder.ts: settings checked against the folder's, a lock
 * per run) -> training -> report (benchmarks/report.ts). {@link main} returns the exit code.
 *
 * @module
 */
import { type BackendInfo, initBackend } from "../src/backend/select.ts";
import { DecodeError } from "../src/data/decode_error.ts";
import { SampleLoadError } from "../src/data/loaders.ts";
import { measurePipeline } from "../src/data/loaders.ts";
import { buildModel } from "../src/models/build.ts";
import { train, TrainingDivergedError } from "../src/train/trainer.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { type BenchArgs, type Command, parseCommand } from "./args.ts";
import { UsageError } from "./cli.ts";
import { loadData, type LoadedData, makePlan, type Plan, type RunSpec } from "./plan.ts";
import { partialText, readFolders, reportRule, writeReport } from "./report.ts";
import {
  acquireLock,
  claimSweep,
  cleanTempFiles,
  clearRun,
  CODE_VERSION,
  datasetIdentity,
  firstDifference,
  HOST,
  type InvocationRecord,
  invocationStem,
  LockUnsupportedError,
  markLive,
  readSweep,
  removeDeadLiveFiles,
  runFingerprint,
  type RunState,
  runState,
  shellQuote,
  type SweepSettings,
  sweepSettings,
  writeInvocation,
  writerGone,
} from "./run_folder.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";

/** Where the bench writes its lines (tests capture them). */
export interface BenchIO {
  log(line: string): void;
  error(line: string): void;
}

const CONSOLE: BenchIO = { log: (l) => console.log(l), error: (l) => console.error(l) };

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

const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));

/** Says why a run folder cannot be reused, as a usage error. */
function refusal(run: RunSpec, s: RunState): UsageError {
  if (s.kind === "mismatch") {
    return new UsageError(
      `${run.dir} was trained with ${s.path} = ${show(s.was)}, this command has ${show(s.now)}`,
      "the same settings resume or skip it; --restart retrains it; or choose another --out",
    );
  }
  const files = s.kind === "foreign" ? s.files.join(", ") : "";
  return new UsageError(
    `${run.dir} holds results (${files}) without a fingerprint.json (an older bench or another tool)`,
    "--restart retrains it, or choose another --out",
  );
}

/** What every stage of a training command works with. */
interface Sweep {
  args: BenchArgs;
  argv: readonly string[];
  /** The command line, shell-quoted. */
  command: string;
  plan: Plan;
  data: LoadedData;
  settings: SweepSettings;
  backend: BackendInfo;
  io: BenchIO;
}

/** The label of an outcome, for the invocation record. */
type Outcome = "trained" | "resumed" | "complete" | "diverged" | "held elsewhere" | "failed";

async function trainCommand(
  args: BenchArgs,
  argv: readonly string[],
  io: BenchIO,
): Promise<number> {
  const command = shellQuote(["deno", "task", "bench", ...argv]);
  const data = await loadData(args);
  try {
    const plan = makePlan(args, data);
    const { ds } = data;
    const backend = await initBackend(args.backend, { fallback: "auto" });
    io.log(
      `backend: ${backend.name}${backend.adapter ? ` (${backend.adapter})` : ""}${
        backend.notes.length ? `; ${backend.notes.join("; ")}` : ""
      }`,
    );
    const settings = sweepSettings(plan, await datasetIdentity(ds), backend.name);
    await checkFolder(plan, settings, args.restart);
    return await runSweep({ args, argv, command, plan, data, settings, backend, io });
  } finally {
    data.pool?.close();
  }
}

/** Says why a folder's shared settings (sweep.json) rule this command out, as a usage error. */
function sweepRefusal(out: string, d: { path: string; was: unknown; now: unknown }): UsageError {
  return new UsageError(
    `${out} holds a sweep with ${d.path} = ${show(d.was)}, this command has ${show(d.now)}`,
    `a folder holds one sweep's settings, which --restart does not change: choose another --out, or remove ${out}`,
  );
}

/** Refuses a folder whose settings or runs differ from this command's (before writing anything). */
async function checkFolder(plan: Plan, settings: SweepSettings, restart: boolean): Promise<void> {
  const was = await readSweep(plan.out);
  const d = was && firstDifference(was, settings);
  if (d) throw sweepRefusal(plan.out, d);
  if (restart) return;
  for (const run of plan.mine) {
    const s = await runState(run.dir, runFingerprint(run, settings));
    if (s.kind === "mismatch" || s.kind === "foreign") throw refusal(run, s);
  }
}

/** Claims the folder, cleans what dead writers left, trains this shard's runs, reports. */
async function runSweep(sw: Sweep): Promise<number> {
  const { plan, settings, io } = sw;
  const { ds, config, reader, pool } = sw.data;
  const { out } = plan;
  const mismatch = await claimSweep(out, settings);
  if (mismatch) throw sweepRefusal(out, mismatch);
  if (config) {
    // the input pipeline alone (decode + augment + batch), as training reads it
    const p = await measurePipeline(ds.train, ds.modalities, plan.batchSize, {
      reader,
      augmentSeed: 1,
      maxBatches: 4,
    });
    io.log(
      `input pipeline: ${p.samplesPerSecond.toFixed(1)} samples/s (${p.samples} samples in ${
        p.seconds.toFixed(2)
      } s, ${pool ? `${pool.size} decode worker(s)` : "main thread"}, no training)`,
    );
  }
  const t0 = performance.now();
  const started = new Date().toISOString();
  // this process writes into the folder until `live` is released (the OS releases it on any exit)
  const live = await markLive(out, invocationStem({ started, host: HOST, pid: Deno.pid }));
  try {
    const gone = (pid: number, age: number) => writerGone(out, pid, age);
    const leftovers = await cleanTempFiles(out, gone) +
      await cleanTempFiles(`${out}/invocations`, gone);
    await removeDeadLiveFiles(out);
    if (leftovers) {
      io.log(`removed ${leftovers} leftover temporary file(s) of interrupted writes in ${out}`);
    }
    return await trainAll(sw, started, t0);
  } finally {
    await live.release();
  }
}

/** Trains this shard's runs one by one, keeping the invocation record up to date. */
async function trainAll(sw: Sweep, started: string, t0: number): Promise<number> {
  const { args, argv, command, plan, data, io } = sw;
  const { ds, config } = data;
  const { out } = plan;
  const rel = (dir: string) => dir.slice(out.length + 1);
  const record: InvocationRecord = {
    command,
    argv: [...argv],
    cwd: Deno.cwd(),
    host: HOST,
    pid: Deno.pid,
    shard: `${plan.shard[0]}/${plan.shard[1]}`,
    started,
    finished: null,
    status: "running",
    version: CODE_VERSION,
    sweep: plan.runs.map((r) => rel(r.dir)),
    runs: plan.mine.map((r) => ({ dir: rel(r.dir), outcome: "pending" })),
    suite: plan.suite,
    paper: config?.paper ?? null,
    collapse: args.collapse,
  };
  const recordPath = await writeInvocation(out, record);
  io.log(
    `${ds.name}: ${ds.train.n}/${ds.val.n}/${ds.test.n} samples, modalities ${
      ds.modalities.map((m) => `${m.name} [${m.shape}]`).join(", ")
    }; ${plan.mine.length} of ${plan.runs.length} runs, ${plan.epochs} epoch${
      plan.epochs === 1 ? "" : "s"
    } each; output ${out}`,
  );
  let failed: unknown = null;
  try {
    for (const [i, run] of plan.mine.entries()) {
      const outcome = await trainOne(sw, run, i);
      record.runs[i].outcome = outcome;
      await writeInvocation(out, record, recordPath);
    }
  } catch (e) {
    failed = e;
    throw e;
  } finally {
    record.finished = new Date().toISOString();
    record.status = failed ? "failed" : "finished";
    record.totalSeconds = Math.round((performance.now() - t0) / 1000);
    await writeInvocation(out, record, recordPath).catch(() => {});
  }
  return await finishSweep(sw);
}

/** Trains (or skips) one run under its lock; returns what happened. */
async function trainOne(sw: Sweep, run: RunSpec, i: number): Promise<Outcome> {
  const { args, command, plan, data, settings, backend, io } = sw;
  const head = `[${i + 1}/${plan.mine.length}] ${run.dir}`;
  const got = await acquireLock(run.dir, command);
  if (got.kind === "held") {
    const h = got.holder;
    io.log(
      `${head}: held by ${
        h ? `pid ${h.pid} on ${h.host} since ${h.started}` : "another process"
      }; skipped`,
    );
    return "held elsewhere";
  }
  const { lock } = got;
  try {
    if (got.previous) {
      const p = got.previous;
      io.log(
        `${head}: took over the lock of pid ${p.pid} on ${p.host} (started ${p.started}), which no process holds any more`,
      );
    }
    await cleanTempFiles(run.dir);
    const fp = runFingerprint(run, settings);
    let state = await runState(run.dir, fp);
    if (args.restart && state.kind !== "new") {
      await clearRun(run.dir);
      state = { kind: "new" };
    }
    switch (state.kind) {
      case "complete":
        io.log(`${head}: already complete, skipped`);
        return "complete";
      case "diverged":
        io.log(`${head}: diverged before (${state.message}); skipped (--restart retrains it)`);
        return "diverged";
      case "mismatch":
      case "foreign":
        throw refusal(run, state);
      case "corrupt":
        io.error(`warning: ${state.file} is unreadable (${state.error}); retraining ${run.dir}`);
        await clearRun(run.dir);
        state = { kind: "new" };
        break;
    }
    const resume = state.kind === "resume";
    if (!resume) await writeJsonAtomic(`${run.dir}/fingerprint.json`, fp);
    io.log(`${head}: ${run.method} ${JSON.stringify(run.options)} seed ${run.seed}`);
    try {
      await train({
        model: buildModel(run.model),
        dataset: data.ds,
        method: run.method,
        methodOptions: run.options,
        optimizer: run.optimizer,
        order: run.order,
        epochs: plan.epochs,
        batchSize: plan.batchSize,
        seed: run.seed,
        outDir: run.dir,
        resume,
        logTau: run.tau,
        progress: args.progress,
        meta: { backend, device: deviceInfo(backend), datasetMeta: data.ds.meta },
        reader: data.reader,
        pretrained: plan.pretrained,
        collapse: args.collapse,
      });
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      io.log(`  diverged: ${e.message} (recorded in ${run.dir}/diverged.json; the sweep goes on)`);
      return "diverged";
    }
    return resume ? "resumed" : "trained";
  } finally {
    await lock.release();
  }
}

/** Writes the folder's report when every run of the sweep is done; else prints what is. */
async function finishSweep({ plan, settings, args, io }: Sweep): Promise<number> {
  const pending: string[] = [];
  for (const run of plan.runs) {
    const s = await runState(run.dir, runFingerprint(run, settings));
    if (s.kind !== "complete" && s.kind !== "diverged") pending.push(run.dir);
  }
  const contents = await readFolders([plan.out]);
  const rule = reportRule(contents, args.collapse);
  if (pending.length) {
    io.log(`\n${partialText(contents, rule)}`);
    io.log(
      `\n${
        plan.runs.length - pending.length
      } of ${plan.runs.length} runs of this sweep are complete (waiting: ${
        pending.slice(0, 3).join(", ")
      }${
        pending.length > 3 ? ", ..." : ""
      }); the folder's report is written by the process that completes the last run, or by: deno task bench report ${plan.out}`,
    );
    return 0;
  }
  const text = await writeReport(plan.out, contents, rule);
  io.log(
    `\n${text}\n\nreport: ${plan.out}/report.md (runs, metrics.jsonl, SVG plots in ${plan.out})`,
  );
  return 0;
}

async function reportCommand(
  cmd: Extract<Command, { kind: "report" }>,
  io: BenchIO,
): Promise<number> {
  for (const d of cmd.dirs) {
    try {
      await Deno.stat(d);
    } catch {
      throw new UsageError(`run folder not found: ${d}`, "deno task bench report DIR...");
    }
  }
  const contents = await readFolders(cmd.dirs);
  if (contents.runs.length + contents.diverged.length === 0) {
    throw new UsageError(
      `no summary.json under ${cmd.dirs.join(", ")}`,
      "folders written by deno task bench",
    );
  }
  const out = cmd.out ?? cmd.dirs[0];
  await Deno.mkdir(out, { recursive: true });
  const text = await writeReport(out, contents, reportRule(contents, cmd.collapse));
  io.log(text);
  io.log(`\nreport: ${out}/report.md`);
  return 0;
}

/** One line for an error; the stack trace only with --debug (or for an internal error). */
function failure(e: unknown, debug: boolean, io: BenchIO): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const trace = debug && err.stack ? `\n${err.stack}` : "";
  if (err instanceof UsageError) {
    io.error(`bench: ${err.message}${trace}`);
    return 2;
  }
  if (
    err instanceof AmssArgumentError || err instanceof SampleLoadError ||
    err instanceof DecodeError ||
    err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied ||
    err instanceof Deno.errors.AlreadyExists || err instanceof Deno.errors.IsADirectory ||
    err instanceof LockUnsupportedError
  ) {
    io.error(`bench: ${err.message}${trace}`);
    return 1;
  }
  io.error(
    `bench: ${err.name}: ${err.message}${
      trace || "\n(an internal error: --debug shows the stack trace)"
    }`,
  );
  return 1;
}

/** Runs the bench with `argv` (without the `deno task bench` part); returns the exit code. */
export async function main(argv: readonly string[], io: BenchIO = CONSOLE): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.error(`bench: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const debug = cmd.kind === "train" ? cmd.args.debug : cmd.kind !== "help" && cmd.debug;
  try {
    switch (cmd.kind) {
      case "help":
        io.log(cmd.text);
        return 0;
      case "engine":
        await import("./amss_step.ts");
        return 0;
      case "speed":
        await import("./step_speed.ts");
        return 0;
      case "report":
        return await reportCommand(cmd, io);
      case "train":
        return await trainCommand(cmd.args, argv, io);
    }
  } catch (e) {
    return failure(e, debug, io);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
