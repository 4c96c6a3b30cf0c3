// Early stopping on the task's fitness (val accuracy; 0.1·mAP50 + 0.9·mAP50-95): stops after `patience` epochs
// without improvement and says so, with the numbers and how to change it.
import { Callback, type JsonValue } from "./callbacks.js";
import type { EpochMetrics } from "./trainer.js";
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
      t.requestStop(`early stopping: ${t.task.fitnessName} has not improved for ${waited} epochs (best ${t.best.fitness.toFixed(4)} at epoch ${t.best.epoch + 1}); ` +
        `patience=${this.patience}. Train longer without stopping with patience=0 or a larger patience.`);
    }
  }

  override stateDict(): JsonValue {
    return null;
  }
}

/**
 * A wall-clock budget (`time`, hours; Lightning's max_time): stops at the end of
 * the last epoch that fits, judged by the mean epoch time so far, so a run ends
 * inside its budget rather than one epoch past it.
 */
export class TimeBudget extends Callback {
  readonly name = "time_budget";
  constructor(private readonly hours: number | undefined) {
    super();
  }

  override onValidationEnd(t: Trainer): void {
    if (this.hours === undefined) return;
    const budget = this.hours * 3600;
    const elapsed = t.elapsedSeconds();
    const meanEpoch = elapsed / Math.max(1, t.history.length);
    if (elapsed + meanEpoch > budget && t.epoch + 1 < t.config.epochs) {
      t.requestStop(`time budget: ${formatHours(elapsed)} of time=${this.hours} h used and an epoch takes about ${formatHours(meanEpoch)}, ` +
        `so the run stops here, after epoch ${t.epoch + 1} of ${t.config.epochs}. Give it more with a larger time= (or none).`);
    }
  }
}

function formatHours(seconds: number): string {
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(2)} h` : seconds >= 60 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(1)} s`;
}
