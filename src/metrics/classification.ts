// Classification metrics as pure functions of a confusion matrix, matching
// scikit-learn's definitions (precision_recall_fscore_support with
// labels=range(nc), zero_division=0) so numbers agree with what users check
// against in Python. Everything starts from the confusion matrix because that
// is what a batch-by-batch accumulator keeps; predictions are counted into one.
//
// Conventions (sklearn's, checked by test/fixtures/generate_metrics.py):
// - precision of a class never predicted is 0; recall of a class with no
//   support is 0; F1 is 0 when precision + recall is 0.
// - The macro average runs over ALL classes, including ones with no support
//   (and no predictions): with labels= given, sklearn counts them as zeros. A
//   class missing from a val split therefore lowers macro F1; that is the
//   price of a number comparable across splits and with sklearn.
// - The weighted average weights each class by its support.
// - With no samples at all, every rate is 0 (zero_division=0), not NaN.

/** One class's row of the report. */
export interface ClassMetrics {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** Number of samples whose true class is this one. */
  support: number;
}

/** An average over classes; support is the total number of samples. */
export interface AverageMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationReport {
  classes: string[];
  /** Number of samples. */
  count: number;
  accuracy: number;
  /** Top-5 accuracy, or null when no top-5 information was given. */
  top5: number | null;
  perClass: ClassMetrics[];
  macro: AverageMetrics;
  weighted: AverageMetrics;
  /** confusion[t][p]: samples of true class t predicted as p. */
  confusion: number[][];
  /** The classes with the lowest F1 (support > 0 only), worst first, ties by name. */
  worst: ClassMetrics[];
}

export interface ReportOptions {
  /** Samples whose true class is among the 5 highest scores; null or absent: unknown. */
  top5Correct?: number | null;
  /** How many worst classes to list (default 5). */
  worstCount?: number;
}

const safeDiv = (num: number, den: number): number => (den === 0 ? 0 : num / den);

function checkSquare(confusion: readonly (readonly number[])[], classes: readonly string[]): void {
  const nc = classes.length;
  if (confusion.length !== nc || confusion.some((row) => row.length !== nc)) {
    throw new RangeError(`confusion matrix must be ${nc}×${nc} to match ${nc} class names`);
  }
}

/** Counts predictions into confusion[true][pred]; labels must be integers in [0, numClasses). */
export function confusionMatrix(
  targets: ArrayLike<number>,
  predictions: ArrayLike<number>,
  numClasses: number,
): number[][] {
  if (targets.length !== predictions.length) {
    throw new RangeError(`${targets.length} targets but ${predictions.length} predictions`);
  }
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    const p = predictions[i];
    if (!Number.isInteger(t) || !Number.isInteger(p) || t < 0 || p < 0 || t >= numClasses || p >= numClasses) {
      throw new RangeError(`sample ${i}: label ${t} or prediction ${p} is not a class index below ${numClasses}`);
    }
    m[t][p]++;
  }
  return m;
}

/**
 * Argmax predictions and top-k hits from logits [n, nc] (row-major). The
 * argmax takes the first maximum (numpy's); a sample is a top-k hit when fewer
 * than k classes score strictly higher than its true class, so ties count in
 * its favour (sklearn breaks ties by index instead; only tied scores differ).
 */
export function predictionsFromLogits(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  numClasses: number,
  k = 5,
): { predictions: Int32Array; topkCorrect: number } {
  const n = targets.length;
  if (logits.length !== n * numClasses) {
    throw new RangeError(`logits hold ${logits.length} values, expected ${n}×${numClasses}`);
  }
  const predictions = new Int32Array(n);
  let topkCorrect = 0;
  for (let i = 0; i < n; i++) {
    const base = i * numClasses;
    const truth = logits[base + targets[i]];
    let argmax = 0;
    let higher = 0;
    for (let c = 0; c < numClasses; c++) {
      const v = logits[base + c];
      if (v > logits[base + argmax]) argmax = c;
      if (v > truth) higher++;
    }
    predictions[i] = argmax;
    if (higher < k) topkCorrect++;
  }
  return { predictions, topkCorrect };
}

