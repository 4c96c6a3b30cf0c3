// Optimizers with PyTorch's update rules, one fused kernel call per parameter group.
import type { Adam, AdamW } from "./adam.js";
import type { SGD } from "./sgd.js";

export {
  Optimizer, OptimizerStateError, type HyperValue, type OptimizerStateDict, type OptimizerStateInput, type ParamGroup, type ParamsInput,
} from "./optimizer.js";
export { SGD, type SGDHyper, type SGDOptions } from "./sgd.js";
export { Adam, AdamW, type AdamHyper, type AdamOptions } from "./adam.js";

/** Any of kiln's optimizers (what a trainer holds: it sets `paramGroups[i].lr` and saves `stateDict()`). */
export type AnyOptimizer = SGD | Adam | AdamW;
