// Lightning-style callbacks: one base class of no-op hooks named for the moment
// the Trainer calls them. A callback observes and adjusts (the learning rate,
// the gradients, a stop flag); its own state rides in checkpoints through
// stateDict/loadStateDict, so a resumed run continues exactly.
import type { Trainer } from "./trainer.js";
import type { EpochMetrics } from "./trainer.js";

export type JsonValue = number | string | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export abstract class Callback {
  /** The key its state is saved under in a checkpoint. */
  abstract readonly name: string;
  onFitStart(_t: Trainer): void {}
  onTrainEpochStart(_t: Trainer): void {}
  /** Before each batch's forward pass. */
  onTrainBatchStart(_t: Trainer): void {}
  /** After the gradients of an optimizer step are complete, before the update; return false to skip the update. */
  onBeforeOptimizerStep(_t: Trainer): boolean {
    return true;
  }
  onAfterOptimizerStep(_t: Trainer): void {}
  /** A batch whose loss was not finite (its backward pass was skipped). */
  onNonFiniteBatch(_t: Trainer): void {}
  onTrainEpochEnd(_t: Trainer): void {}
  onValidationEnd(_t: Trainer, _metrics: EpochMetrics): void {}
  onFitEnd(_t: Trainer): void {}
  onException(_t: Trainer, _err: unknown): void {}
  stateDict(): JsonValue {
    return null;
  }
  loadStateDict(_state: JsonValue): void {}
}