/** The full report from a confusion matrix (confusion[true][pred]) and class names. */
export function classificationReport(
  confusion: readonly (readonly number[])[],
  classes: readonly string[],
  options: ReportOptions = {},
): ClassificationReport {
  checkSquare(confusion, classes);
  const nc = classes.length;
  const predicted = new Array<number>(nc).fill(0);
  let count = 0;
  let correct = 0;
  for (let t = 0; t < nc; t++) {
    for (let p = 0; p < nc; p++) {
      predicted[p] += confusion[t][p];
      count += confusion[t][p];
    }
    correct += confusion[t][t];
  }

  const perClass: ClassMetrics[] = classes.map((name, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const precision = safeDiv(tp, predicted[c]);
    const recall = safeDiv(tp, support);
    // sklearn's formula from precision and recall (not 2tp/(2tp+fp+fn)) for bit-level agreement
    const f1 = safeDiv(2 * precision * recall, precision + recall);
    return { name, precision, recall, f1, support };
  });

  const average = (weight: (m: ClassMetrics) => number): AverageMetrics => {
    let wSum = 0;
    const sum = { precision: 0, recall: 0, f1: 0 };
    for (const m of perClass) {
      const w = weight(m);
      wSum += w;
      sum.precision += w * m.precision;
      sum.recall += w * m.recall;
      sum.f1 += w * m.f1;
    }
    return {
      precision: safeDiv(sum.precision, wSum),
      recall: safeDiv(sum.recall, wSum),
      f1: safeDiv(sum.f1, wSum),
      support: count,
    };
  };

  const top5Correct = options.top5Correct ?? null;
  return {
    classes: [...classes],
    count,
    accuracy: safeDiv(correct, count),
    top5: top5Correct === null ? null : safeDiv(top5Correct, count),
    perClass,
    macro: average(() => 1),
    weighted: average((m) => m.support),
    confusion: confusion.map((row) => [...row]),
    worst: worstClasses(perClass, options.worstCount ?? 5),
  };
}

/** The report from per-sample labels; top-5 from logits [n, nc] or per-sample hits, if given. */
export function classificationReportFromPredictions(
  targets: ArrayLike<number>,
  predictions: ArrayLike<number>,
  classes: readonly string[],
  extra: { logits?: ArrayLike<number>; top5Hits?: ArrayLike<boolean>; worstCount?: number } = {},
): ClassificationReport {
  let top5Correct: number | null = null;
  if (extra.logits) {
    top5Correct = predictionsFromLogits(extra.logits, targets, classes.length, 5).topkCorrect;
  } else if (extra.top5Hits) {
    if (extra.top5Hits.length !== targets.length) {
      throw new RangeError(`${extra.top5Hits.length} top-5 hits for ${targets.length} samples`);
    }
    top5Correct = 0;
    for (let i = 0; i < extra.top5Hits.length; i++) if (extra.top5Hits[i]) top5Correct++;
  }
  return classificationReport(confusionMatrix(targets, predictions, classes.length), classes, {
    top5Correct,
    worstCount: extra.worstCount,
  });
}

/** Lowest F1 first, ties by name; classes absent from the data say nothing and are left out. */
export function worstClasses(perClass: readonly ClassMetrics[], k = 5): ClassMetrics[] {
  return perClass
    .filter((m) => m.support > 0)
    .sort((a, b) => a.f1 - b.f1 || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, k);
}

/** Rows divided by their sums (sklearn's normalize="true"); an empty row stays 0. */
export function normalizeRows(matrix: readonly (readonly number[])[]): number[][] {
  return matrix.map((row) => {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => safeDiv(v, sum));
  });
}
