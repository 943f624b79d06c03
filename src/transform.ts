/**
 * Gradient transformations in the init/update style of optax: each piece of an optimizer is a
 * pair `init(params) -> state`, `update(updates, state, ctx) -> updates`, and {@link chain}
 * composes them. AMSS is one such piece, so "mask the gradient before momentum and weight decay"
 * (the authors' code) and "mask the update" (the paper's Eq. 1) are two orders of one chain:
 *
 * ```ts
 * import { amss, chain, modalityByPrefix, paperUnits, planMasks, sgd } from "@amss-ts/amss";
 * const plan = planMasks({ "audio/w": { shape: [8, 4] }, "visual/w": { shape: [8, 4] } }, {
 *   modalities: ["audio", "visual"],
 *   modalityOf: modalityByPrefix(["audio", "visual"]),
 *   unitOf: paperUnits,
 * });
 * const cfg = { plan, significance: { mode: "paper" as const, tau: 0.25 }, seed: 1 };
 * chain(amss(cfg), sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 })); // mask gradients
 * chain(sgd({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }), amss(cfg)); // mask updates (Eq. 1)
 * ```
 *
 * Conventions (tfjs memory): `update` never disposes its input tensors and returns tensors that
 * are either new or the very input objects passed through; {@link chain} disposes what it no
 * longer needs. State tensors are `tf.Variable`s updated in place with `assign`, so a state object
 * lives as long as the run and is disposed with {@link disposeState}.
 *
 * In `chain(amss(...), sgd(...))` on wasm, AMSS leaves its per-unit mask to {@link sgd}'s fused
 * kernel instead of multiplying the gradients itself (bit-identical, one pass fewer): an internal
 * handshake of that pair (src/unit_scale.ts), not part of the interface below.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { AmssExtras, AmssInfo } from "./amss/amss_config.ts";
import {
  AmssArgumentError,
  describeValue,
  listNames,
  requireFinite,
  requireInRange,
  requirePositive,
} from "./validate.ts";
import type { Params, TensorMap } from "./types.ts";
import {
  acceptsUnitScale,
  acceptUnitScale,
  mayDeferUnitScale,
  pendingUnitScale,
  setMayDeferUnitScale,
  takeUnitScale,
  type UnitScale,
} from "./unit_scale.ts";

export type { Params, TensorMap } from "./types.ts";

/** What every transform sees besides the updates. */
export interface UpdateContext {
  /** The parameters (read only: transforms never assign them). */
  params: Params;
  /** The raw gradients that entered the chain (AMSS scores importance on these). */
  grads: TensorMap;
  /** 1-based step number. */
  step: number;
  /** Per-step inputs for transforms that need more than gradients (e.g. AMSS's batch). */
  extras: Record<string, unknown>;
  /** Transforms write per-step figures here for logging (e.g. `info.amss`). */
  info: Record<string, unknown>;
}

/** One piece of an optimizer. */
export interface GradientTransformation<S = unknown> {
  /** The initial state for `params` (tensors in it live until {@link disposeState}). */
  init(params: Params): S;
  /** The transformed updates; the state is updated in place. */
  update(updates: TensorMap, state: S, ctx: UpdateContext): TensorMap | Promise<TensorMap>;
}

/** A learning rate: a constant or a function of the 1-based step. */
export type Schedule = number | ((step: number) => number);

function rateAt(lr: Schedule, step: number): number {
  const v = typeof lr === "number" ? lr : lr(step);
  return requireFinite("learning rate", v);
}

/** Step decay: `lr * gamma^(number of milestones <= epoch(step))` (Appendix C.1: x0.1 when the loss saturates). */
export function stepDecay(
  lr: number,
  milestones: number[],
  gamma: number,
  stepsPerEpoch: number,
): (step: number) => number {
  requirePositive("lr", lr);
  requirePositive("gamma", gamma);
  requirePositive("stepsPerEpoch", stepsPerEpoch);
  return (step) => {
    const epoch = Math.floor((step - 1) / stepsPerEpoch);
    return lr * Math.pow(gamma, milestones.filter((m) => epoch >= m).length);
  };
}

function disposeReplaced(prev: TensorMap, next: TensorMap, keep: TensorMap): void {
  const live = new Set<tf.Tensor>([...Object.values(next), ...Object.values(keep)]);
  for (const t of Object.values(prev)) if (!live.has(t) && !t.isDisposed) t.dispose();
}

/**
 * Composes transformations left to right; the state is the array of the parts' states. (Inside,
 * it tells each part whether the next one takes a deferred unit scale: src/unit_scale.ts.)
 */
