import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { BENCH_FLAGS, parseCommand } from "../benchmarks/args.ts";
import { UsageError } from "../benchmarks/cli.ts";
import { readNpyConfig } from "../benchmarks/config.ts";
import { shellQuote } from "../benchmarks/run_folder.ts";
import { bench, writeTinyNpy } from "./_bench.ts";
import { tempDir } from "./_helpers.ts";

const root = tempDir("amss-bench-cli-");
const data = await writeTinyNpy(`${root}/tiny`);

/**
 * [argv, expected exit code, text the one-line error must contain]. Every case must fail before
 * the backend is chosen and before the run folder exists.
 */
const USAGE_CASES: [string[], number, string][] = [
  [["--epcohs", "3"], 2, "unknown flag --epcohs (did you mean --epochs?"],
  [["--epochs=2", "--quick", "extra"], 2, 'unexpected argument "extra"'],
  [["--quick", "extra"], 2, 'unexpected argument "extra"'],
  [["-e", "3"], 2, "unknown flag -e"],
  [["foo"], 2, 'unknown subcommand "foo"'],
  [["--epochs", "abc"], 2, '--epochs got "abc" (expected an integer in [1, 100000])'],
  [["--epochs=0"], 2, '--epochs got "0"'],
  [["--epochs", "1.5"], 2, '--epochs got "1.5"'],
  [["--epochs", "3", "--epochs", "4"], 2, "--epochs given twice"],
  [["--batch-size", "0"], 2, '--batch-size got "0"'],
  [["--lr", "0"], 2, '--lr got "0" (expected a number in (0, 100])'],
  [["--lr", "-1"], 2, '--lr got "-1"'],
  [["--lr=1e400"], 2, '--lr got "1e400"'],
  [["--lr", "0x10"], 2, '--lr got "0x10"'],
  [["--seeds", "0"], 2, '--seeds got "0"'],
  [["--seeds", "1,1"], 2, '--seeds got "1,1"'],
  [["--seeds", "1,x"], 2, '--seeds got "1,x"'],
  [["--seeds", "1001"], 2, '--seeds got "1001"'],
  [["--tau", "0"], 2, '--tau got "0"'],
  [["--tau", "0.2,-1"], 2, '--tau got "0.2,-1"'],
  [["--lambda", "1"], 2, '--lambda got "1" (expected a number in [0, 1))'],
  [["--defensive", "1.5"], 2, '--defensive got "1.5"'],
  [["--limit", "0"], 2, '--limit got "0"'],
  [["--shard", "2/2"], 2, '--shard got "2/2"'],
  [["--shard", "1"], 2, '--shard got "1"'],
  [["--collapse-loss-factor", "1"], 2, '--collapse-loss-factor got "1"'],
  [["--collapse-acc-drop", "0"], 2, '--collapse-acc-drop got "0"'],
  [["--backend", "gpu"], 2, "expected one of auto, wasm, cpu, webgpu, tensorflow"],
  [["--out"], 2, "--out needs a value"],
  [["--out", "--quick"], 2, "--out needs a value"],
  [["--quick=yes"], 2, "--quick is a switch: it takes no value"],
  [["--data", "/tmp"], 2, "--data does not apply to --dataset synthetic"],
  [["--config", "x.json"], 2, "--config x.json: file not found"],
  [["--dataset", "cremad", "--data", data, "--normalise", "none"], 2, "--normalise does not apply"],
  [["--dataset", "npy"], 2, "--dataset npy needs --data DIR"],
  [["--dataset", "npy", "--data", data, "--vocab", "v.txt"], 2, "--vocab does not apply"],
  [["--dataset", "cremad", "--data", data, "--model", "mlp"], 2, "--model does not apply"],
  [["--suite", "table6", "--methods", "joint"], 2, "--suite and --methods exclude each other"],
  [["--suite", "table8", "--tau", "0.1,0.2"], 2, "--tau takes one value with --suite"],
  [["--out", "a", "--resume", "b"], 2, "--out and --resume name different folders"],
  [["--quick", "--methods", "joint,foo"], 2, 'unknown method "foo"'],
  [["--quick", "--methods", "joint,,amss"], 2, "has an empty entry"],
  [["--quick", "--methods", "joint,joint"], 2, "--methods lists joint twice"],
  [["--quick", "--methods", "unimodal:depth"], 2, 'unimodal:depth: no modality "depth"'],
  [["--quick", "--methods", "amss+:bogus"], 2, 'amss+:bogus: unknown scale "bogus"'],
  [["--quick", "--methods", "joint:x"], 2, "method joint has no variants"],
  [["--quick", "--methods", "joint", "--units", "paper"], 2, "--units applies to amss"],
  [["--quick", "--methods", "joint", "--lambda", "0.5"], 2, "--lambda applies to amss"],
  [["--quick", "--methods", "joint", "--order", "mask-updates"], 2, "--order applies to"],
  [["--quick", "--method-options", "{bad"], 2, "--method-options is not valid JSON"],
  [["--quick", "--method-options", "[1]"], 2, "--method-options is [1]"],
  [
    ["--quick", "--methods", "amss", "--method-options", '{"bogus":1}'],
    2,
    "unknown field bogus (known fields: modality, significance, tau",
  ],
  [
    ["--quick", "--methods", "joint", "--method-options", '{"alpha":0.3}'],
    2,
    "alpha applies to ogm-ge, none of which is selected",
  ],
  [
    ["--quick", "--methods", "pmr", "--method-options", '{"pmr":{"mu":-1}}'],
    2,
    "pmr.mu is -1 (expected a number in [0, 1000000])",
  ],
  [
    ["--quick", "--methods", "pmr", "--method-options", '{"pmr":{"zeta":1}}'],
    2,
    "unknown field pmr.zeta (the fields of pmr are beta, mu, momentum, perEpochs, fraction)",
  ],
  [
    ["--quick", "--methods", "ogm-ge", "--method-options", '{"noise":"yes"}'],
    2,
    'noise is "yes" (expected true or false)',
  ],
  [
    ["--quick", "--methods", "global-scale", "--method-options", '{"scales":{"depth":0.5}}'],
    2,
    'scales.depth: no modality "depth"',
  ],
  [
    ["--quick", "--methods", "unimodal", "--method-options", '{"modality":"audio"}'],
    2,
    "use --methods unimodal:NAME",
  ],
  [["--quick", "--pretrained", "audio"], 2, "MODALITY=PATH pairs"],
  [["--quick", "--pretrained", "depth=/w.json"], 2, "--pretrained depth: no such modality"],
  [
    ["--dataset", "cremad", "--data", data, "--config", `${root}/none.json`],
    2,
    "none.json: file not found",
  ],
  [
    ["--dataset", "npy", "--data", data, "--config", `${root}/none.json`],
    2,
    "none.json: file not found",
  ],
  [["--normalise", "standardise"], 2, "--normalise does not apply to --dataset synthetic"],
  [["--dataset", "mnist-2view", "--config", "c.json"], 2, "--config c.json: file not found"],
  [["--dataset", "npy", "--data", data, "--normalise", "unit"], 2, '--normalise got "unit"'],
  [["report"], 2, "report needs at least one run folder"],
  [["report", `${root}/none`], 2, "run folder not found"],
  [["engine", "extra"], 2, 'unexpected argument "extra"'],
  [["speed", "--rounds", "0"], 2, '--rounds got "0"'],
  [["speed", "--bogus"], 2, "unknown flag --bogus"],
];

