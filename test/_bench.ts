/**
 * Helpers of the bench's tests: a tiny dataset in the npy layout (two vector modalities, three
 * classes; an MLP trains a run in milliseconds), the bench run in this process with its output
 * captured, and the bench run as a separate process.
 */
import { dump } from "npyjs";
import { main } from "../benchmarks/main.ts";

/** Writes a tiny npy dataset (train n, val and test 12 samples each) into `dir`. */
export async function writeTinyNpy(dir: string, n = 60): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/meta.json`,
    JSON.stringify({ name: "tiny", modalities: ["a", "b"], classes: ["x", "y", "z"] }),
  );
  for (const s of ["train", "val", "test"]) {
    await Deno.mkdir(`${dir}/${s}`, { recursive: true });
    const m = s === "train" ? n : 12;
    const write = (name: string, data: Int32Array | Float32Array, shape: number[]) =>
      Deno.writeFile(`${dir}/${s}/${name}.npy`, new Uint8Array(dump(data, shape)));
    await write("labels", Int32Array.from({ length: m }, (_, i) => i % 3), [m]);
    // modality a carries the class (a shift by the label), b is weak
    await write(
      "a",
      Float32Array.from({ length: m * 6 }, (_, i) => Math.sin(i * 0.7) + (Math.floor(i / 6) % 3)),
      [m, 6],
    );
    await write("b", Float32Array.from({ length: m * 4 }, (_, i) => Math.cos(i * 1.3)), [m, 4]);
  }
  return dir;
}

/** What a bench invocation printed and returned. */
export interface BenchResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the bench in this process (`main(argv)`), capturing its lines. */
export async function bench(argv: string[]): Promise<BenchResult> {
  const out: string[] = [], err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/**
 * The bench as a separate process (`deno run benchmarks/main.ts argv`), with `NO_COLOR=1` unless
 * `env` says otherwise.
 */
export function benchProcess(
  argv: string[],
  env: Record<string, string> = { NO_COLOR: "1" },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys=hostname",
      new URL("../benchmarks/main.ts", import.meta.url).pathname,
      ...argv,
    ],
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
}

/** Runs the bench as a separate process to its end. */
export async function benchChild(
  argv: string[],
  env?: Record<string, string>,
): Promise<BenchResult> {
  const o = await benchProcess(argv, env).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

/**
 * Settings of a tiny sweep on the npy set in `data` (cpu backend, 3 epochs, batch 16); a flag in
 * `extra` replaces the default one.
 */
export function tinyArgs(data: string, out: string, extra: string[] = []): string[] {
  const base: [string, string][] = [
    ["--dataset", "npy"],
    ["--data", data],
    ["--backend", "cpu"],
    ["--epochs", "3"],
    ["--batch-size", "16"],
    ["--progress", "none"],
    ["--out", out],
  ];
  return [...base.filter(([f]) => !extra.includes(f)).flat(), ...extra];
}

/** Every `summary.json` under `dir`, by run folder (relative), without timings. */
export async function summaries(dir: string): Promise<Record<string, unknown>> {
  const found: Record<string, unknown> = {};
  async function walk(d: string) {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else if (e.name === "summary.json") {
        const s = JSON.parse(await Deno.readTextFile(`${d}/${e.name}`));
        // wall-clock timings differ between runs; every number of the metrics must not
        delete s.msPerStep;
        for (const h of s.history) delete h.msPerStep;
        found[d.slice(dir.length + 1)] = s;
      }
    }
  }
  await walk(dir);
  return found;
}
