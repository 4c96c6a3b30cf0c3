// The classification task: cross-entropy (with label smoothing) on logits,
// accuracy while training, and on the val split the metrics of
// src/metrics (accuracy, top-5, per-class P/R/F1, confusion matrix).
// Fitness: val accuracy.
import { crossEntropy, noGrad, tensor, tidy, type Tensor } from "../engine/index.js";
import type { DataLoader, Batch } from "../data/loader.js";
import { classificationReport, writeClassificationReport } from "../metrics/index.js";
import type { Classifier } from "../models/index.js";
import type { AnyModule } from "../nn/index.js";
import { writeConfusionPlot, writeResultsPlot } from "../plots/index.js";
import { MetricAccumulator, type ClassificationMetrics } from "./metrics.js";
import { epochMeans, type EpochStats, type Evaluation, type StepResult, type TrainTask } from "./task.js";

export interface ClassifyTaskOptions {
  classes: string[];
  imgsz: number;
  labelSmoothing: number;
  val: Pick<DataLoader, "epoch" | "length">;
  /** ranks > 1: the val loader yields this rank's part of each batch, and the ranks' counts are gathered. */
  gatherRanks?: <T>(value: T) => T[];
}

export class ClassifyTask implements TrainTask<Batch, ClassificationMetrics> {
  readonly kind = "classify";
  readonly fitnessName = "val accuracy";

  constructor(private readonly o: ClassifyTaskOptions) {}

  inspect(model: AnyModule, b: Batch): { input: number[]; output: string } {
    const x = imagesTensor(b, this.o.imgsz);
    const input = [...x.shape];
    const nc = this.o.classes.length;
    const output = noGrad(() => tidy(() => {
      const wasTraining = model.training;
      model.eval();
      const shape = [...(model as Classifier).forward(x).shape];
      model.train(wasTraining);
      return shape;
    }));
    if (output.length !== 2 || output[0] !== b.size || output[1] !== nc) {
      throw new Error(`kiln: the model's output is [${output.join(", ")}], expected [${b.size}, ${nc}]`);
    }
    return { input, output: `[${output.join(", ")}]` };
  }

  step(model: AnyModule, b: Batch): StepResult {
    const logits = (model as Classifier).forward(imagesTensor(b, this.o.imgsz));
    const loss = crossEntropy(logits, b.labels, { labelSmoothing: this.o.labelSmoothing });
    const value = loss.item();
    return { loss, value, items: Number.isFinite(value) ? { loss: value, acc: countCorrect(logits, b.labels, b.size) / b.size } : {} };
  }

  trainValues(stats: EpochStats): Record<string, number> {
    const m = epochMeans(stats);
    return { "train/loss": m.loss ?? NaN, "train/acc": m.acc ?? 0 };
  }

  async evaluate(model: AnyModule, limit = Infinity): Promise<Evaluation<ClassificationMetrics>> {
    const m = await evaluateClassifier(model as Classifier, this.o.val, this.o.classes, this.o.imgsz, limit, this.o.gatherRanks);
    return { values: { "val/loss": m.loss, "val/acc": m.accuracy, "val/top5": m.top5, "val/f1": m.macroF1 }, fitness: m.accuracy, detail: m };
  }

  loss(values: Record<string, number>, split: "train" | "val"): number {
    return values[`${split}/loss`];
  }

  progress(stats: EpochStats): string {
    const m = epochMeans(stats);
    return `loss ${(m.loss ?? NaN).toFixed(4)} acc ${(m.acc ?? NaN).toFixed(3)}`;
  }

  describe(v: Record<string, number>): string {
    return `train loss ${v["train/loss"].toFixed(4)} acc ${v["train/acc"].toFixed(4)} | ` +
      `val loss ${v["val/loss"].toFixed(4)} acc ${v["val/acc"].toFixed(4)} f1 ${v["val/f1"].toFixed(4)}`;
  }

  summarize(v: Record<string, number>): string {
    return `val acc ${v["val/acc"].toFixed(4)}, top-5 ${v["val/top5"].toFixed(4)}, f1 ${v["val/f1"].toFixed(4)}, loss ${v["val/loss"].toFixed(4)}`;
  }

  metricsJson(m: ClassificationMetrics): Record<string, unknown> {
    return { val: { ...m, confusion: undefined }, confusion: m.confusion };
  }

  writeReports(runDir: string, m: ClassificationMetrics): void {
    writeClassificationReport(runDir, classificationReport(m.confusion, this.o.classes, { top5Correct: Math.round(m.top5 * m.count) }));
  }

  async drawPlots(runDir: string, rows: readonly Record<string, number>[], m: ClassificationMetrics): Promise<void> {
    await writeResultsPlot(runDir, rows);
    await writeConfusionPlot(runDir, this.o.classes, m.confusion);
  }
}

function imagesTensor(b: Batch, imgsz: number): Tensor {
  return tensor(b.images, [b.size, b.images.length / (b.size * imgsz * imgsz), imgsz, imgsz]);
}

function countCorrect(logits: Tensor, labels: Int32Array, n: number): number {
  const nc = logits.shape[1];
  const d = logits.data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < nc; c++) if (d[i * nc + c] > d[i * nc + best]) best = c;
    if (best === labels[i]) correct++;
  }
  return correct;
}

/**
 * Loss and metrics of `model` over the batches of `source` (evaluation mode, no
 * gradients). `gather` (ranks > 1): `source` holds this rank's part of each
 * batch, and the metrics are those of the whole split, the same on every rank.
 */
export async function evaluateClassifier(model: Classifier, source: Pick<DataLoader, "epoch">, classes: string[], imgsz: number, limit = Infinity,
  gather?: <T>(value: T) => T[]): Promise<ClassificationMetrics> {
  const acc = new MetricAccumulator(classes);
  const wasTraining = model.training;
  model.eval();
  let seen = 0;
  for await (const b of source.epoch(0)) {
    // A rank's part of a last batch smaller than the ranks may be empty.
    if (b.size > 0) noGrad(() => tidy(() => {
      const logits = model.forward(imagesTensor(b, imgsz));
      const lossSum = crossEntropy(logits, b.labels, { reduction: "sum" }).item();
      acc.add(logits.data, b.labels, b.size, lossSum);
    }));
    if (++seen >= limit) break;
  }
  model.train(wasTraining);
  if (gather) acc.combine(gather);
  return acc.result();
}