Deno.test("bench usage errors: one line 'bench: <what> (<expected>)', exit 2, no backend, no folder", async () => {
  for (const [argv, code, text] of USAGE_CASES) {
    const out = `${root}/out-${crypto.randomUUID()}`;
    const sub = ["report", "engine", "speed"].includes(argv[0]);
    const withOut = sub || argv.includes("--out") || argv.includes("--resume")
      ? argv
      : [...argv, "--out", out];
    const r = await bench(withOut);
    const label = JSON.stringify(argv);
    assertEquals(r.code, code, `${label}: exit code (stderr: ${r.err})`);
    assertEquals(r.err.split("\n").length, 1, `${label}: one line, got ${r.err}`);
    assert(/^bench: .+ \(.+\)$/.test(r.err), `${label}: format, got ${r.err}`);
    assertStringIncludes(r.err, text, label);
    assert(!r.out.includes("backend:"), `${label}: the backend was probed`);
    let exists = true;
    await Deno.stat(out).catch(() => (exists = false));
    assert(!exists, `${label}: ${out} was created`);
  }
});

Deno.test("--key=value and --key value parse to the same command", () => {
  const a = parseCommand(["--epochs=4", "--lr", "0.02", "--seeds=1,5", "--tau=0.1,0.3"]);
  const b = parseCommand(["--epochs", "4", "--lr=0.02", "--seeds", "1,5", "--tau", "0.1,0.3"]);
  assertEquals(a.kind, "train");
  if (a.kind !== "train" || b.kind !== "train") return;
  for (const x of [a.args, b.args]) {
    assertEquals([x.epochs, x.lr, x.seeds, x.taus], [4, 0.02, [1, 5], [0.1, 0.3]]);
  }
  const n = parseCommand(["--seeds", "3"]);
  assertEquals(n.kind === "train" && n.args.seeds, [1, 2, 3]);
});

