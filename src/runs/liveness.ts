// Whether a run that says "running" still is. A killed or crashed process
// cannot update its run.json, so a run is taken as dead when its process is
// gone from this host or its heartbeat (rewritten every 30 s) is older than
// 2 minutes; a list then never shows a dead run as running forever. A run
// on SLURM (possibly on another host) is judged by its job's state instead of
// its pid.
import type { DetachedInfo, SlurmInfo } from "../cluster/launch-record.js";
import type { SchedulerAnswer } from "./scheduler.js";

/** "queued": submitted to SLURM, the training process not started yet. */
export type RunStatus = "queued" | "running" | "finished" | "interrupted" | "failed";
export type ListedStatus = RunStatus | "died" | "unknown" | "unreadable";

export interface RunRecord {
  status: RunStatus;
  pid?: number;
  kiln_version?: string;
  started_at?: string;
  ended_at?: string | null;
  heartbeat_at?: string;
  message?: string;
  resumed_at?: string[];
  detached?: DetachedInfo;
  slurm?: SlurmInfo;
}

export const HEARTBEAT_STALE_MS = 2 * 60_000;

/** process.kill(pid, 0) sends nothing; ESRCH means no such process. EPERM: it exists, owned by another user. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

const ACTIVE: readonly SchedulerAnswer[] = ["pending", "running", "completing"];

/**
 * `scheduler`: the SLURM job's state for a run that went to SLURM (undefined:
 * not asked). A queued or running run whose job has ended (or is no longer
 * known) died before it could say so.
 */
export function effectiveStatus(record: RunRecord, nowMs: number, pidAlive: (pid: number) => boolean = isPidAlive, scheduler?: SchedulerAnswer): RunStatus | "died" {
  const judged = record.slurm !== undefined && scheduler !== undefined && scheduler !== "unreachable";
  if ((record.status === "queued" || record.status === "running") && judged && !ACTIVE.includes(scheduler)) return "died";
  if (record.status !== "running") return record.status;
  if (record.slurm === undefined && typeof record.pid === "number" && record.pid > 0 && !pidAlive(record.pid)) return "died";
  const beat = record.heartbeat_at ? Date.parse(record.heartbeat_at) : NaN;
  if (Number.isFinite(beat) && nowMs - beat > HEARTBEAT_STALE_MS) return "died";
  return "running";
}

export function statusLabel(status: ListedStatus): string {
  return status === "died" ? "failed (died)" : status;
}
