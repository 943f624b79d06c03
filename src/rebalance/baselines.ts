/**
 * The baselines: `joint` (the fused cross-entropy, no rebalancing) and `unimodal` (one modality's
 * uni-modal cross-entropy, the other encoders untouched).
 *
 * @module
 */
import { AmssArgumentError } from "../validate.ts";
import type { Method, MethodContext } from "./base.ts";
import type { OptionsSchema } from "./schema.ts";

/** Options of `unimodal`. */
export interface UnimodalOptions {
  /** unimodal: which modality is trained alone. */
  modality?: string;
}

/** The schema of {@link UnimodalOptions}. */
export const UNIMODAL_SCHEMA: OptionsSchema<UnimodalOptions> = { modality: { kind: "modality" } };

/** Builds `joint`. */
export function createJoint(): Method {
  return { name: "joint", label: "joint (concat baseline)", lossOn: "fused", transform: null };
}

/** Builds `unimodal` (`modality` is required). */
export function createUnimodal(opts: UnimodalOptions, ctx: MethodContext): Method {
  const { modalities } = ctx;
  const k = modalities.indexOf(opts.modality ?? "");
  if (k < 0) {
    throw new AmssArgumentError(
      `unimodal: option modality must be one of ${modalities.join(", ")}, got ${opts.modality}`,
    );
  }
  return { name: "unimodal", label: `unimodal (${opts.modality})`, lossOn: k, transform: null };
}