Deno.test("--help lists every flag of the table, with its default", async () => {
  const r = await bench(["--help"]);
  assertEquals(r.code, 0);
  for (const f of BENCH_FLAGS) {
    assertStringIncludes(r.out, `--${f.name}`);
    if (f.default) assertStringIncludes(r.out, `(default ${f.default})`);
  }
  const sub = parseCommand(["speed", "--help"]);
  assertEquals(sub.kind, "help");
  assertStringIncludes(sub.kind === "help" ? sub.text : "", "--compare-threads");
});

Deno.test("parse errors are UsageErrors whose text is '<what> (<expected>)'", () => {
  try {
    parseCommand(["--workers", "65", "--dataset", "cremad", "--data", "/d"]);
    throw new Error("no error");
  } catch (e) {
    assert(e instanceof UsageError);
    assertEquals(e.message, '--workers got "65" (expected an integer in [0, 64])');
  }
});

Deno.test("data errors exit 1 with one line naming the file, and --debug adds the stack trace", async () => {
  const bad = await writeTinyNpy(`${root}/bad`);
  await Deno.writeTextFile(`${bad}/train/labels.npy`, "not an npy file");
  const argv = ["--dataset", "npy", "--data", bad, "--out", `${root}/bad-out`];
  const r = await bench(argv);
  assertEquals(r.code, 1);
  assertEquals(r.err.split("\n").length, 1, r.err);
  assertStringIncludes(r.err, `${bad}/train/labels.npy`);
  assert(!r.err.includes("    at "), "no stack trace without --debug");
  const d = await bench([...argv, "--debug"]);
  assertEquals(d.code, 1);
  assertStringIncludes(d.err, "    at ");
  const missing = await bench(["--dataset", "npy", "--data", `${root}/none`, "--out", `${root}/o`]);
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.err, `${root}/none/meta.json: file not found`);
});

Deno.test("sweep axes apply only to the methods that read them: joint runs once on a tau sweep", async () => {
  const r = await bench([
    "--dataset",
    "npy",
    "--data",
    data,
    "--methods",
    "joint,amss",
    "--tau",
    "0.2,0.5",
    "--seeds",
    "1",
    "--epochs",
    "1",
    "--backend",
    "cpu",
    "--progress",
    "none",
    "--out",
    `${root}/taus`,
  ]);
  assertEquals(r.code, 0, r.err);
  const dirs: string[] = [];
  for await (const e of Deno.readDir(`${root}/taus`)) if (e.isDirectory) dirs.push(e.name);
  assertEquals(dirs.filter((d) => d !== "invocations").sort(), [
    "amss-tau0.2",
    "amss-tau0.5",
    "joint",
  ]);
  const fp = JSON.parse(await Deno.readTextFile(`${root}/taus/joint/seed-1/fingerprint.json`));
  assertEquals(fp.options, {}, "joint's options hold nothing it does not read");
  assertEquals(fp.tau, 0.2, "joint logs rho with the first tau");
});

