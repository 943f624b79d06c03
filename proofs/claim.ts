/**
 * The shape every claim module of `deno task proofs` returns. A claim checks one statement of the
 * paper by computation and returns a verdict with the numbers behind it; `expected` records the
 * outcome this suite has established, so a change of verdict fails the run (CI guards findings).
 *
 * @module
 */

/** HOLDS: the statement is true as stated on our evidence. FAILS: false as stated, with a
 * quantified counterexample. HOLDS-UNDER-CONDITION: true only under a condition the paper does not
 * state (the condition is named in `summary`). */
export type Verdict = "HOLDS" | "FAILS" | "HOLDS-UNDER-CONDITION";

/** A plot produced by a claim: an SVG document and a file name (without folder). */
export interface Plot {
  file: string;
  title: string;
  svg: string;
}

/** What a claim reports. */
export interface ClaimResult {
  /** Stable id, e.g. "theorem3". */
  id: string;
  /** One-line statement of the claim, in our words. */
  title: string;
  /** Where the paper makes it, e.g. "Theorem 3, Eq. 12 (App. A.1)". */
  reference: string;
  verdict: Verdict;
  /** The verdict this suite has established for this claim (regression guard). */
  expected: Verdict;
  /** Key numbers in one line, for the verdict table. */
  summary: string;
  /** Named figures (for the JSON report). */
  numbers: Record<string, number | string | boolean>;
  /** Markdown paragraph(s) with the evidence, for the report. */
  details: string;
  plots: Plot[];
}

/** Options every claim receives. */
export interface ClaimOptions {
  /** CI mode: fewer draws, shorter horizons; the whole suite under 3 minutes on 2 cores. */
  quick: boolean;
  /** Base seed; claims derive their own seeds from it. */
  seed: number;
}

/** A claim module's default export. */
export interface Claim {
  id: string;
  run(opts: ClaimOptions): ClaimResult | Promise<ClaimResult>;
}
