// `kiln runs compare A B [C…]`: runs side by side: status, epochs, the best
// and final metrics, duration, and the config keys whose values differ.
import { join } from "node:path";
import { metricSpecs, type MetricSpec, type Task } from "../compare/metric-specs.js";
import { KilnError } from "../errors.js";
import { formatDuration } from "../train/log.js";
import { isPidAlive } from "./liveness.js";
import { readRunFiles } from "./read-run.js";
import { requireReadable } from "./show.js";
import { bestSnapshot, summarizeRun, type RunSummary } from "./summary.js";
import { formatTable, type Cell } from "./table.js";

export interface ComparedRun {
  summary: RunSummary;
  bestEpoch: number | null;
  best: Record<string, number>;
  final: Record<string, number>;
  config: Record<string, unknown>;
}

export interface RunsComparison {
  task: string;
  metrics: MetricSpec[];
  runs: ComparedRun[];
  /** Config keys whose values are not the same in every run, with each run's value (null: absent). */
  configDiff: Record<string, unknown[]>;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function compareRuns(dirs: string[], nowMs = Date.now(), pidAlive: (pid: number) => boolean = isPidAlive): RunsComparison {
  if (dirs.length < 2) throw new KilnError("kiln runs compare needs at least two runs. Fix: kiln runs compare RUN_A RUN_B [RUN_C…].", 2);
  const runs = dirs.map((dir): ComparedRun => {
    const files = readRunFiles(dir);
    requireReadable(files);
    const best = bestSnapshot(files, "best");
    if (!best) throw new KilnError(`${join(dir, "metrics.json")} is missing or holds no val metrics, so ${dir} cannot be compared. Fix: compare runs that completed at least one epoch.`, 2);
    return { summary: summarizeRun(files, nowMs, pidAlive), bestEpoch: best.epoch, best: best.values, final: bestSnapshot(files, "final")?.values ?? {}, config: files.config ?? {} };
  });
  const task = runs[0].summary.task;
  const other = runs.find((r) => r.summary.task !== task);
  if (other) throw new KilnError(`cannot compare runs of different tasks: ${runs[0].summary.dir} is ${task}, ${other.summary.dir} is ${other.summary.task}.`, 2);
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config)))];
  const configDiff: Record<string, unknown[]> = {};
  for (const key of keys) {
    const values = runs.map((r) => r.config[key] ?? null);
    if (values.some((v) => !same(v, values[0]))) configDiff[key] = values;
  }
  return { task, metrics: [...metricSpecs(task as Task)], runs, configDiff };
}

const fmt = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(4));

/** The index of the best value in a row (for colour), or -1 when values tie or are missing. */
function bestIndex(values: (number | undefined)[], higherIsBetter: boolean): number {
  const present = values.filter((v): v is number => v !== undefined);
  if (present.length < 2 || present.every((v) => v === present[0])) return -1;
  const target = higherIsBetter ? Math.max(...present) : Math.min(...present);
  return values.indexOf(target);
}

export function formatRunsComparison(c: RunsComparison, color = false): string {
  const metricRows = (kind: "best" | "final"): Cell[][] => c.metrics.map((m) => {
    const values = c.runs.map((r) => r[kind][m.key]);
    const winner = bestIndex(values, m.higherIsBetter);
    return [`${kind} ${m.label}`, ...values.map((v, i): Cell => (i === winner ? { text: fmt(v), color: "green" } : fmt(v)))];
  });
  const rows: Cell[][] = [
    ["dir", ...c.runs.map((r) => r.summary.dir)],
    ["status", ...c.runs.map((r) => r.summary.statusLabel)],
    ["epochs", ...c.runs.map((r) => `${r.summary.epochsDone ?? 0}/${r.summary.epochsTotal ?? "?"}`)],
    ["best epoch", ...c.runs.map((r) => (r.bestEpoch === null ? "-" : String(r.bestEpoch)))],
    ...metricRows("best"),
    ...metricRows("final"),
    ["duration", ...c.runs.map((r) => (r.summary.durationSeconds === null ? "-" : formatDuration(r.summary.durationSeconds)))],
  ];
  const columns = [{ header: "" }, ...c.runs.map((r) => ({ header: r.summary.name }))];
  const diffKeys = Object.keys(c.configDiff);
  const configTable = diffKeys.length
    ? formatTable(columns, diffKeys.map((k) => [k, ...c.configDiff[k].map((v) => (v === null ? "-" : typeof v === "string" ? v : JSON.stringify(v)))]), color)
    : "  (the same in every run)";
  return `${formatTable(columns, rows, color)}\n\nconfig keys that differ\n${configTable}`;
}
