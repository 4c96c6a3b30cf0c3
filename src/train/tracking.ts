// What a run leaves for evaluation and tracking besides its weights: each
// epoch, the task's reports (classification_report.json, …), the plots
// (results.png, confusion_matrix.png, …) and the scalars sent to the trackers
// (TensorBoard, MLflow); the training loss of every optimizer step; at the
// end, the artifacts and the final status. Plots rasterise in sharp's thread
// pool while training goes on; `finish` waits for them.
import { basename, dirname, join } from "node:path";
import { existsSync } from "node:fs";
import { RUN_ARTIFACTS } from "../track/mlflow/index.js";
import type { TrackedRun, TrackedStatus, Tracker } from "../track/tracker.js";
import { Callback } from "./callbacks.js";
import type { RunLog } from "./log.js";
import { epochRow } from "./artifacts.js";
import type { Trainer } from "./trainer.js";

export interface TrackingOptions {
  runDir: string;
  task: "classify" | "detect";
  trackers: Tracker[];
  /** Draw results.png and confusion_matrix.png each epoch. */
  plots: boolean;
  resumed: boolean;
  log: RunLog;
}

export class Tracking extends Callback {
  readonly name = "tracking";
  private pending: Promise<void> = Promise.resolve();
  private readonly rows: Record<string, number>[] = [];
  private started = false;

  constructor(private readonly o: TrackingOptions) {
    super();
  }

  /** Starts every tracker with the frozen config (before the first step). */
  start(config: Record<string, unknown>, startedAt: number): void {
    const params: TrackedRun["params"] = {};
    for (const [k, v] of Object.entries(config)) {
      if (v === undefined) continue;
      params[k] = typeof v === "number" || typeof v === "string" || typeof v === "boolean" || v === null ? v : JSON.stringify(v);
    }
    const run: TrackedRun = {
      runDir: this.o.runDir, name: basename(this.o.runDir), task: this.o.task, experiment: basename(dirname(this.o.runDir)) || "kiln",
      params, startedAt, resumed: this.o.resumed,
    };
    this.started = true;
    this.each((tr) => tr.start(run));
  }

  override onFitStart(t: Trainer): void {
    // A resumed run's earlier epochs, so results.png shows the whole run.
    this.rows.length = 0;
    for (const h of t.history) this.rows.push(epochRow(h));
  }

  override onAfterOptimizerStep(t: Trainer): void {
    if (Number.isFinite(t.lastLoss)) this.each((tr) => tr.logScalars("step", t.iteration + 1, { "train/batch_loss": t.lastLoss }));
  }

  override onTrainEpochEnd(t: Trainer): void {
    const m = t.lastMetrics;
    const rec = t.history.at(-1);
    if (!m || !rec) return;
    const row = epochRow(rec);
    this.rows.push(row);
    this.each((tr) => tr.logScalars("epoch", m.epoch + 1, row));
    t.task.writeReports(this.o.runDir, m.detail);
    if (!this.o.plots) return;
    const rows = [...this.rows];
    // One epoch's plots at a time, in order; a failed plot warns and training goes on.
    this.pending = this.pending.then(() => t.task.drawPlots(this.o.runDir, rows, m.detail))
      .catch((err: unknown) => this.o.log.warn(`could not draw the plots: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** Waits for the plots, hands the artifacts to the trackers and ends them. */
  async finish(status: TrackedStatus): Promise<void> {
    await this.pending;
    if (!this.started) return;
    this.started = false;
    for (const file of RUN_ARTIFACTS) {
      const path = join(this.o.runDir, file);
      const folder = dirname(file);
      if (existsSync(path)) this.each((tr) => tr.logArtifact(path, folder === "." ? undefined : folder));
    }
    await Promise.all(this.o.trackers.map((tr) => tr.end(status, Date.now()).catch((err: unknown) => {
      this.o.log.warn(`${tr.name}: ${err instanceof Error ? err.message : String(err)}`);
    })));
  }

  /** A tracker's own failure never reaches training. */
  private each(call: (tracker: Tracker) => void): void {
    for (const tr of this.o.trackers) {
      try {
        call(tr);
      } catch (err) {
        this.o.log.warn(`${tr.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
