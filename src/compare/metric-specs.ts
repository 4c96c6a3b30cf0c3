// The metrics a comparison looks at, per task, as data: adding a task or a
// metric is a new row here, not new comparison code.

export type Task = "classify" | "detect";

export interface MetricSpec {
  /** The name in a comparison's JSON and in `extract.ts`. */
  key: string;
  /** What a person reads in a table. */
  label: string;
  /** false for losses: a drop is an improvement. */
  higherIsBetter: boolean;
  /** The metric the verdict is decided on (one per task). */
  isPrimary: boolean;
}

export const CLASSIFY_METRICS: readonly MetricSpec[] = [
  { key: "accuracy", label: "val accuracy", higherIsBetter: true, isPrimary: true },
  { key: "top5", label: "top-5", higherIsBetter: true, isPrimary: false },
  { key: "macroF1", label: "macro F1", higherIsBetter: true, isPrimary: false },
  { key: "loss", label: "val loss", higherIsBetter: false, isPrimary: false },
];

export const DETECT_METRICS: readonly MetricSpec[] = [
  { key: "mAP50_95", label: "mAP50-95", higherIsBetter: true, isPrimary: true },
  { key: "mAP50", label: "mAP50", higherIsBetter: true, isPrimary: false },
  { key: "precision", label: "precision", higherIsBetter: true, isPrimary: false },
  { key: "recall", label: "recall", higherIsBetter: true, isPrimary: false },
  { key: "loss", label: "val loss", higherIsBetter: false, isPrimary: false },
];

export function metricSpecs(task: Task): readonly MetricSpec[] {
  return task === "detect" ? DETECT_METRICS : CLASSIFY_METRICS;
}

export function primaryMetric(task: Task): MetricSpec {
  const spec = metricSpecs(task).find((s) => s.isPrimary);
  if (!spec) throw new Error(`no primary metric for task ${task}`);
  return spec;
}
