/**
 * The optimizer of a run from its {@link OptimizerConfig} (Appendix C.1): the learning rate
 * schedule (constant, or step decay by `gamma` at each milestone epoch) and SGD with momentum and
 * weight decay, Adam or AdaGrad on it, with {@link OPTIMIZER_DEFAULTS} for what the configuration
 * leaves out. The trainer chains it with the method's transformation.
 *
 * @module
 */
import {
  adagrad,
  adam,
  type GradientTransformation,
  type Schedule,
  sgd,
  stepDecay,
} from "../transform.ts";
import { AmssArgumentError } from "../validate.ts";
import { OPTIMIZER_DEFAULTS, type OptimizerConfig } from "./types.ts";

/** The run's learning rate schedule (built once: the optimizer and the epoch records read it). */
export function learningRate(cfg: OptimizerConfig, stepsPerEpoch: number): Schedule {
  return cfg.milestones?.length
    ? stepDecay(cfg.lr, cfg.milestones, cfg.gamma ?? OPTIMIZER_DEFAULTS.gamma, stepsPerEpoch)
    : cfg.lr;
}

/**
 * The optimizer `cfg` names, on the schedule `lr` (from {@link learningRate}); an unknown `kind` is
 * an error.
 */
export function buildOptimizer(cfg: OptimizerConfig, lr: Schedule): GradientTransformation {
  const d = OPTIMIZER_DEFAULTS;
  if (cfg.kind === "sgd") {
    return sgd({
      lr,
      momentum: cfg.momentum ?? d.momentum,
      weightDecay: cfg.weightDecay ?? d.weightDecay,
    });
  }
  if (cfg.kind === "adam") return adam({ lr, weightDecay: cfg.weightDecay ?? d.adamWeightDecay });
  // AdaGrad (Fig. 3): torch.optim.Adagrad defaults, weight decay as configured (default 1e-4)
  if (cfg.kind === "adagrad") return adagrad({ lr, weightDecay: cfg.weightDecay ?? d.weightDecay });
  throw new AmssArgumentError(
    `optimizer.kind must be "sgd", "adam" or "adagrad", got ${JSON.stringify(cfg.kind)}`,
  );
}
