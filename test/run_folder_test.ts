import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { acquireLock, HOST, markLive, readInvocations } from "../benchmarks/run_folder.ts";
import { Rng } from "../src/rng.ts";
import { bench, benchChild, benchProcess, summaries, tinyArgs, writeTinyNpy } from "./_bench.ts";
import { tempDir } from "./_helpers.ts";

const root = tempDir("amss-bench-folder-");
const data = await writeTinyNpy(`${root}/tiny`);
const GRID = ["--methods", "joint,amss", "--seeds", "2"];

/** Files under `dir` whose name matches `re` (recursive). */
async function find(dir: string, re: RegExp): Promise<string[]> {
  const hits: string[] = [];
  async function walk(d: string) {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else if (re.test(e.name)) hits.push(`${d}/${e.name}`);
    }
  }
  await walk(dir);
  return hits;
}

/** One uninterrupted sweep per grid, the reference every other test compares with. */
const reference = new Map<string, Record<string, unknown>>();
async function referenceOf(grid: string[]): Promise<Record<string, unknown>> {
  const key = JSON.stringify(grid);
  if (!reference.has(key)) {
    const out = `${root}/ref-${reference.size}`;
    const r = await bench(tinyArgs(data, out, grid));
    assertEquals(r.code, 0, r.err);
    reference.set(key, await summaries(out));
  }
  return reference.get(key)!;
}

