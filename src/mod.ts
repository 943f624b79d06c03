/**
 * AMSS/AMSS+ (Yang et al., "Learning to Rebalance Multi-Modal Optimization by Adaptively Masking
 * Subnetworks"): the engine as gradient transformations, with the paper's and the authors' code's
 * variants as named options; models, data, the trainer and its methods.
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
export * from "./backend/select.ts";
export * from "./models/mod.ts";
export { type Batch, batches, type Dataset, holdOut, type Split } from "./data/dataset.ts";
export * from "./data/synthetic.ts";
export * from "./data/npy.ts";
export * from "./train/trainer.ts";
export * from "./train/methods.ts";
export * from "./train/metrics.ts";
export type { TrainableModel } from "./train/model.ts";
