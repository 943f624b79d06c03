import { assert, assertStringIncludes } from "@std/assert";

/**
 * The README's example is documentation that must keep working: this test extracts the ```ts
 * block that follows the `<!-- example -->` marker, points its `./src/mod.ts` import at this
 * checkout, and runs it. The example ends with its own check (throws on wrong ratios).
 */
Deno.test("the README example runs and its dominant modality gets the smaller ratio", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const marker = readme.indexOf("<!-- example");
  assert(marker >= 0, "README has no <!-- example --> marker");
  const start = readme.indexOf("```ts\n", marker) + "```ts\n".length;
  const code = readme.slice(start, readme.indexOf("\n```", start));
  assertStringIncludes(code, `from "./src/mod.ts"`);
  const mod = new URL("../src/mod.ts", import.meta.url).href;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, code.replace(`"./src/mod.ts"`, JSON.stringify(mod)));
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
