/** Checks shared by the claim tests: a claim result is well formed and has the established verdict. */
import { assert, assertEquals, assertGreater } from "@std/assert";
import type { ClaimResult, Verdict } from "../proofs/claim.ts";

/** Verdict as established (`expected`), text present, finite numbers, NaN-free SVG plots. */
export function checkClaim(r: ClaimResult, id: string, expected: Verdict): void {
  assertEquals(r.id, id);
  assertEquals(r.expected, expected);
  assertEquals(r.verdict, r.expected, `${id}: ${r.summary}`);
  assert(
    r.summary.length > 0 && r.details.length > 0 && r.reference.length > 0 && r.title.length > 0,
  );
  for (const [k, v] of Object.entries(r.numbers)) {
    if (typeof v === "number") assert(Number.isFinite(v), `${id}: numbers.${k} = ${v}`);
  }
  assertGreater(r.plots.length, 0);
  for (const p of r.plots) {
    assert(/^[a-z0-9_]+\.svg$/.test(p.file), p.file);
    assert(p.svg.startsWith("<svg") && p.svg.endsWith("</svg>"), p.file);
    assert(!p.svg.includes("NaN"), `${p.file} contains NaN coordinates`);
  }
}
