// A comparison of two metric snapshots as a pure function: per metric the
// change, its direction and whether it is better; overall a verdict decided on
// the task's primary metric against a threshold.
import { KilnError } from "../errors.js";
import type { MetricSnapshot } from "./extract.js";
import { metricSpecs, primaryMetric, type MetricSpec, type Task } from "./metric-specs.js";

export type Verdict = "improved" | "degraded" | "unchanged";

export interface MetricChange {
  key: string;
  label: string;
  higherIsBetter: boolean;
  primary: boolean;
  baseline: number | null;
  current: number | null;
  /** current − baseline; null when either side lacks the metric. */
  change: number | null;
  /** The change in % of the baseline; null when the baseline is 0 or missing. */
  changePct: number | null;
  /** The direction of the value itself. */
  arrow: "↑" | "↓" | "=" | null;
  /** Whether the change is for the better, given higherIsBetter. */
  assessment: "better" | "worse" | "same" | null;
}

/** Where a side's numbers come from (paths are absent for in-memory snapshots). */
export interface ComparedSide {
  source?: string;
  file?: string;
  epoch: number | null;
  kind: MetricSnapshot["kind"];
}

export interface Comparison {
  task: Task;
  current: ComparedSide;
  baseline: ComparedSide;
  /** The key of the metric the verdict is decided on. */
  primary: string;
  /** Absolute threshold (0.01 = 1 point). */
  threshold: number;
  thresholdPoints: number;
  verdict: Verdict;
  metrics: MetricChange[];
}

export interface CompareOptions {
  /** In points: 1 = 0.01 absolute. Default 1. */
  thresholdPoints?: number;
}

export const DEFAULT_THRESHOLD_POINTS = 1;

// Metrics are stored as binary fractions: 0.90 − 0.89 is 0.010000000000000009.
// Rounding to 12 decimals makes a 1-point change exactly 1 point, so the
// threshold edge behaves as written (a drop of exactly the threshold is not degraded).
const round12 = (x: number): number => Math.round(x * 1e12) / 1e12;

function changeOf(spec: MetricSpec, baseline: number | undefined, current: number | undefined): MetricChange {
  const base = { key: spec.key, label: spec.label, higherIsBetter: spec.higherIsBetter, primary: spec.isPrimary };
  if (baseline === undefined || current === undefined) {
    return { ...base, baseline: baseline ?? null, current: current ?? null, change: null, changePct: null, arrow: null, assessment: null };
  }
  const change = round12(current - baseline);
  const gain = spec.higherIsBetter ? change : -change;
  return {
    ...base, baseline, current, change,
    changePct: baseline === 0 ? null : round12((change / Math.abs(baseline)) * 100),
    arrow: change > 0 ? "↑" : change < 0 ? "↓" : "=",
    assessment: gain > 0 ? "better" : gain < 0 ? "worse" : "same",
  };
}

/** The verdict of a primary metric's change: beyond the threshold either way, or within it. */
export function verdictOf(change: MetricChange, threshold: number): Verdict {
  if (change.change === null) throw new Error(`verdict without a value for ${change.key}`);
  const gain = change.higherIsBetter ? change.change : -change.change;
  if (gain < -threshold) return "degraded";
  if (gain > threshold) return "improved";
  return "unchanged";
}

function sideOf(s: MetricSnapshot & { source?: string; file?: string }): ComparedSide {
  return { ...(s.source !== undefined ? { source: s.source } : {}), ...(s.file !== undefined ? { file: s.file } : {}), epoch: s.epoch, kind: s.kind };
}

export function compareMetrics(
  current: MetricSnapshot & { source?: string; file?: string },
  baseline: MetricSnapshot & { source?: string; file?: string },
  options: CompareOptions = {},
): Comparison {
  const points = options.thresholdPoints ?? DEFAULT_THRESHOLD_POINTS;
  if (!Number.isFinite(points) || points < 0) throw new KilnError(`invalid threshold ${points}. Allowed: a number of points ≥ 0 (1 point = 0.01).`, 2);
  if (current.task !== baseline.task) {
    throw new KilnError(`cannot compare metrics of different tasks: ${current.file ?? "the current run"} is ${current.task}, ${baseline.file ?? "the baseline"} is ${baseline.task}. Fix: compare runs of the same task.`, 2);
  }
  const task = current.task;
  const primary = primaryMetric(task);
  for (const [side, s] of [["current", current], ["baseline", baseline]] as const) {
    if (s.values[primary.key] === undefined) throw new KilnError(`${s.file ?? `the ${side} metrics`} has no ${primary.label}, the metric the verdict is decided on.`, 2);
  }
  const metrics = metricSpecs(task).map((spec) => changeOf(spec, baseline.values[spec.key], current.values[spec.key]));
  const threshold = round12(points / 100);
  const primaryChange = metrics.find((m) => m.key === primary.key) as MetricChange;
  return {
    task, current: sideOf(current), baseline: sideOf(baseline), primary: primary.key, threshold, thresholdPoints: points,
    verdict: verdictOf(primaryChange, threshold), metrics,
  };
}
