/**
 * The proofs claim `fisher_selection` (proofs/claims/fisher_selection.ts): its verdict rule on
 * its boundaries, the statistics it is built from (Jaccard, chance Jaccard, Spearman, kappa), and
 * the claim itself in quick mode on the bench's models.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import claim, {
  chanceJaccard,
  fisherSelectionVerdict,
  jaccard,
  KAPPA_MIN,
  kappaOf,
  spearman,
} from "../proofs/claims/fisher_selection.ts";
import { checkClaim } from "./_claims.ts";

Deno.test("jaccard, chanceJaccard, spearman: values by hand", () => {
  const a = Uint8Array.from([1, 1, 0, 0, 1]), b = Uint8Array.from([1, 0, 0, 1, 1]);
  assertEquals(jaccard(a, b), 2 / 4);
  assertEquals(jaccard(new Uint8Array(3), new Uint8Array(3)), 1);
  // two independent halves of 100: E|A ∩ B| = 25, union 75
  assertAlmostEquals(chanceJaccard(50, 50, 100), 1 / 3, 1e-12);
  assertEquals(chanceJaccard(100, 100, 100), 1);
  assertAlmostEquals(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1, 1e-12);
  assertAlmostEquals(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, 1e-12);
  // ties get average ranks: ranks x = [1.5, 1.5, 3], y = [1, 2, 3]
  assertAlmostEquals(spearman([5, 5, 7], [1, 2, 3]), Math.sqrt(3) / 2, 1e-12);
});

Deno.test("kappaOf: ratio of mean above-chance agreements, delta-method SE; errors without a target", () => {
  const k = kappaOf({ x: [0.2, 0.4], y: [0.4, 0.4] });
  assertAlmostEquals(k.kappa, 0.75, 1e-12);
  // residuals x - 0.75 y = [-0.1, 0.1]: sd 0.1414, SE = sd / sqrt(2) / mean(y)
  assertAlmostEquals(k.se, Math.sqrt(0.02) / Math.sqrt(2) / 0.4, 1e-12);
  assertEquals(k.n, 2);
  assertThrows(() => kappaOf({ x: [0.1], y: [0.2] }), Error, ">= 2 paired cases");
  assertThrows(() => kappaOf({ x: [0.1, 0.2], y: [0, -0.1] }), Error, "at or below chance");
});

Deno.test("fisherSelectionVerdict: HOLDS when kappa >= KAPPA_MIN on every model, HOLDS-UNDER-CONDITION on the measure alone, else FAILS", () => {
  const k = (kappa: number) => ({ kappa, se: 0.01, n: 10 });
  const model = (name: string, paper: number, measure: number) => ({
    model: name,
    paper: k(paper),
    measure: k(measure),
  });
  const v = (...models: ReturnType<typeof model>[]) => fisherSelectionVerdict({ models });
  assertEquals(v(model("a", KAPPA_MIN, 0.1), model("b", 1, 1)), "HOLDS");
  // one model's normalisation breaks the selection, the measure holds everywhere
  assertEquals(
    v(model("a", 1, 1), model("b", KAPPA_MIN - 1e-9, KAPPA_MIN)),
    "HOLDS-UNDER-CONDITION",
  );
  assertEquals(v(model("a", 0.3, 1), model("b", 1, KAPPA_MIN - 1e-9)), "FAILS");
  assertThrows(() => v(model("a", NaN, 1)), Error, "kappa");
  assertThrows(() => v(), Error, "no models");
});

Deno.test("claim fisher_selection (quick): the bench's MLP and CNN; the measure is preserved, the modality-wide normalisation moves the CNN's units -> HOLDS-UNDER-CONDITION", async () => {
  const r = await claim.run({ quick: true, seed: 1 });
  checkClaim(r, "fisher_selection", "HOLDS-UNDER-CONDITION");
  const n = r.numbers;
  assertEquals(n.deciding, "mlp neuron, resnet reference");
  for (const m of ["mlp_neuron", "resnet_reference"]) {
    assert((n[`kappa_measure_${m}`] as number) >= KAPPA_MIN, `${m}: ${n[`kappa_measure_${m}`]}`);
  }
  assert((n.kappa_paper_mlp_neuron as number) >= KAPPA_MIN);
  assert((n.kappa_paper_resnet_reference as number) < KAPPA_MIN);
  // Sec. 3.2.2's count across the modality: the kept fractions times C_l add up to ceil(rho C)
  // in every case, so also in the mean (rho 0.5; audio 64 + 32 neurons, visual 32 + 32)
  const kept = (m: string, id: string) => n[`kept_fraction_rho0.5_${m}_paper_${id}`] as number;
  assertAlmostEquals(
    64 * kept("mlp_neuron", "audio/mlp/0") + 32 * kept("mlp_neuron", "audio/mlp/1"),
    48,
    1e-9,
  );
  assertAlmostEquals(
    32 * kept("mlp_neuron", "visual/mlp/0") + 32 * kept("mlp_neuron", "visual/mlp/1"),
    32,
    1e-9,
  );
  // in the CNN the modality-wide normalisation keeps the early convs whole and starves layer4
  // (per layer every conv keeps exactly half at rho 0.5)
  const conv = (l: string) => kept("resnet_reference", `audio/${l}/kernel`);
  assert(conv("layer1/0/conv1") > 0.9, `layer1 keeps ${conv("layer1/0/conv1")}`);
  assert(conv("layer4/1/conv2") < 0.4, `layer4 keeps ${conv("layer4/1/conv2")}`);
  // the scores are related but not the same ranking
  const rs = n.spearman_within_layer_mlp_neuron as number;
  assert(rs > 0.3 && rs < 0.99, `Spearman ${rs}`);
});
