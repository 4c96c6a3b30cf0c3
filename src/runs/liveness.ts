// Whether a run that says "running" still is. A killed or crashed process
// cannot update its run.json, so a run is taken as dead when its process is
// gone from this host or its heartbeat (rewritten every 30 s) is older than
// 2 minutes; a list then never shows a dead run as running forever.

export type RunStatus = "running" | "finished" | "interrupted" | "failed";
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

export function effectiveStatus(record: RunRecord, nowMs: number, pidAlive: (pid: number) => boolean = isPidAlive): RunStatus | "died" {
  if (record.status !== "running") return record.status;
  if (typeof record.pid === "number" && record.pid > 0 && !pidAlive(record.pid)) return "died";
  const beat = record.heartbeat_at ? Date.parse(record.heartbeat_at) : NaN;
  if (Number.isFinite(beat) && nowMs - beat > HEARTBEAT_STALE_MS) return "died";
  return "running";
}

export function statusLabel(status: ListedStatus): string {
  return status === "died" ? "failed (died)" : status;
}
