/**
 * The rebalancing methods as the trainer sees them: a re-export of the method registry
 * (src/rebalance/registry.ts), kept so that imports of this module go on working.
 *
 * @module
 */
export * from "../rebalance/registry.ts";
