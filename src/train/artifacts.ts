// What each epoch leaves in the run directory: weights/last (every epoch),
// weights/best (when the fitness improved), weights/epoch{N} (every
// save_period), a results.csv row and metrics.json.
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomic.js";
import { Callback } from "./callbacks.js";
import { appendResultsRow } from "./run-dir.js";
import type { EpochMetrics, EpochRecord, Trainer } from "./trainer.js";

/** An epoch as a results.csv row (Ultralytics' column names); trackers log the same names. */
export function epochRow(h: EpochRecord): Record<string, number> {
  const row: Record<string, number> = {
    epoch: h.epoch + 1, time: h.time, ...h.values,
  };
  h.lr.forEach((lr, i) => (row[`lr/pg${i}`] = lr));
  return row;
}

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

  constructor(private readonly runDir: string) {
    super();
  }

  override onTrainEpochEnd(t: Trainer): void {
    const m = t.lastMetrics;
    const rec = t.history.at(-1);
    if (!m || !rec) return;
    appendResultsRow(this.runDir, epochRow(rec));
    writeFileAtomicSync(join(this.runDir, "metrics.json"), `${JSON.stringify({
      task: t.task.kind, epoch: m.epoch + 1, best_epoch: t.best.epoch + 1, best_fitness: t.best.fitness, fitness: m.fitness, values: m.values,
      ...t.task.metricsJson(m.detail), history: t.history,
    }, null, 2)}\n`);
  }
}
