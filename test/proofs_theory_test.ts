/**
 * `deno task proofs`, claims 1-3 (Theorem 3, Theorem 4, rates) in quick mode: each verdict equals
 * the one the suite has established (pinned here as a literal, so a change to a module's expected
 * verdict alone fails), every number is finite, and every plot is an SVG document. The verdict
 * rules themselves are tested on constructed inputs in `proofs_rules_test.ts`.
 */
import { assert, assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import theorem3 from "../proofs/claims/theorem3.ts";
import theorem4, { UNBIASED_TOL } from "../proofs/claims/theorem4.ts";
import rates, { SLOPE_MAX } from "../proofs/claims/rates.ts";

import { checkClaim } from "./_claims.ts";

const QUICK = { quick: true, seed: 1 };

Deno.test("claim theorem3 (quick): Eq. 12 holds with measured constants -> HOLDS", async () => {
  const r = await theorem3.run(QUICK);
  checkClaim(r, "theorem3", "HOLDS");
  assertEquals(r.numbers.assumption3Held, true);
  assertGreater(r.numbers.minSlack as number, 1);
});

Deno.test("claim theorem4 (quick): Eq. 25 holds for HT masks only -> HOLDS-UNDER-CONDITION", async () => {
  const r = await theorem4.run(QUICK);
  checkClaim(r, "theorem4", "HOLDS-UNDER-CONDITION");
  assertEquals(r.numbers.htBoundHeld, true);
  // HT unbiasedness by plain Monte Carlo over masks, and the paper's scales biased beyond it
  assertLessOrEqual(r.numbers.htMaxCondBias as number, UNBIASED_TOL);
  assertGreater(r.numbers.biasedMinRelBias as number, UNBIASED_TOL);
  assertGreater(r.numbers.paperGain as number, 2);
  assertGreater(r.numbers.referenceGain as number, 1.5);
});

Deno.test("claim rates (quick): O(1/sqrt T), slowdown not 1/(1-delta^2) -> HOLDS-UNDER-CONDITION", async () => {
  const r = await rates.run(QUICK);
  checkClaim(r, "rates", "HOLDS-UNDER-CONDITION");
  assert((r.numbers.worstSlopeLastDecade as number) <= SLOPE_MAX);
  assertEquals(r.numbers.boundsHeld, true);
  assertEquals(r.numbers.htMatchesSgd, true);
  assertEquals(r.numbers.slowdownWithinAbout, false);
});