export function chain(...parts: GradientTransformation[]): GradientTransformation<unknown[]> {
  return acceptUnitScale({
    init: (params) => parts.map((p) => p.init(params)),
    async update(updates, state, ctx) {
      if (!Array.isArray(state) || state.length !== parts.length) {
        throw new AmssArgumentError(
          `chain: the state passed is not this chain's state (an array of ${parts.length} part ` +
            `states, from its init(params)); got ${describeValue(state)}. Pass the object this ` +
            `optimizer's init(params) returned, not the parameters or another optimizer's state.`,
        );
      }
      const outer = mayDeferUnitScale(ctx);
      let cur = updates;
      try {
        for (let i = 0; i < parts.length; i++) {
          setMayDeferUnitScale(
            ctx,
            i + 1 < parts.length ? acceptsUnitScale(parts[i + 1]) : outer,
          );
          const next = await parts[i].update(cur, state[i], ctx);
          if (pendingUnitScale(ctx) && !mayDeferUnitScale(ctx)) {
            takeUnitScale(ctx)!.scale.dispose();
            throw new Error(`chain: part ${i} left a unit scale that nothing after it applies`);
          }
          if (cur !== updates) disposeReplaced(cur, next, updates);
          cur = next;
        }
      } finally {
        setMayDeferUnitScale(ctx, outer);
      }
      return cur;
    },
  }, () => acceptsUnitScale(parts[0] ?? {}));
}

/**
 * Applies and clears a unit scale left in `ctx` (tf ops, any backend): the updates it names are
 * replaced by new tensors (the caller disposes them), the others are passed through.
 */
export function applyPendingUnitScale(updates: TensorMap, ctx: UpdateContext): TensorMap {
  const pending = takeUnitScale(ctx);
  if (!pending) return updates;
  const out: TensorMap = { ...updates };
  tf.tidy(() => {
    for (const [name, [pre, units, post, off]] of pending.views) {
      const u = updates[name];
      if (!u) throw new RangeError(`unit scale names ${name}, which has no update`);
      const sc = tf.slice(pending.scale, off, units);
      out[name] = tf.keep(
        post === 1 && u.shape[u.rank - 1] === units
          ? tf.mul(u, sc)
          : tf.mul(u.reshape([pre, units, post]), sc.reshape([1, units, 1])).reshape(u.shape),
      );
    }
  });
  pending.scale.dispose();
  return out;
}

function mapTensors(
  updates: TensorMap,
  fn: (name: string, u: tf.Tensor) => tf.Tensor,
): TensorMap {
  const out: TensorMap = {};
  for (const [name, u] of Object.entries(updates)) out[name] = tf.tidy(() => fn(name, u));
  return out;
}

/** Adds `weightDecay * w` to each update (L2 decay as PyTorch's SGD/Adam `weight_decay`). */
export function addWeightDecay(
  weightDecay: number,
  mask: (name: string) => boolean = () => true,
): GradientTransformation<null> {
  requireInRange("weightDecay", weightDecay, 0, Infinity);
  return {
    init: () => null,
    update: (updates, _s, ctx) =>
      weightDecay === 0
        ? updates
        : mapTensors(updates, (name, u) =>
          mask(name) ? tf.add(u, tf.mul(ctx.params[name], weightDecay)) : u),
  };
}

/** State of {@link momentum}: one buffer per parameter. */
export interface MomentumState {
  buffers: Record<string, tf.Variable>;
  started: boolean;
}

/** Heavy-ball momentum as PyTorch SGD (dampening 0, Nesterov off): `b = mu*b + g` (b = g at the first step). */
export function momentum(mu: number): GradientTransformation<MomentumState> {
  requireInRange("momentum", mu, 0, 1);
  return {
    init: (params) => ({
      buffers: Object.fromEntries(
        Object.entries(params).map((
          [n, p],
        ) => [n, tf.tidy(() => tf.variable(tf.zerosLike(p), false))]),
      ),
      started: false,
    }),
    update(updates, state) {
      if (mu === 0) return updates;
      const out: TensorMap = {};
      for (const [name, u] of Object.entries(updates)) {
        const b = state.buffers[name];
        tf.tidy(() => b.assign(state.started ? tf.add(tf.mul(b, mu), u) : u));
        out[name] = tf.clone(b);
      }
      state.started = true;
      return out;
    },
  };
}

