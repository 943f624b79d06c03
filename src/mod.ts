/**
 * AMSS/AMSS+ (Yang et al., "Learning to Rebalance Multi-Modal Optimization by Adaptively Masking
 * Subnetworks"): the engine as gradient transformations, with the paper's and the authors' code's
 * variants as named options.
 *
 * @module
 */
export * from "./rng.ts";
export * from "./validate.ts";
export * from "./transform.ts";
export * from "./amss/amss.ts";
export * from "./amss/groups.ts";
export * from "./amss/units.ts";
export * from "./amss/sampling.ts";
export * from "./amss/mask.ts";
export * from "./amss/ratio.ts";
export * from "./amss/significance.ts";
export * from "./amss/information.ts";
