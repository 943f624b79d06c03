/**
 * `deno task proofs`, claims 1-3 (Theorem 3, Theorem 4, rates) in quick mode: each verdict equals
 * the one the suite has established, every number is finite, and every plot is an SVG document.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import theorem3, { EXPECTED as EXPECTED3 } from "../proofs/claims/theorem3.ts";
import theorem4, { EXPECTED as EXPECTED4 } from "../proofs/claims/theorem4.ts";
import rates, { EXPECTED as EXPECTED_RATES } from "../proofs/claims/rates.ts";

import { checkClaim } from "./_claims.ts";

const QUICK = { quick: true, seed: 1 };

Deno.test("claim theorem3 (quick): Eq. 12 holds with measured constants; verdict as established", async () => {
  const r = await theorem3.run(QUICK);
  checkClaim(r, "theorem3", EXPECTED3);
  assertEquals(r.numbers.assumption3Held, true);
  assertGreater(r.numbers.minSlack as number, 1);
});

Deno.test("claim theorem4 (quick): Eq. 25 holds for HT masks only; paper/reference scales biased", async () => {
  const r = await theorem4.run(QUICK);
  checkClaim(r, "theorem4", EXPECTED4);
  assertEquals(r.numbers.htBoundHeld, true);
  assertGreater(r.numbers.paperGain as number, 2);
  assertGreater(r.numbers.referenceGain as number, 1.5);
});

Deno.test("claim rates (quick): O(1/sqrt T) slopes; verdict as established", async () => {
  const r = await rates.run(QUICK);
  checkClaim(r, "rates", EXPECTED_RATES);
  assert((r.numbers.worstSlopeLastDecade as number) < -0.4);
});