/** Multiplies updates by `-lr(step)` so that {@link applyUpdates} descends. */
export function scaleByLearningRate(lr: Schedule): GradientTransformation<null> {
  return {
    init: () => null,
    update(updates, _s, ctx) {
      const r = -rateAt(lr, ctx.step);
      return mapTensors(updates, (_n, u) => tf.mul(u, r));
    },
  };
}

/** State of {@link scaleByAdam}. */
export interface AdamState {
  m: Record<string, tf.Variable>;
  v: Record<string, tf.Variable>;
  t: number;
}

/** Adam's direction `mhat / (sqrt(vhat) + eps)` with bias correction (Kingma & Ba; PyTorch's defaults). */
export function scaleByAdam(
  { beta1 = 0.9, beta2 = 0.999, eps = 1e-8 }: { beta1?: number; beta2?: number; eps?: number } = {},
): GradientTransformation<AdamState> {
  requireInRange("beta1", beta1, 0, 1);
  requireInRange("beta2", beta2, 0, 1);
  requirePositive("eps", eps);
  const zeros = (params: Params) =>
    Object.fromEntries(
      Object.entries(params).map((
        [n, p],
      ) => [n, tf.tidy(() => tf.variable(tf.zerosLike(p), false))]),
    );
  return {
    init: (params) => ({ m: zeros(params), v: zeros(params), t: 0 }),
    update(updates, state) {
      state.t += 1;
      const c1 = 1 - Math.pow(beta1, state.t);
      const c2 = 1 - Math.pow(beta2, state.t);
      const out: TensorMap = {};
      for (const [name, g] of Object.entries(updates)) {
        const m = state.m[name];
        const v = state.v[name];
        out[name] = tf.tidy(() => {
          m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
          v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
          return tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        });
      }
      return out;
    },
  };
}

/** Options of {@link sgd}. */
export interface SgdOptions {
  /** Learning rate, constant or per step. */
  lr: Schedule;
  /** Heavy-ball momentum in [0, 1) (PyTorch's, dampening 0). Default 0. */
  momentum?: number;
  /** L2 weight decay added to the gradient, >= 0. Default 0. */
  weightDecay?: number;
}

/**
 * Name of an optional backend kernel for one fused {@link sgd} step of one variable: inputs `g`
 * (the update so far), `p` (the variable, when weight decay is on) and `b` (its momentum buffer,
 * when momentum is on); attributes `lr`, `mu`, `wd`, `started`; outputs the descent step
 * `-lr * b'` and, with momentum, the new buffer `b'`, where `d = g + wd * p` and
 * `b' = started ? mu * b + d : d`, each operation rounded to float32 as the unfused chain's tf ops
 * round it, so both give bit-identical results. src/backend/wasm_kernels.ts registers it for wasm.
 */
export const SGD_STEP_KERNEL = "AmssSgdStep";

/**
 * SGD as PyTorch's `torch.optim.SGD` (momentum, weight decay, dampening 0, Nesterov off): weight
 * decay, then momentum, then the learning rate, as a chain of three transformations whose state is
 * `[null, MomentumState, null]`. Where the active backend has the fused step kernel (wasm, once
 * the training kernels are registered), the three run as one kernel per variable instead of about
 * seven tf ops, with the same state and bit-identical results.
 */
