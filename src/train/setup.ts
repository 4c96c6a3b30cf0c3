// What a task brings to a training run besides the shared machinery: its
// dataset (read and checked), model, loaders, the Trainer's task object and
// the lines of the summary box. run.ts picks the setup by config.task.
import { formatDataReport, type DataReport } from "../data/check.js";
import type { Rng } from "../engine/index.js";
import { KilnError } from "../errors.js";
import type { AnyModule } from "../nn/index.js";
import type { Callback } from "./callbacks.js";
import type { ModelMeta } from "./checkpoint.js";
import type { RunLog } from "./log.js";
import type { TrainTask } from "./task.js";
import type { BatchSource } from "./trainer.js";

export interface TaskSetup<B extends { size: number } = { size: number }> {
  task: TrainTask<B>;
  model: AnyModule;
  /** Another instance of the architecture (the EMA's), initialised from `rng`. */
  makeModel(rng: Rng): AnyModule;
  train: BatchSource<B>;
  valBatches: number;
  classes: string[];
  modelMeta: ModelMeta;
  /** The summary box's data line: "synthetic (synthetic): train 400, val 100 images; 10 classes". */
  dataLine: string;
  /** What the initial loss is expected near, for the summary ("ln 10 = 2.3026"). */
  expectedLoss?: string;
  /** The task's own callbacks (close_mosaic). */
  callbacks: Callback[];
}

/** Training refuses data with errors (the messages of `kiln data check`) and prints its warnings. */
export function acceptCheckedData(report: DataReport, name: string, log: RunLog): void {
  if (!report.ok) throw new KilnError(`the dataset ${name} has errors; training refuses it:\n${formatDataReport(report)}`);
  for (const issue of report.issues) log.warn(`${issue.file ? `${issue.file}: ` : ""}${issue.message}${issue.fix ? ` (${issue.fix})` : ""}`);
}
