/**
 * Every code example in the library's JSDoc (each ```ts block of a `/** ... *\/` comment under
 * src/, `@example` or not) is documentation that must keep working, as `deno test --doc` would
 * check it:
 *
 * - type-checked: one test runs `deno check --doc src/`, which checks each block as Deno's doc tests
 *   do (a block may use its module's exports without importing them);
 * - run: one test per block, named `<file>#<first line>-<last line>`. The block is written to a
 *   temporary module (relative imports pointed at its source folder, the module's exports it uses
 *   without importing them imported for it) and imported, so a failed `assert` or a throw fails
 *   the test.
 *
 * All blocks run in this one isolate rather than one isolate each (as `deno test --doc` runs them):
 * with about 60 blocks, starting an isolate per block and loading tfjs into it took longer than the
 * blocks themselves. The blocks therefore share tfjs's global state (they all use the `cpu`
 * backend). A block fenced as `ts ignore` is skipped, as Deno skips it.
 */
import { assert } from "@std/assert";

const root = new URL("../", import.meta.url);
const FENCE = /^```(ts|typescript|js|javascript)(\s+ignore)?\s*$/;

interface Example {
  /** Source file, relative to the repository root. */
  file: string;
  /** 1-based lines of the fences that open and close the block. */
  first: number;
  last: number;
  code: string;
  ignored: boolean;
}

/** Every ```ts block inside a JSDoc comment of `text` (a source file's content). */
export function examplesOf(file: string, text: string): Example[] {
  const lines = text.split("\n");
  const out: Example[] = [];
  let inDoc = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!inDoc) {
      if (/^\s*\/\*\*/.test(line) && !/\*\/\s*$/.test(line)) inDoc = true;
      continue;
    }
    if (/\*\/\s*$/.test(line)) {
      inDoc = false;
      continue;
    }
    const open = line.replace(/^\s*\* ?/, "").match(FENCE);
    if (!open) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const content = lines[j].replace(/^\s*\* ?/, "");
      if (/^```\s*$/.test(content)) break;
      if (/\*\/\s*$/.test(lines[j])) throw new Error(`${file}:${i + 1}: unclosed code block`);
      body.push(content);
    }
    out.push({ file, first: i + 1, last: j + 1, code: body.join("\n"), ignored: !!open[2] });
    i = j;
  }
  return out;
}

/** Names the block binds itself: imported or declared at its top level (or anywhere: enough). */
function boundNames(code: string): Set<string> {
  const names = new Set<string>();
  for (const m of code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()?.trim();
      if (name) names.add(name);
    }
  }
  for (const m of code.matchAll(/import\s+(?:\*\s+as\s+)?([A-Za-z_$][\w$]*)\s+from/g)) {
    names.add(m[1]);
  }
  for (const m of code.matchAll(/\b(?:const|let|var|function|class)\s+([A-Za-z_$][\w$]*)/g)) {
    names.add(m[1]);
  }
  return names;
}

/** The block as a module of its own, importing what Deno's doc tests would import for it. */
async function moduleOf(ex: Example): Promise<string> {
  const source = new URL(ex.file, root);
  const exports = Object.keys(await import(source.href));
  const bound = boundNames(ex.code);
  const used = exports.filter((n) =>
    !bound.has(n) && new RegExp(`(^|[^\\w$.])${n.replace(/\$/g, "\\$")}\\b`).test(ex.code)
  );
  // relative specifiers are relative to the source file, not to the temporary one
  const code = ex.code.replace(
    /(from\s+|import\s*\(\s*)"(\.\.?\/[^"]+)"/g,
    (_m, head: string, spec: string) => `${head}"${new URL(spec, source).href}"`,
  );
  const header = used.length ? `import { ${used.join(", ")} } from "${source.href}";\n` : "";
  return header + code + "\nexport {};\n";
}

const files: string[] = [];
async function walk(dir: URL, rel: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
    else if (e.name.endsWith(".ts")) files.push(`${rel}${e.name}`);
  }
}
await walk(new URL("src/", root), "src/");
files.sort();
const examples: Example[] = [];
for (const file of files) {
  examples.push(...examplesOf(file, await Deno.readTextFile(new URL(file, root))));
}

Deno.test("the library's JSDoc has code examples, and this test finds them", () => {
  assert(examples.length >= 40, `found only ${examples.length} examples under src/`);
  const lines = examplesOf("x.ts", "/**\n * a\n * ```ts\n * f(1);\n * ```\n */\n");
  assert(lines.length === 1 && lines[0].code === "f(1);" && lines[0].first === 3);
});

Deno.test("every JSDoc example type-checks (deno check --doc src/)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--doc", "src/"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert(out.success, `deno check --doc src/ failed:\n${text}`);
});

const dir = await Deno.makeTempDir({ prefix: "amss-doc-examples-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
for (const ex of examples) {
  Deno.test({
    name: `example ${ex.file}#${ex.first}-${ex.last}`,
    ignore: ex.ignored,
    async fn() {
      const path = `${dir}/${ex.file.replaceAll("/", "_")}_${ex.first}.ts`;
      await Deno.writeTextFile(path, await moduleOf(ex));
      await import(`file://${path}`);
    },
  });
}
