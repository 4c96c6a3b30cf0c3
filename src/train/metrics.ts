// What the trainer and `kiln val` measure on a split: the confusion matrix and
// top-5 hits accumulated batch by batch, turned into metrics by the pure
// functions of src/metrics (scikit-learn's definitions), plus the mean loss.
import { classificationReport, type AverageMetrics, type ClassMetrics } from "../metrics/index.js";

export type { ClassMetrics } from "../metrics/index.js";

export interface ClassificationMetrics {
  loss: number;
  accuracy: number;
  top5: number;
  /** Macro F1 over every class (sklearn's labels=range(nc): a class absent from the split counts as 0). */
  macroF1: number;
  perClass: ClassMetrics[];
  macro: AverageMetrics;
  weighted: AverageMetrics;
  /** The five classes with the lowest F1 (support > 0), worst first. */
  worst: ClassMetrics[];
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
  count: number;
}

/** Accumulates predictions batch by batch; `result()` gives the metrics. */
export class MetricAccumulator {
  private lossSum = 0;
  private count = 0;
  private top5Hits = 0;
  private readonly confusion: number[][];

  constructor(private readonly classes: readonly string[]) {
    this.confusion = classes.map(() => classes.map(() => 0));
  }

  /** logits [n, nc] row-major; lossSum: the summed (not mean) loss of these n images. */
  add(logits: Float32Array, targets: Int32Array, n: number, lossSum: number): void {
    const nc = this.classes.length;
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * nc, (i + 1) * nc);
      const t = targets[i];
      let argmax = 0;
      let higher = 0; // classes scoring above the true one: top-5 when fewer than 5
      for (let c = 0; c < nc; c++) {
        if (row[c] > row[argmax]) argmax = c;
        if (row[c] > row[t]) higher++;
      }
      this.confusion[t][argmax]++;
      if (higher < 5) this.top5Hits++;
    }
    this.count += n;
    this.lossSum += lossSum;
  }

  /**
   * ranks > 1 (each rank evaluated its part of the split): every rank's counts
   * and sums added up in rank order, so every rank holds the same whole-split
   * state (counts exactly; the loss sum up to float rounding).
   */
  combine(gather: <T>(value: T) => T[]): void {
    const all = gather({ lossSum: this.lossSum, count: this.count, top5Hits: this.top5Hits, confusion: this.confusion });
    this.lossSum = 0;
    this.count = 0;
    this.top5Hits = 0;
    for (const row of this.confusion) row.fill(0);
    for (const part of all) {
      this.lossSum += part.lossSum;
      this.count += part.count;
      this.top5Hits += part.top5Hits;
      part.confusion.forEach((row, t) => row.forEach((n, p) => { this.confusion[t][p] += n; }));
    }
  }

  result(): ClassificationMetrics {
    const report = classificationReport(this.confusion, this.classes, { top5Correct: this.top5Hits });
    return {
      loss: this.count ? this.lossSum / this.count : NaN,
      accuracy: report.accuracy,
      top5: report.top5 ?? 0,
      macroF1: report.macro.f1,
      perClass: report.perClass,
      macro: report.macro,
      weighted: report.weighted,
      worst: report.worst,
      confusion: report.confusion,
      count: this.count,
    };
  }

}
