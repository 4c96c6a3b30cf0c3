// What the Trainer needs to know of a task (classify, detect): how one batch
// becomes a loss, how a split is evaluated, which number decides "best", and
// how its numbers are named in results.csv and printed. Everything else
// (epochs, accumulation, clipping, EMA, checkpoints, resume, signals,
// callbacks) is the same for every task.
import type { Tensor } from "../engine/index.js";
import type { AnyModule } from "../nn/index.js";

/** One training batch's loss: `loss` is what backward runs on; `items` are per-image means to average over the epoch. */
export interface StepResult {
  loss: Tensor;
  /** The loss's value (checked for finiteness before backward). */
  value: number;
  /** Named per-image means of this batch ("loss", or "box_loss", "cls_loss", "dfl_loss"), and counts ("correct"). */
  items: Record<string, number>;
  /**
   * ranks > 1: `loss` and `items` are already this rank's additive share of the
   * whole (global) batch's values (detection normalises over the global batch),
   * so the trainer neither scales the loss by the rank's share nor weights the
   * items by the rank's image count. Absent: per-image means of this slice.
   */
  globalShare?: boolean;
}

/** A split's evaluation: results.csv values ("val/acc", "metrics/mAP50(B)", …), the fitness, and the full metrics. */
export interface Evaluation<Detail = unknown> {
  values: Record<string, number>;
  fitness: number;
  detail: Detail;
}

/** What the trainer sums over an epoch's batches: each item × images, and the images seen. */
export interface EpochStats { seen: number; sums: Record<string, number> }

export interface TrainTask<Batch extends { size: number }, Detail = unknown> {
  readonly kind: "classify" | "detect";
  /** How the fitness reads in messages ("val accuracy", "fitness 0.1·mAP50 + 0.9·mAP50-95"). */
  readonly fitnessName: string;
  /**
   * Pre-flight: one forward pass in eval mode without gradients; throws when the
   * input or output is not what the task expects. Returns both shapes for the summary.
   */
  inspect(model: AnyModule, batch: Batch): { input: number[]; output: string };
  /** Forward and loss of one batch (called inside tidy, in training mode). */
  step(model: AnyModule, batch: Batch): StepResult;
  /** The epoch's training columns from its sums ("train/loss", "train/acc" or "train/box_loss", …). */
  trainValues(stats: EpochStats): Record<string, number>;
  /** Evaluates `model` over (at most `limit` batches of) a split, in eval mode, without gradients. */
  evaluate(model: AnyModule, limit?: number): Promise<Evaluation<Detail>>;
  /** The total loss of a split from an epoch's values (health warnings). */
  loss(values: Record<string, number>, split: "train" | "val"): number;
  /** The running numbers on the progress bar. */
  progress(stats: EpochStats): string;
  /** The per-epoch line's middle: "train loss 0.1 acc 0.9 | val loss … acc … f1 …". */
  describe(values: Record<string, number>): string;
  /** The validation numbers of a results box line: "val acc 0.9012, top-5 …" / "mAP50 …, mAP50-95 …". */
  summarize(values: Record<string, number>): string;
  /** What metrics.json holds of an evaluation besides the history (spread at its top level). */
  metricsJson(detail: Detail): Record<string, unknown>;
  /** The evaluation's report files in the run directory (written each epoch and by `kiln val`). */
  writeReports(runDir: string, detail: Detail): void;
  /** The plots of the run so far (results.png from the rows, and the task's own). */
  drawPlots(runDir: string, rows: readonly Record<string, number>[], detail: Detail): Promise<void>;
}

/** Per-item means of an epoch's sums. */
export function epochMeans(stats: EpochStats): Record<string, number> {
  const means: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats.sums)) means[k] = stats.seen ? v / stats.seen : NaN;
  return means;
}
