// The dashboard's JSON: the run list (the facts `kiln runs` prints), one run's
// details, and a comparison against a baseline (what `kiln compare` decides).
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { compareMetrics, type Comparison } from "../compare/compare.js";
import { verdictLine } from "../compare/format.js";
import { metricSpecs, type MetricSpec, type Task } from "../compare/metric-specs.js";
import { KilnError } from "../errors.js";
import { bestSnapshot, type RunSummary } from "../runs/summary.js";
import type { RunRegistry } from "./registry.js";
import type { RunState } from "./run-state.js";

export type ListedRun = RunSummary & { id: string };

export interface RunFile { path: string; size: number; mtime: string }

export interface RunDetails {
  summary: ListedRun;
  config: Record<string, unknown> | null;
  record: Record<string, unknown> | null;
  metrics: Record<string, unknown> | null;
  results: { header: string[]; rows: number[][] } | null;
  steps: { step: number[]; value: number[] } | null;
  confusion: unknown;
  report: unknown;
  files: RunFile[];
}

export function listRuns(registry: RunRegistry, nowMs = Date.now()): { logdir: string; runs: ListedRun[] } {
  return { logdir: registry.logdir, runs: registry.all().map((s) => s.summary(nowMs)) };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
}

/**
 * The files of a run (recursively), paths relative to the run; symlinks are
 * listed only when they lead to a file inside the log folder, as /files serves.
 */
export function listRunFiles(runDir: string, logdir: string): RunFile[] {
  const root = realpathSync(logdir) + sep;
  const out: RunFile[] = [];
  const walk = (dir: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const st = lstatSync(path);
        if (st.isDirectory() && depth < 4) walk(path, depth + 1);
        if (!st.isFile() && !st.isSymbolicLink()) continue;
        const real = realpathSync(path);
        const target = lstatSync(real);
        if (!real.startsWith(root) || !target.isFile()) continue;
        out.push({ path: relative(runDir, path).split(sep).join("/"), size: target.size, mtime: target.mtime.toISOString() });
      } catch {
        // Vanished while listed, or a dangling link: not an artifact.
      }
    }
  };
  walk(runDir, 0);
  return out;
}

export function runDetails(state: RunState, logdir: string, withSeries = true): RunDetails {
  const confusionPath = join(state.dir, "confusion_matrix.json");
  const reportPath = join(state.dir, "classification_report.json");
  return {
    summary: state.summary(),
    config: state.config,
    record: state.record as Record<string, unknown> | null,
    metrics: state.metrics,
    results: withSeries && state.header ? { header: state.header, rows: state.rows } : null,
    steps: withSeries ? state.steps : null,
    confusion: existsSync(confusionPath) ? readJson(confusionPath) : null,
    report: existsSync(reportPath) ? readJson(reportPath) : null,
    files: listRunFiles(state.dir, logdir),
  };
}

export interface ComparedEntry {
  id: string;
  /** The run's metrics at its best epoch (or final), by metric key. */
  values: Record<string, number> | null;
  epoch: number | null;
  /** Against the baseline; null for the baseline itself or when it cannot be compared. */
  comparison: Comparison | null;
  /** `kiln compare`'s verdict line: "improved: val accuracy +2.30 points (beyond the 1 point threshold)". */
  verdict: string | null;
  error: string | null;
}

export interface CompareResult {
  baseline: string;
  task: string | null;
  metrics: MetricSpec[];
  thresholdPoints: number;
  runs: ComparedEntry[];
}

/** Each run against `baselineId` with kiln compare's rules; a run that cannot be compared says why. */
export function compareAgainst(states: RunState[], baselineId: string, thresholdPoints: number, pick: "best" | "final"): CompareResult {
  const base = states.find((s) => s.id === baselineId);
  if (!base) throw new KilnError(`the baseline ${baselineId} is not one of the compared runs.`, 2);
  const snapshotOf = (s: RunState) => bestSnapshot(s.files(), pick);
  const baseSnap = snapshotOf(base);
  const task = baseSnap?.task ?? null;
  const runs = states.map((s): ComparedEntry => {
    const snap = snapshotOf(s);
    const entry: ComparedEntry = { id: s.id, values: snap?.values ?? null, epoch: snap?.epoch ?? null, comparison: null, verdict: null, error: null };
    if (!snap) return { ...entry, error: `${join(s.dir, "metrics.json")} is missing or holds no val metrics yet` };
    if (s === base) return entry;
    if (!baseSnap) return { ...entry, error: `the baseline ${base.id} has no val metrics yet` };
    try {
      const c = compareMetrics({ ...snap, source: s.dir }, { ...baseSnap, source: base.dir }, { thresholdPoints });
      return { ...entry, comparison: c, verdict: verdictLine(c) };
    } catch (err) {
      if (err instanceof KilnError) return { ...entry, error: err.message };
      throw err;
    }
  });
  return { baseline: baselineId, task, metrics: task ? [...metricSpecs(task as Task)] : [], thresholdPoints, runs };
}