Deno.test("a rerun with the same settings skips finished runs; other settings are refused naming the first that differs", async () => {
  const out = `${root}/rerun`;
  const first = await bench(tinyArgs(data, out, GRID));
  assertEquals(first.code, 0, first.err);
  const table = await Deno.readTextFile(`${out}/table.txt`);
  assertEquals(await summaries(out), await referenceOf(GRID));

  const again = await bench(tinyArgs(data, out, GRID));
  assertEquals(again.code, 0, again.err);
  assertEquals(again.out.match(/already complete, skipped/g)?.length, 4);
  assertEquals(await Deno.readTextFile(`${out}/table.txt`), table);

  const records = (await readInvocations(out)).length;
  const cases: [string[], string][] = [
    [["--lr", "0.05"], "optimizer.lr = 0.01, this command has 0.05"],
    [["--batch-size", "8"], "batchSize = 16, this command has 8"],
    [["--epochs", "4"], "epochs = 3, this command has 4"],
    [["--limit", "30"], "dataset."],
    [
      ["--lambda", "0.5"],
      "amss/seed-1 was trained with options.lambda = 0.9, this command has 0.5",
    ],
    [["--defensive", "0.1"], "options.defensive = 0, this command has 0.1"],
  ];
  for (const [extra, text] of cases) {
    const r = await bench(tinyArgs(data, out, [...GRID, ...extra]));
    assertEquals(r.code, 2, `${extra}: ${r.err}`);
    assertStringIncludes(r.err, text);
    assertEquals(r.err.split("\n").length, 1);
  }
  // --restart retrains runs; it does not change the settings the folder's sweep was made with
  const other = await bench(tinyArgs(data, out, [...GRID, "--lr", "0.05", "--restart"]));
  assertEquals(other.code, 2, other.err);
  assertStringIncludes(other.err, "which --restart does not change: choose another --out");
  assertEquals((await readInvocations(out)).length, records, "a refused command writes nothing");

  const restart = await bench(tinyArgs(data, out, [...GRID, "--restart"]));
  assertEquals(restart.code, 0, restart.err);
  assertEquals(restart.out.match(/: (joint|amss) \{/g)?.length, 4, "--restart retrains every run");
  assertEquals(await summaries(out), await referenceOf(GRID));
});

Deno.test("a run folder without a fingerprint is refused; corrupt results are named and retrained; leftover temporary files go", async () => {
  const out = `${root}/corrupt`;
  assertEquals((await bench(tinyArgs(data, out, GRID))).code, 0);
  await Deno.remove(`${out}/joint/seed-1/fingerprint.json`);
  const foreign = await bench(tinyArgs(data, out, GRID));
  assertEquals(foreign.code, 2);
  assertStringIncludes(foreign.err, "joint/seed-1 holds results (");
  assertStringIncludes(foreign.err, "without a fingerprint.json");
  assertEquals((await bench(tinyArgs(data, out, [...GRID, "--restart"]))).code, 0);

  await Deno.writeTextFile(`${out}/joint/seed-2/summary.json`, '{"history": [');
  await Deno.remove(`${out}/amss/seed-1/summary.json`);
  await Deno.writeTextFile(`${out}/amss/seed-1/checkpoint.json`, "");
  await Deno.remove(`${out}/amss/seed-2/summary.json`);
  const [bin] = await find(`${out}/amss/seed-2`, /^checkpoint-.*\.bin$/);
  await Deno.truncate(bin, 100);
  await Deno.writeTextFile(`${out}/amss/seed-2/.summary.json.4242.abcd1234.tmp`, "half");
  const old = new Date(Date.now() - 3600_000);
  await Deno.writeTextFile(`${out}/.report.md.4242.abcd1234.tmp`, "half");
  await Deno.utime(`${out}/.report.md.4242.abcd1234.tmp`, old, old);
  // a writer that died (its live file is held by nobody) and one still running (held here)
  await Deno.writeTextFile(`${out}/invocations/t-host-4343.live`, "");
  await Deno.writeTextFile(`${out}/.table.json.4343.beef0001.tmp`, "half");
  const running = await markLive(out, "t-host-4444");
  await Deno.writeTextFile(`${out}/.table.txt.4444.beef0002.tmp`, "half");
  const r = await bench(tinyArgs(data, out, GRID));
  assertEquals(await find(out, /\.tmp$/), [`${out}/.table.txt.4444.beef0002.tmp`]);
  assertEquals(await find(`${out}/invocations`, /\.live$/), [
    `${out}/invocations/t-host-4444.live`,
  ]);
  await running.release();
  await Deno.remove(`${out}/.table.txt.4444.beef0002.tmp`);
  assertEquals(r.code, 0, r.err);
  assertStringIncludes(r.err, `warning: ${out}/joint/seed-2/summary.json is unreadable`);
  assertStringIncludes(r.err, `warning: ${out}/amss/seed-1/checkpoint.json is unreadable`);
  assertStringIncludes(r.err, `warning: ${bin} is unreadable (100 bytes, the checkpoint needs`);
  assertEquals(await find(out, /\.tmp$/), []);
  assertEquals(await summaries(out), await referenceOf(GRID));
});

Deno.test("a run held by a live process is skipped (no report); a dead holder's lock is taken over", async () => {
  const out = `${root}/locks`;
  const grid = ["--methods", "joint", "--seeds", "2"];
  // a live holder: this process holds the lock through another open file
  const mine = await acquireLock(`${out}/joint/seed-1`, "test");
  assertEquals(mine.kind, "acquired");
  const held = await bench(tinyArgs(data, out, grid));
  assertEquals(held.code, 0, held.err);
  assertStringIncludes(held.out, `joint/seed-1: held by pid ${Deno.pid} on ${HOST}`);
  assertStringIncludes(held.out, "1 of 2 runs of this sweep are complete");
  let report = true;
  await Deno.stat(`${out}/report.md`).catch(() => (report = false));
  assert(!report, "a partial sweep writes no folder report");
  if (mine.kind === "acquired") await mine.lock.release();

  // a holder killed with SIGKILL: the OS drops its lock, the file it wrote stays
  const script = `import { acquireLock } from ${
    JSON.stringify(new URL("../benchmarks/run_folder.ts", import.meta.url).href)
  }; await acquireLock(${
    JSON.stringify(`${out}/joint/seed-1`)
  }, "holder"); console.log("locked"); await new Promise((r) => setTimeout(r, 600_000));`;
  const holder = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("locked")) said += (await reader.read()).value ?? "";
  assertEquals((await bench(tinyArgs(data, out, grid))).out.includes("held by pid"), true);
  holder.kill("SIGKILL");
  await holder.status;
  reader.releaseLock();
  await holder.stdout.cancel().catch(() => {});
  const took = await bench(tinyArgs(data, out, grid));
  assertEquals(took.code, 0, took.err);
  assertStringIncludes(took.out, `took over the lock of pid ${holder.pid} on ${HOST}`);
  assertStringIncludes(took.out, `report: ${out}/report.md`);
  assertEquals(await find(out, /^lock\.json/), [], "every lock is released");
});

