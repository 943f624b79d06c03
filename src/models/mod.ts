/**
 * Multi-modal models for AMSS/AMSS+ training: encoders (ResNet18, MLP, Transformer), fusions
 * (concat, sum, weight, FiLM, late, MMTM channel excitation, multi-layer LSTM) with the paper's
 * uni-modal predictions (Sec. 3.2.1), a JSON model builder and the bridge to the significance
 * estimators.
 *
 * @module
 */
export * from "./layers.ts";
export * from "./encoders.ts";
export * from "./fusion.ts";
export * from "./model.ts";
export * from "./build.ts";
export * from "./pretrained.ts";
