/**
 * What the backends leave behind (src/backend/hygiene.ts): temporary folders made for the process's
 * own use are gone when it ends, and tfjs's "Hi, looks like you are running TensorFlow.js in
 * Node.js..." banner is not printed, neither by a program that called `initBackend` nor in a test
 * module (test/_preload.ts). The end-of-process checks run child Deno processes with `TMPDIR` set
 * to a fresh folder and look at that folder after they exit.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { makeOwnTempDirSync, removeOwnTempDirs } from "../src/backend/hygiene.ts";
import { tempDir } from "./_helpers.ts";

const BANNER = "speed things up";
const repoRoot = decodeURIComponent(new URL("..", import.meta.url).pathname);
const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);

interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `code` (a TypeScript module, from stdin) in a child Deno process in the repository root (so
 * deno.json's import map applies), with `TMPDIR=tmp`, write permission for `tmp` only, and `env`.
 */
async function runChild(
  code: string,
  tmp: string,
  env: Record<string, string> = {},
): Promise<ChildResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-env", `--allow-write=${tmp}`, "-"],
    cwd: repoRoot,
    env: { TMPDIR: tmp, NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(code));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** The child's last stdout line as JSON, after checking that it exited with 0. */
function lastJson(r: ChildResult): Record<string, unknown> {
  assertEquals(r.code, 0, `the child failed:\n${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

const occurrences = (text: string, what: string) => text.split(what).length - 1;

Deno.test("own temporary folders: removed with their contents, once; a missing one is skipped", () => {
  const calls: string[] = [];
  const a = makeOwnTempDirSync({ prefix: "amss-own-a-", onRemove: () => calls.push("a") });
  Deno.mkdirSync(`${a}/sub`);
  Deno.writeTextFileSync(`${a}/sub/file.txt`, "x");
  const b = makeOwnTempDirSync({ prefix: "amss-own-b-", onRemove: () => calls.push("b") });
  Deno.removeSync(b);
  assertEquals(removeOwnTempDirs(), 1, "a removed; b was gone already and is skipped");
  assertEquals(calls, ["a", "b"], "onRemove runs for both");
  let stillThere = true;
  try {
    Deno.statSync(a);
  } catch (e) {
    stillThere = !(e instanceof Deno.errors.NotFound);
  }
  assert(!stillThere, `${a} was not removed`);
  assertEquals(removeOwnTempDirs(), 0, "nothing left to remove");
  assertEquals(calls, ["a", "b"]);
});

Deno.test("initBackend('auto'): the XDG_RUNTIME_DIR folder made for Mesa is removed when the process ends", async () => {
  const tmp = tempDir("amss-hygiene-xdg-");
  // The child exits with Deno.exit, which still runs the unload listeners.
  const r = await runChild(
    `import { initBackend } from ${module("../src/backend/select.ts")};
const info = await initBackend("auto");
const xdg = Deno.env.get("XDG_RUNTIME_DIR") ?? "";
let isDir = false;
try { isDir = xdg !== "" && Deno.statSync(xdg).isDirectory; } catch { /* absent */ }
console.log(JSON.stringify({ name: info.name, xdg, isDir }));
Deno.exit(0);
`,
    tmp,
    { XDG_RUNTIME_DIR: "" }, // unset for our purposes: initBackend makes its own folder
  );
  const seen = lastJson(r);
  assert(
    String(seen.xdg).startsWith(`${tmp}/xdg-runtime-`) && seen.isDir === true,
    `while it ran, XDG_RUNTIME_DIR should name a folder under ${tmp}: ${JSON.stringify(seen)}`,
  );
  assertEquals(entries(tmp), [], `left in TMPDIR by a process that ran initBackend("auto")`);
});

Deno.test("wasm with 2 threads: the patched bundle's folder is removed when the process ends", async () => {
  const tmp = tempDir("amss-hygiene-wasm-");
  // The child ends by reaching the end of its module (no Deno.exit).
  const r = await runChild(
    `import { initBackend } from ${module("../src/backend/select.ts")};
const info = await initBackend("wasm", { threads: 2 });
const dirs = [...Deno.readDirSync(Deno.env.get("TMPDIR")!)].map((e) => e.name);
console.log(JSON.stringify({ threads: info.threads, dirs }));
`,
    tmp,
  );
  const seen = lastJson(r);
  assert(
    (seen.dirs as string[]).some((d) => d.startsWith("amss-wasm-threads-")),
    `while it ran, the patched bundle should be under ${tmp}: ${JSON.stringify(seen)}`,
  );
  assertEquals(entries(tmp), [], `left in TMPDIR by a process that ran 2-thread wasm`);
});

Deno.test("tfjs's Node.js banner: printed once by plain tfjs, never after initBackend or the silencer, other warnings kept", async () => {
  const tmp = tempDir("amss-hygiene-banner-");
  const tfjs = `import * as tf from "@tensorflow/tfjs";`;
  const hygiene = `import { silenceTfjsNodeBanner } from ${module("../src/backend/hygiene.ts")};`;
  const select = `import { initBackend } from ${module("../src/backend/select.ts")};`;
  const use = `tf.tensor([1, 2]).dispose(); tf.tensor([3]).dispose();`;
  const [plain, silenced, late, cpu, lazy] = await Promise.all([
    // Control: without any of ours the banner is printed (once), so its absence below means
    // something.
    runChild(`${tfjs}\nawait tf.setBackend("cpu");\n${use}`, tmp),
    // Silenced before the cpu backend exists; a second registration still warns (other tfjs
    // warnings stay on: neither PROD nor IS_TEST is set).
    runChild(
      `${tfjs}\n${hygiene}\nsilenceTfjsNodeBanner();\nawait tf.setBackend("cpu");\n${use}\n` +
        `tf.registerBackend("cpu", () => { throw new Error("unused"); });`,
      tmp,
    ),
    // Silenced after the cpu backend was created, before its first write.
    runChild(
      `${tfjs}\n${hygiene}\nawait tf.setBackend("cpu");\nsilenceTfjsNodeBanner();\n${use}`,
      tmp,
    ),
    runChild(`${tfjs}\n${select}\nawait initBackend("cpu");\n${use}`, tmp),
    // initBackend("wasm") first; the cpu backend is created later, lazily.
    runChild(
      `${tfjs}\n${select}\nawait initBackend("wasm");\nawait tf.setBackend("cpu");\n${use}`,
      tmp,
    ),
  ]);
  for (const r of [plain, silenced, late, cpu, lazy]) assertEquals(r.code, 0, r.stderr);
  assertEquals(occurrences(plain.stderr, BANNER), 1, `plain tfjs: ${plain.stderr}`);
  assertEquals(occurrences(silenced.stderr, BANNER), 0, silenced.stderr);
  assertStringIncludes(silenced.stderr, "cpu backend was already registered");
  assertEquals(occurrences(late.stderr, BANNER), 0, late.stderr);
  assertEquals(occurrences(cpu.stderr, BANNER), 0, cpu.stderr);
  assertEquals(occurrences(lazy.stderr, BANNER), 0, lazy.stderr);
  assertEquals(entries(tmp), []);
});

Deno.test("tfjs's Node.js banner: a cpu backend made in a test module is quiet (test/_preload.ts)", () => {
  // The banner is printed only when tfjs believes it runs in Node, and neither flag that would
  // hide it is what hides it here.
  assert(tf.env().getBool("IS_NODE"), "tfjs should take Deno for Node");
  assert(!tf.env().getBool("IS_TEST") && !tf.env().getBool("PROD"), "IS_TEST / PROD are off");
  const warn = console.warn;
  const warned: string[] = [];
  console.warn = (...args: unknown[]) => void warned.push(args.map(String).join(" "));
  const fromFactory = tf.findBackendFactory("cpu")!() as tf.KernelBackend;
  // Control: the same backend class, constructed directly (first use not marked), does print it.
  const Cpu = fromFactory.constructor as new () => tf.KernelBackend;
  const direct = new Cpu();
  let quietWarnings: string[], directWarnings: string[];
  try {
    fromFactory.write(new Float32Array([1]), [1], "float32");
    quietWarnings = warned.splice(0);
    direct.write(new Float32Array([1]), [1], "float32");
    directWarnings = warned.splice(0);
  } finally {
    console.warn = warn;
    fromFactory.dispose();
    direct.dispose();
  }
  assertEquals(
    quietWarnings.filter((w) => w.includes(BANNER)),
    [],
    "the registered cpu factory makes noisy backends: is `deno task test` still passing " +
      "--preload test/_preload.ts?",
  );
  assertEquals(directWarnings.filter((w) => w.includes(BANNER)).length, 1, "control");
});