Deno.test("two shard processes and two identical processes on one folder train every run exactly once", async () => {
  const grid = ["--methods", "joint,amss,ogm-ge", "--seeds", "2"];
  const ref = await referenceOf(grid);
  for (
    const [name, extras] of [["shards", [["--shard", "0/2"], ["--shard", "1/2"]]], [
      "twins",
      [[], []],
    ]] as const
  ) {
    const out = `${root}/${name}`;
    const results = await Promise.all(
      extras.map((e) => benchChild(tinyArgs(data, out, [...grid, ...e]))),
    );
    for (const r of results) assertEquals(r.code, 0, r.err);
    const recs = await readInvocations(out);
    assertEquals(recs.length, 2);
    const trained = recs.flatMap((r) => r.runs.filter((x) => x.outcome === "trained"));
    assertEquals(trained.map((x) => x.dir).sort(), Object.keys(ref).sort(), `${name}: once each`);
    assertEquals(await summaries(out), ref, `${name}: the same numbers as one process`);
    const report = await Deno.readTextFile(`${out}/report.md`);
    for (const r of recs) assertStringIncludes(report, r.command);
    assertEquals(
      results.filter((r) => r.out.includes(`report: ${out}/report.md`)).length >= 1,
      true,
      `${name}: the process that completed the sweep wrote the report`,
    );
  }
});

Deno.test("a sweep killed (SIGKILL) at random points resumes to the same numbers, with no temporary file left", async () => {
  const grid = ["--methods", "joint,amss+:horvitz-thompson", "--seeds", "2"];
  const ref = await referenceOf(grid);
  const rng = new Rng(20261203);
  const out = `${root}/killed`;
  // kill k: in run k + 1 of 4, 0-10 ms after the line that ends epoch EPOCHS[k] (the metrics and
  // checkpoint writes follow that line, so some kills land mid-write)
  const EPOCHS = [1, 2, 3, 2];
  let kills = 0;
  for (let k = 0; k < 4; k++) {
    const child = benchProcess(tinyArgs(data, out, [...grid, "--progress", "plain"]));
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const started = `[${k + 1}/4]`;
    const ended = new RegExp(`epoch ${EPOCHS[k]}/3 [^\\n]*ms/step`);
    while (!(seen.includes(started) && ended.test(seen.slice(seen.indexOf(started))))) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    await new Promise((r) => setTimeout(r, rng.int(11)));
    try {
      child.kill("SIGKILL");
      kills++;
    } catch { /* it had finished */ }
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
  assertEquals(kills, 4);
  const done = await bench(tinyArgs(data, out, grid));
  assertEquals(done.code, 0, done.err);
  const outcomes = (await readInvocations(out)).flatMap((r) => r.runs.map((x) => x.outcome));
  assert(outcomes.includes("resumed"), `some run resumed from a checkpoint: ${outcomes}`);
  assertEquals(await summaries(out), ref);
  assertEquals(await find(out, /\.(tmp|live)$|^lock\.json$/), []);
});

Deno.test("bench into a pipe: no colour codes, no tfjs banner, nothing left in TMPDIR", async () => {
  const tmp = tempDir("amss-bench-pipe-");
  const out = `${root}/pipe`;
  // auto backend: its WebGPU probe makes an XDG_RUNTIME_DIR folder for Mesa under TMPDIR; auto
  // progress: plain lines when stdout is not a terminal; NO_COLOR unset.
  const r = await benchChild(
    tinyArgs(data, out, ["--backend", "auto", "--progress", "auto", "--methods", "joint"]),
    { TMPDIR: tmp, XDG_RUNTIME_DIR: "" },
  );
  assertEquals(r.code, 0, r.err);
  assertStringIncludes(r.out, "report:");
  assertEquals(
    r.out.includes("\x1b") || r.err.includes("\x1b"),
    false,
    "ANSI codes in piped output",
  );
  assertEquals(`${r.out}${r.err}`.includes("speed things up"), false, "tfjs's Node.js banner");
  assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name), [], "left in TMPDIR");
});
