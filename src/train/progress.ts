// The per-epoch progress bar (terminal) or a few plain lines (logs, CI), and
// the line printed after each epoch.
import { Callback } from "./callbacks.js";
import { formatDuration } from "./log.js";
import type { EpochMetrics } from "./trainer.js";
import type { Trainer } from "./trainer.js";

const BAR_WIDTH = 20;
/** Without a terminal, a plain line at each quarter of an epoch. */
const PLAIN_LINES = 4;

export class Progress extends Callback {
  readonly name = "progress";
  private epochStart = 0;
  private firstBatch = 0;

  // A resumed run starts inside an epoch, without onTrainEpochStart.
  override onFitStart(t: Trainer): void {
    this.onTrainEpochStart(t);
  }

  override onTrainEpochStart(t: Trainer): void {
    this.epochStart = performance.now();
    this.firstBatch = t.batch;
  }

  override onAfterOptimizerStep(t: Trainer): void {
    this.show(t);
  }

  override onNonFiniteBatch(t: Trainer): void {
    this.show(t);
  }

  private show(t: Trainer): void {
    const done = t.batch + 1;
    const nb = t.batchesPerEpoch;
    const seconds = (performance.now() - this.epochStart) / 1000;
    const rate = (done - this.firstBatch) / Math.max(seconds, 1e-9);
    const filled = Math.round((done / nb) * BAR_WIDTH);
    const text = `epoch ${t.epoch + 1}/${t.config.epochs} ${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)} ${done}/${nb} ` +
      `${rate.toFixed(1)} it/s ETA ${formatDuration((nb - done) / rate)} ${t.task.progress(t.epochStats)}`;
    if (t.log.tty) t.log.bar(text);
    else if (done % Math.max(1, Math.ceil(nb / PLAIN_LINES)) === 0 && done < nb) t.log.line(text);
  }

  override onValidationEnd(t: Trainer, m: EpochMetrics): void {
    const elapsed = t.elapsedSeconds();
    const epochsDone = m.epoch + 1 - t.startEpoch;
    const eta = epochsDone > 0 ? ((t.config.epochs - m.epoch - 1) * (elapsed - t.elapsedAtStart)) / epochsDone : NaN;
    t.log.line(`epoch ${m.epoch + 1}/${t.config.epochs}  ${t.task.describe(m.values)} | lr ${m.lr[0].toPrecision(3)} | ` +
      `best ${t.best.fitness.toFixed(4)} (epoch ${t.best.epoch + 1}) | ${formatDuration(elapsed)} elapsed, ETA ${formatDuration(eta)}`);
  }
}