export function sgd(
  { lr, momentum: mu = 0, weightDecay = 0 }: SgdOptions,
): GradientTransformation<unknown[]> {
  const inner = chain(addWeightDecay(weightDecay), momentum(mu), scaleByLearningRate(lr));
  const fused = () => tf.getKernel(SGD_STEP_KERNEL, tf.getBackend()) != null;
  // the fused kernel multiplies by a deferred unit scale in the same pass
  return acceptUnitScale(
    {
      init: inner.init,
      async update(updates: TensorMap, state: unknown[], ctx: UpdateContext): Promise<TensorMap> {
        if (!fused()) {
          const scaled = applyPendingUnitScale(updates, ctx);
          const res = await inner.update(scaled, state, ctx);
          if (scaled !== updates) disposeReplaced(scaled, res, updates);
          return res;
        }
        const pending = takeUnitScale(ctx);
        try {
          return stepFused(updates, state, ctx, pending);
        } finally {
          pending?.scale.dispose();
        }
      },
    } satisfies GradientTransformation<unknown[]>,
    fused,
  );

  function stepFused(
    updates: TensorMap,
    state: unknown[],
    ctx: UpdateContext,
    pending: UnitScale | undefined,
  ): TensorMap {
    for (const name of pending?.views.keys() ?? []) {
      if (!updates[name]) throw new RangeError(`unit scale names ${name}, which has no update`);
    }
    const ms = state[1] as MomentumState;
    const lrNow = rateAt(lr, ctx.step);
    const out: TensorMap = {};
    for (const [name, g] of Object.entries(updates)) {
      const inputs: Record<string, tf.Tensor> = { g };
      const view = pending?.views.get(name);
      if (view) inputs.s = pending!.scale;
      if (weightDecay > 0) {
        if (!ctx.params[name]) {
          throw new RangeError(
            `sgd: no parameter named ${JSON.stringify(name)} for weight decay`,
          );
        }
        inputs.p = ctx.params[name];
      }
      if (mu > 0) inputs.b = ms.buffers[name];
      const res = tf.engine().runKernel(SGD_STEP_KERNEL, inputs, {
        lr: lrNow,
        mu,
        wd: weightDecay,
        started: ms.started,
        ...(view ? { view: [...view] } : {}),
      } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      if (mu > 0) {
        ms.buffers[name].assign(res[1]);
        res[1].dispose();
      }
      out[name] = res[0];
    }
    if (mu > 0) ms.started = true;
    return out;
  }
}

/** Options of {@link adam}. */
export interface AdamOptions {
  /** Learning rate, constant or per step. */
  lr: Schedule;
  /** Decay of the first-moment average. Default 0.9. */
  beta1?: number;
  /** Decay of the second-moment average. Default 0.999. */
  beta2?: number;
  /** Added to the square root of the second moment. Default 1e-8. */
  eps?: number;
  /** L2 weight decay added to the gradient, >= 0. Default 0. */
  weightDecay?: number;
}

/** Adam as PyTorch's `torch.optim.Adam` (L2 weight decay added to the gradient). */
export function adam(
  { lr, beta1, beta2, eps, weightDecay = 0 }: AdamOptions,
): GradientTransformation<unknown[]> {
  return chain(
    addWeightDecay(weightDecay),
    scaleByAdam({ beta1, beta2, eps }),
    scaleByLearningRate(lr),
  );
}

/** State of {@link scaleByAdagrad}: the running sum of squared gradients per parameter. */
export interface AdagradState {
  sum: Record<string, tf.Variable>;
}

/**
 * AdaGrad's scaling `g / (sqrt(sum g^2) + eps)` with the sum started at `initialAccumulator`, as
 * PyTorch's `torch.optim.Adagrad` (eps 1e-10, no learning-rate decay). The paper's Fig. 3 runs
 * AMSS with SGD, AdaGrad and Adam.
 */
export function scaleByAdagrad(
  { eps = 1e-10, initialAccumulator = 0 }: { eps?: number; initialAccumulator?: number } = {},
): GradientTransformation<AdagradState> {
  requirePositive("eps", eps);
  requireInRange("initialAccumulator", initialAccumulator, 0, Infinity);
  return {
    init: (params) => ({
      sum: Object.fromEntries(
        Object.entries(params).map((
          [n, p],
        ) => [n, tf.tidy(() => tf.variable(tf.fill(p.shape, initialAccumulator), false))]),
      ),
    }),
    update(updates, state) {
      const out: TensorMap = {};
      for (const [name, g] of Object.entries(updates)) {
        const acc = state.sum[name];
        out[name] = tf.tidy(() => {
          acc.assign(tf.add(acc, tf.square(g)));
          return tf.div(g, tf.add(tf.sqrt(acc), eps));
        });
      }
      return out;
    },
  };
}

/** Options of {@link adagrad}. */
export interface AdagradOptions {
  /** Learning rate, constant or per step. */
  lr: Schedule;
  /** Added to the square root of the accumulated sum. Default 1e-10. */
  eps?: number;
  /** Starting value of the sum of squared gradients, >= 0. Default 0. */
  initialAccumulator?: number;
  /** L2 weight decay added to the gradient, >= 0. Default 0. */
  weightDecay?: number;
}

/** AdaGrad as PyTorch's `torch.optim.Adagrad` (L2 weight decay added to the gradient). */
export function adagrad(
  { lr, eps, initialAccumulator, weightDecay = 0 }: AdagradOptions,
): GradientTransformation<unknown[]> {
  return chain(
    addWeightDecay(weightDecay),
    scaleByAdagrad({ eps, initialAccumulator }),
    scaleByLearningRate(lr),
  );
}

/** `w <- w + u` for every parameter with an update. */
export function applyUpdates(params: Params, updates: TensorMap): void {
  for (const [name, u] of Object.entries(updates)) {
    const p = params[name];
    if (!p) throw new RangeError(`applyUpdates: no parameter named ${JSON.stringify(name)}`);
    tf.tidy(() => p.assign(tf.add(p, u)));
  }
}

/** Disposes every tensor reachable from a transform state (arrays and plain objects). */
export function disposeState(state: unknown): void {
  if (state instanceof tf.Tensor) {
    if (!state.isDisposed) state.dispose();
  } else if (Array.isArray(state)) {
    state.forEach(disposeState);
  } else if (state && typeof state === "object") {
    Object.values(state).forEach(disposeState);
  }
}

/**
 * Per-step inputs of {@link step}: AMSS's ({@link AmssExtras}: `batch`, `ratios`, `fisher`) and
 * those of the trainer's rebalancing methods. A misspelled name is a type error.
 */
export interface StepExtras extends AmssExtras {
  /** The step's fused logits, `B * C` row-major (the trainer's AGM method reads them). */
  fused?: ArrayLike<number>;
  /** 0-based epoch of the step (the trainer's greedy method reads it). */
  epoch?: number;
}

/** What {@link step} returns: the per-step figures the transforms reported, by transform. */
export interface StepInfo {
  /** {@link amss}'s report (ratios, kept units per group, largest mask weight, significance). */
  amss?: AmssInfo;
  /** Other transforms' reports (e.g. the trainer's rebalancing methods). */
  [transform: string]: unknown;
}

/**
 * `grads` keyed by `params`' keys. Gradients may come keyed by those keys or by the variables'
 * `tf.Variable.name` (what `tf.variableGrads(loss, Object.values(params)).grads` returns), or a
 * mix; a key that is neither throws {@link AmssArgumentError} listing the keys it got and the keys
 * it expected. When every key already is a parameter key, `grads` itself is returned.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { gradsByParamName } from "@amss-ts/amss";
 *
 * const params = { "audio/w": tf.variable(tf.ones([2])), "visual/w": tf.variable(tf.ones([2])) };
 * const { grads } = tf.variableGrads(
 *   () => tf.sum(tf.mul(params["audio/w"], params["visual/w"])),
 *   Object.values(params),
 * );
 * assert(Object.keys(gradsByParamName(params, grads)).join() === "audio/w,visual/w");
 * ```
 */
export function gradsByParamName(params: Params, grads: TensorMap): TensorMap {
  const keys = Object.keys(grads);
  if (keys.every((k) => Object.hasOwn(params, k))) return grads;
  const byVariable = new Map<string, string>();
  for (const [key, p] of Object.entries(params)) {
    if (p && typeof p.name === "string") byVariable.set(p.name, key);
  }
  const out: TensorMap = {};
  const unknown: string[] = [];
  for (const k of keys) {
    const key = Object.hasOwn(params, k) ? k : byVariable.get(k);
    if (key === undefined) unknown.push(k);
    else if (Object.hasOwn(out, key)) {
      throw new AmssArgumentError(
        `gradients: parameter ${key} has two gradients (under ${key} and its variable name)`,
      );
    } else out[key] = grads[k];
  }
  if (unknown.length) {
    throw new AmssArgumentError(
      `gradients are keyed ${listNames(keys)}, but ${listNames(unknown)} ${
        unknown.length === 1 ? "is" : "are"
      } neither a parameter key nor a parameter's tf.Variable name; expected the parameter keys ` +
        `${listNames(Object.keys(params))} (or their variable names ${
          listNames([...byVariable.keys()])
        })`,
    );
  }
  return out;
}

/**
 * Runs `transform` on `grads`, applies the result to `params` and disposes every tensor it
 * created (the caller still owns `grads`). Returns the per-step info the transforms reported.
 * `grads` may be keyed by `params`' keys or by the variables' names, as `tf.variableGrads`
 * returns them ({@link gradsByParamName}). `state` must be what `transform.init(params)` returned.
 */
export async function step<S>(
  params: Params,
  grads: TensorMap,
  transform: GradientTransformation<S>,
  state: S,
  stepNumber: number,
  extras: StepExtras = {},
): Promise<StepInfo> {
  const info: StepInfo = {};
  const keyed = gradsByParamName(params, grads);
  const updates = await transform.update(keyed, state, {
    params,
    grads: keyed,
    step: stepNumber,
    extras: extras as Record<string, unknown>,
    info,
  });
  applyUpdates(params, updates);
  disposeReplaced(updates, {}, keyed);
  return info;
}
