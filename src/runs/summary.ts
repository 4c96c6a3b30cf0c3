// One line's worth of facts about a run, from its files: what `kiln runs`
// lists, filters and sorts, and what `--json` prints.
import { basename, dirname, join } from "node:path";
import { snapshotFromJson, type MetricSnapshot } from "../compare/extract.js";
import { primaryMetric, type Task } from "../compare/metric-specs.js";
import { effectiveStatus, isPidAlive, statusLabel, type ListedStatus } from "./liveness.js";
import type { FileProblem, RunFiles } from "./read-run.js";
import { slurmJobOf, type SchedulerAnswer, type SchedulerLookup } from "./scheduler.js";

export interface RunSummary {
  name: string;
  dir: string;
  task: string;
  model: string | null;
  data: string | null;
  status: ListedStatus;
  /** What the list prints: "failed (died)" for a dead "running" run. */
  statusLabel: string;
  epochsDone: number | null;
  epochsTotal: number | null;
  /** The primary metric at the best epoch (val accuracy for classify, mAP50-95 for detect). */
  best: { key: string; label: string; value: number; epoch: number | null } | null;
  durationSeconds: number | null;
  startedAt: string | null;
  endedAt: string | null;
  /** The SLURM job of a run submitted with --slurm, and its state (null: not asked). */
  scheduler?: { kind: "slurm"; jobId: string; state: SchedulerAnswer | null };
  /** The background process of a run started with --detach. */
  detached?: { pid: number | null; output: string };
  problems: FileProblem[];
}

const str = (v: unknown): string | null => (typeof v === "string" || typeof v === "number" ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const time = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : NaN);

/** args.yaml's task, then metrics.json's, then the folder (runs/<task>/<name>); classify runs may name none. */
export function taskOf(files: RunFiles): string {
  const parent = basename(dirname(files.dir));
  return str(files.config?.task) ?? str(files.metrics?.task) ?? (parent === "detect" ? "detect" : "classify");
}

/** The best epoch's metrics, or null when metrics.json is missing or holds none. */
export function bestSnapshot(files: RunFiles, pick: "best" | "final" = "best"): MetricSnapshot | null {
  if (!files.metrics) return null;
  try {
    return snapshotFromJson(files.metrics, join(files.dir, "metrics.json"), pick);
  } catch {
    return null;
  }
}

function statusOf(files: RunFiles, nowMs: number, pidAlive: (pid: number) => boolean, scheduler: SchedulerAnswer | undefined): ListedStatus {
  if (files.record) return effectiveStatus(files.record, nowMs, pidAlive, scheduler);
  return files.problems.some((p) => p.file.endsWith("run.json")) ? "unreadable" : "unknown";
}

// Wall-clock time from start to end (or to the last heartbeat of a dead run,
// or to now while it runs). A resumed run's wall clock includes the time it
// was stopped, so its training time (metrics history) is used instead.
function durationOf(files: RunFiles, status: ListedStatus, nowMs: number): number | null {
  const r = files.record;
  const history = Array.isArray(files.metrics?.history) ? files.metrics.history : [];
  const trained = num((history.at(-1) as { time?: unknown } | undefined)?.time);
  if (r?.resumed_at?.length && trained !== null) return trained;
  const start = time(r?.started_at);
  const end = status === "running" ? nowMs : status === "died" ? time(r?.heartbeat_at) : time(r?.ended_at);
  if (Number.isFinite(start) && Number.isFinite(end)) return Math.max(0, (end - start) / 1000);
  return trained;
}

/** `scheduler`: asks SLURM about a run's job (slurmLookup); without it a SLURM run is judged by its heartbeat alone. */
export function summarizeRun(files: RunFiles, nowMs = Date.now(), pidAlive: (pid: number) => boolean = isPidAlive, scheduler?: SchedulerLookup): RunSummary {
  const task = taskOf(files);
  const jobId = slurmJobOf(files.record);
  const jobState = jobId !== null && scheduler ? scheduler(jobId) : undefined;
  const status = statusOf(files, nowMs, pidAlive, jobState);
  const snapshot = bestSnapshot(files);
  const spec = primaryMetric((task === "detect" ? "detect" : "classify") as Task);
  const value = snapshot?.values[spec.key];
  const history = files.metrics?.history;
  return {
    name: files.name,
    dir: files.dir,
    task,
    model: str(files.config?.model),
    data: str(files.config?.data),
    status,
    statusLabel: statusLabel(status),
    epochsDone: num(files.metrics?.epoch) ?? (Array.isArray(history) ? history.length : files.results ? files.results.rows.length : null),
    epochsTotal: num(files.config?.epochs),
    best: value === undefined || !snapshot ? null : { key: spec.key, label: spec.label, value, epoch: snapshot.epoch },
    durationSeconds: durationOf(files, status, nowMs),
    startedAt: files.record?.started_at ?? null,
    endedAt: files.record?.ended_at ?? null,
    // Present only for runs launched away from the terminal (the JSON of other runs is unchanged).
    ...(jobId === null ? {} : { scheduler: { kind: "slurm" as const, jobId, state: jobState ?? null } }),
    ...(files.record?.detached ? { detached: { pid: num(files.record.pid), output: files.record.detached.output } } : {}),
    problems: files.problems,
  };
}
