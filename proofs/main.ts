/**
 * `deno task proofs`: verdicts on the paper's theoretical claims. Not yet implemented (proofs
 * issue). Until then the property tests in `test/` (run by `deno task test`) check the engine's
 * side of the claims: unbiasedness of Horvitz-Thompson masks, the bias of the paper's and the
 * reference scales, the Barber-Agakov bound and the behaviour of Eq. 4 in tau.
 */
console.log("deno task proofs: not yet implemented (proofs issue). No verdicts are reported yet.");
Deno.exit(2);
