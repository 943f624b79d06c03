/**
 * Internal: the handshake by which {@link amss} leaves its per-unit mask to {@link sgd}'s fused
 * kernel instead of multiplying the updates itself. It is a speed path of that one pair, not part
 * of the `GradientTransformation` contract: a transform that takes a deferred scale is marked
 * with a module-private symbol ({@link acceptUnitScale}), and the per-step flags live in a
 * `WeakMap` keyed by the update context, so a third-party transform never sees either. {@link chain}
 * tells each part whether the next one takes the scale, and throws on one that nothing applies.
 *
 * Not exported from any entry point.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { UpdateContext } from "./transform.ts";

/**
 * A per-unit scale still to be applied to some updates: update `name` times `scale[off + u]` on
 * unit u of its `[pre, units, post]` view, `views[name] = [pre, units, post, off]`. The consumer
 * owns and disposes `scale` ({@link takeUnitScale} removes it from the context).
 */
export interface UnitScale {
  /** The per-unit factors of every named update, concatenated. */
  scale: tf.Tensor1D;
  /** Per update name: its `[pre, units, post]` view and the offset of its units in `scale`. */
  views: ReadonlyMap<string, readonly [number, number, number, number]>;
}

// An own enumerable property, so a transform copied with spread (`{ ...sgd(o), update }`) still
// accepts the scale, as it did when this was a public method.
const ACCEPTS: unique symbol = Symbol("amss.acceptsUnitScale");

interface Accepting {
  [ACCEPTS]?: () => boolean;
}

/** Marks `transform` as applying a deferred scale whenever `accepts()` says so; returns it. */
export function acceptUnitScale<T extends object>(
  transform: T,
  accepts: () => boolean,
): T {
  (transform as T & Accepting)[ACCEPTS] = accepts;
  return transform;
}

/** True when `transform` will apply a deferred scale left by the part before it. */
export function acceptsUnitScale(transform: object): boolean {
  return (transform as Accepting)[ACCEPTS]?.() ?? false;
}

const DEFER = new WeakMap<UpdateContext, boolean>();
const PENDING = new WeakMap<UpdateContext, UnitScale>();

/** Set by {@link chain}: whether the next part applies a scale left in this context. */
export function mayDeferUnitScale(ctx: UpdateContext): boolean {
  return DEFER.get(ctx) ?? false;
}

/** Sets what {@link mayDeferUnitScale} says for `ctx`. */
export function setMayDeferUnitScale(ctx: UpdateContext, defer: boolean): void {
  DEFER.set(ctx, defer);
}

/** Leaves `scale` in `ctx` for the next part (only when {@link mayDeferUnitScale} allows it). */
export function deferUnitScale(ctx: UpdateContext, scale: UnitScale): void {
  PENDING.set(ctx, scale);
}

/** The scale left in `ctx`, if any, without taking it. */
export function pendingUnitScale(ctx: UpdateContext): UnitScale | undefined {
  return PENDING.get(ctx);
}

/** Takes the scale left in `ctx` (the caller then owns and disposes it). */
export function takeUnitScale(ctx: UpdateContext): UnitScale | undefined {
  const pending = PENDING.get(ctx);
  PENDING.delete(ctx);
  return pending;
}