Deno.test("--dataset npy --config sets encoders, optimizer, schedule and input scaling; flags win; bad configs name the field", async () => {
  const cfg = `${root}/npy-config.json`;
  await Deno.writeTextFile(
    cfg,
    JSON.stringify({
      dataset: "npy",
      encoders: { b: { kind: "mlp", options: { hidden: [16] } } },
      optimizer: { kind: "adam", lr: 0.005, weightDecay: 0 },
      epochs: 2,
      batchSize: 8,
      normalise: "standardise",
      methods: "joint",
    }),
  );
  const out = `${root}/npy-config-out`;
  const r = await bench([
    "--dataset",
    "npy",
    "--data",
    data,
    "--config",
    cfg,
    "--lr",
    "0.002",
    "--backend",
    "cpu",
    "--progress",
    "none",
    "--seeds",
    "1",
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.err);
  const fp = JSON.parse(await Deno.readTextFile(`${out}/joint/seed-1/fingerprint.json`));
  assertEquals(fp.optimizer, { kind: "adam", momentum: 0.9, weightDecay: 0, lr: 0.002 });
  assertEquals([fp.epochs, fp.batchSize], [2, 8]);
  const enc = Object.fromEntries(
    fp.model.modalities.map((m: { name: string; kind: string; options: unknown }) => [m.name, m]),
  );
  assertEquals(enc.b.kind, "mlp");
  assertEquals(enc.b.options, { hidden: [16] }, "config options over the default MLP's");
  assertEquals(
    enc.a.options,
    { hidden: [32, 32] },
    "a modality the config leaves keeps the default",
  );
  const summary = JSON.parse(await Deno.readTextFile(`${out}/joint/seed-1/summary.json`));
  assertEquals(summary.history.length, 2);

  // the same data standardised differ from the raw data: another dataset identity, refused
  const raw = await bench([
    "--dataset",
    "npy",
    "--data",
    data,
    "--config",
    cfg,
    "--lr",
    "0.002",
    "--normalise",
    "none",
    "--backend",
    "cpu",
    "--progress",
    "none",
    "--seeds",
    "1",
    "--out",
    out,
  ]);
  assertEquals(raw.code, 2, raw.err);
  assertStringIncludes(raw.err, "holds a sweep with dataset.");

  for (
    const [body, text] of [
      [{ encoder: {} }, 'unknown field "encoder" (a --dataset npy config has dataset, description'],
      [{ optimizer: { kind: "rmsprop" } }, '"optimizer.kind" must be "sgd", "adam" or "adagrad"'],
      [{ encoders: { c: { kind: "mlp" } } }, 'config encoders.c: no modality "c"'],
      [{ epochs: 0 }, '"epochs" must be an integer >= 1'],
    ] as const
  ) {
    await Deno.writeTextFile(cfg, JSON.stringify(body));
    const bad = await bench(["--dataset", "npy", "--data", data, "--config", cfg, "--out", out]);
    assertEquals(bad.code, 1, `${JSON.stringify(body)}: ${bad.err}`);
    assertEquals(bad.err.split("\n").length, 1, bad.err);
    assertStringIncludes(bad.err, text);
  }
});

Deno.test("the README's npy config example is a valid config", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const at = readme.indexOf("(`--config my.json`");
  assert(at >= 0, "README lost its npy config example");
  const start = readme.indexOf("```json\n", at) + "```json\n".length;
  const path = `${root}/readme-config.json`;
  await Deno.writeTextFile(path, readme.slice(start, readme.indexOf("\n```", start)));
  const cfg = await readNpyConfig(path);
  assertEquals(cfg.optimizer?.kind, "adam");
  assertEquals(Object.keys(cfg.encoders ?? {}), ["visual", "depth"]);
});

Deno.test("the recorded command is shell-quoted: bash reads back the very arguments", async () => {
  const argv = [
    "--method-options",
    '{"pmr":{"mu":0.5}}',
    "--out",
    "runs/it's here",
    "--methods",
    "joint,amss+:horvitz-thompson",
    "$HOME",
    "a b",
    "",
  ];
  const quoted = shellQuote(argv);
  const out = await new Deno.Command("bash", {
    args: ["-c", `printf '%s\\0' ${quoted}`],
    stdout: "piped",
  }).output();
  const back = new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
  assertEquals(back, argv);
  assertEquals(shellQuote(["--epochs", "3"]), "--epochs 3", "plain words stay bare");
});

Deno.test("an embedded dataset takes a config too: a ResNet on the synthetic image modality reads it unflattened", async () => {
  const cfg = `${root}/synthetic-config.json`;
  await Deno.writeTextFile(
    cfg,
    JSON.stringify({
      dataset: "synthetic",
      encoders: { audio: { kind: "resnet18", options: { widths: [4, 4, 4, 4] } } },
      epochs: 1,
      methods: "joint",
    }),
  );
  const out = `${root}/synthetic-config-out`;
  const args = ["--config", cfg, "--quick", "--limit", "64", "--backend", "cpu"];
  const r = await bench([...args, "--progress", "none", "--out", out]);
  assertEquals(r.code, 0, r.err);
  const fp = JSON.parse(await Deno.readTextFile(`${out}/joint/seed-1/fingerprint.json`));
  const audio = fp.model.modalities.find((m: { name: string }) => m.name === "audio");
  assertEquals([audio.kind, audio.input, audio.options.widths], ["resnet18", [16, 16, 1], [
    4,
    4,
    4,
    4,
  ]]);
  await Deno.writeTextFile(cfg, JSON.stringify({ normalise: "standardise" }));
  const bad = await bench([...args, "--out", `${out}-2`]);
  assertEquals(bad.code, 1, bad.err);
  assertStringIncludes(bad.err, '"normalise" applies to --dataset npy');
});
