// Early stopping on fitness (val accuracy): stops after `patience` epochs
// without improvement and says so, with the numbers and how to change it.
import { Callback, type JsonValue } from "./callbacks.js";
import type { EpochMetrics } from "./metrics.js";
import type { Trainer } from "./trainer.js";

export class EarlyStopping extends Callback {
  readonly name = "early_stopping";
  constructor(private readonly patience: number) {
    super();
  }

  override onValidationEnd(t: Trainer, m: EpochMetrics): void {
    if (this.patience <= 0) return;
    const waited = m.epoch - t.best.epoch;
    if (t.best.epoch >= 0 && waited >= this.patience) {
      t.requestStop(`early stopping: val accuracy has not improved for ${waited} epochs (best ${t.best.fitness.toFixed(4)} at epoch ${t.best.epoch + 1}); ` +
        `patience=${this.patience}. Train longer without stopping with patience=0 or a larger patience.`);
    }
  }

  override stateDict(): JsonValue {
    return null;
  }
}
