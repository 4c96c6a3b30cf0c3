// Health warnings from the epoch history: train loss rising 3 epochs running
// (lr too high, bad data), and val loss rising while train loss falls
// (overfitting). Each warning is printed once per streak.
import { Callback } from "./callbacks.js";
import type { Trainer } from "./trainer.js";

const STREAK = 3;

/** True when the last `n` steps of the series each went up. */
function risingFor(values: number[], n: number): boolean {
  if (values.length < n + 1) return false;
  const tail = values.slice(-(n + 1));
  return tail.every((v, i) => i === 0 || v > tail[i - 1]);
}

export class HealthWarnings extends Callback {
  readonly name = "health";

  override onTrainEpochEnd(t: Trainer): void {
    const train = t.history.map((h) => t.task.loss(h.values, "train"));
    const val = t.history.map((h) => t.task.loss(h.values, "val"));
    // Warn when a streak first reaches its length, not every epoch after.
    if (risingFor(train, STREAK) && !risingFor(train.slice(0, -1), STREAK)) {
      t.log.warn(`train loss has risen for ${STREAK} epochs in a row (${train.slice(-STREAK - 1).map((v) => v.toFixed(3)).join(" → ")}): the learning rate may be too high (try a smaller lr0) or the data noisy.`);
    }
    const overfit = (k: number): boolean => risingFor(val.slice(0, val.length - k), 2) && train.length - k >= 3 &&
      train[train.length - 1 - k] < train[train.length - 3 - k];
    if (overfit(0) && !overfit(1)) {
      t.log.warn("val loss is rising while train loss falls: the model is starting to overfit (more data or augmentation, dropout, weight_decay, or fewer epochs; best.safetensors keeps the best epoch).");
    }
  }
}
