// Classification metrics as pure functions of logits and targets: accuracy,
// top-5, loss, per-class precision/recall/F1, macro F1, confusion matrix.

export interface ClassMetrics { name: string; precision: number; recall: number; f1: number; support: number }

export interface ClassificationMetrics {
  loss: number;
  accuracy: number;
  top5: number;
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
  count: number;
}

/** What one epoch reports (train side and val side); the Trainer fills it. */
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  val: ClassificationMetrics;
  lr: number[];
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

  result(): ClassificationMetrics {
    const perClass = this.classes.map((name, c) => {
      const tp = this.confusion[c][c];
      const support = this.confusion[c].reduce((a, b) => a + b, 0);
      const predicted = this.confusion.reduce((a, row) => a + row[c], 0);
      const precision = predicted ? tp / predicted : 0;
      const recall = support ? tp / support : 0;
      const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
      return { name, precision, recall, f1, support };
    });
    const correct = this.confusion.reduce((a, row, c) => a + row[c], 0);
    const present = perClass.filter((m) => m.support > 0);
    return {
      loss: this.count ? this.lossSum / this.count : NaN,
      accuracy: this.count ? correct / this.count : 0,
      top5: this.count ? this.top5Hits / this.count : 0,
      macroF1: present.length ? present.reduce((a, m) => a + m.f1, 0) / present.length : 0,
      perClass,
      confusion: this.confusion.map((r) => [...r]),
      count: this.count,
    };
  }
}
