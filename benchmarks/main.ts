/**
 * `deno task bench`. End-to-end training (baselines, rebalancing methods, AMSS, AMSS+) arrives
 * with the training issue; until then this task says so and runs the engine benchmark, which
 * measures the AMSS step on a ResNet18-sized parameter set.
 */
console.log(
  "deno task bench: end-to-end training benchmarks are not yet implemented (training issue).\n" +
    "Running the AMSS engine benchmark (benchmarks/amss_step.ts) instead:\n",
);
await import("./amss_step.ts");
