// What each epoch leaves in the run directory: weights/last (every epoch),
// weights/best (when val accuracy improved), weights/epoch{N} (every
// save_period), a results.csv row and metrics.json.
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomic.js";
import { Callback } from "./callbacks.js";
import type { EpochMetrics } from "./metrics.js";
import { appendResultsRow } from "./run-dir.js";
import type { Trainer } from "./trainer.js";

export class CheckpointSaver extends Callback {
  readonly name = "checkpoints";
  private improved = false;

  constructor(private readonly savePeriod: number) {
    super();
  }

  override onValidationEnd(t: Trainer, m: EpochMetrics): void {
    this.improved = t.best.epoch === m.epoch;
  }

  override onTrainEpochEnd(t: Trainer): void {
    t.saveCheckpoint("last");
    if (this.improved) t.saveCheckpoint("best");
    const epochNumber = t.epoch + 1;
    if (this.savePeriod > 0 && epochNumber % this.savePeriod === 0) t.saveCheckpoint(`epoch${epochNumber}`);
  }
}

export class ResultsWriter extends Callback {
  readonly name = "results";
  private last: EpochMetrics | null = null;

  constructor(private readonly runDir: string) {
    super();
  }

  override onValidationEnd(_t: Trainer, m: EpochMetrics): void {
    this.last = m;
  }

  override onTrainEpochEnd(t: Trainer): void {
    const m = this.last;
    const rec = t.history.at(-1);
    if (!m || !rec) return;
    const row: Record<string, number> = {
      epoch: m.epoch + 1, time: rec.time, "train/loss": m.trainLoss, "train/acc": m.trainAcc, "val/loss": m.val.loss,
      "val/acc": m.val.accuracy, "val/top5": m.val.top5, "val/f1": m.val.macroF1,
    };
    m.lr.forEach((lr, i) => (row[`lr/pg${i}`] = lr));
    appendResultsRow(this.runDir, row);
    writeFileAtomicSync(join(this.runDir, "metrics.json"), `${JSON.stringify({
      epoch: m.epoch + 1, best_epoch: t.best.epoch + 1, best_fitness: t.best.fitness, val: { ...m.val, confusion: undefined }, confusion: m.val.confusion,
      train: { loss: m.trainLoss, acc: m.trainAcc }, history: t.history,
    }, null, 2)}\n`);
  }
}
