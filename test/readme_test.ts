import { assert, assertStringIncludes } from "@std/assert";

/**
 * The README's example is documentation that must keep working: this test extracts the ```ts
 * block that follows the `<!-- example -->` marker, checks that it imports from the package's own
 * name and its subpaths only (as a user of the published package writes it), points those
 * imports at this checkout's modules (deno.json's `exports`), and runs it. The example ends with its own
 * check (throws on wrong ratios).
 */
Deno.test("the README example runs and its dominant modality gets the smaller ratio", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))) as {
    name: string;
    exports: Record<string, string>;
  };
  const marker = readme.indexOf("<!-- example");
  assert(marker >= 0, "README has no <!-- example --> marker");
  const start = readme.indexOf("```ts\n", marker) + "```ts\n".length;
  const code = readme.slice(start, readme.indexOf("\n```", start));
  const entry = JSON.stringify(config.name);
  assertStringIncludes(code, `from ${entry}`);
  const local = [...code.matchAll(/from "([^"]+)"/g)].map((m) => m[1])
    .filter((s) => s.startsWith(".") || s.startsWith("/"));
  assert(local.length === 0, `the example imports local files: ${local.join(", ")}`);
  // the package's name and its subpaths (`@amss-ts/amss/backend`) to this checkout's modules
  let localCode = code;
  for (const [sub, path] of Object.entries(config.exports)) {
    const name = JSON.stringify(config.name + sub.slice(1));
    const mod = JSON.stringify(new URL(`../${path}`, import.meta.url).href);
    localCode = localCode.replaceAll(`from ${name}`, `from ${mod}`);
  }
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, localCode);
    const log = console.log;
    console.log = () => {};
    try {
      await import(`file://${file}`);
    } finally {
      console.log = log;
    }
  } finally {
    await Deno.remove(file);
  }
});
