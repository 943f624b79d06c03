/**
 * The registry of `deno task proofs`: every claim module, in report order (claims 1-8).
 *
 * @module
 */

import type { Claim } from "../claim.ts";
import theorem3 from "./theorem3.ts";
import theorem4 from "./theorem4.ts";
import rates from "./rates.ts";
import unbiasedness from "./unbiasedness.ts";
import rebalancing from "./rebalancing.ts";
import barberAgakov from "./barber_agakov.ts";
import table8 from "./table8.ts";
import referenceVsPaper from "./reference_vs_paper.ts";
import fisherSelection from "./fisher_selection.ts";

/** Every claim, in report order: Theorem 3, Theorem 4, rates (claims 1-3), then claims 4-8. */
export const CLAIMS: readonly Claim[] = [
  theorem3,
  theorem4,
  rates,
  unbiasedness,
  rebalancing,
  barberAgakov,
  table8,
  referenceVsPaper,
  fisherSelection,
];
