// SLURM's own commands, called as a user would: sbatch to submit, squeue and
// scontrol to ask a job's state (accounting, and so sacct, is often off),
// scancel to stop. Every failure names the command and the fix.
import { spawnSync } from "node:child_process";
import { KilnError } from "../errors.js";

/** The scheduler's view of a job, in kiln's words. */
export type JobState = "pending" | "running" | "completing" | "completed" | "failed" | "cancelled" | "timeout" | "unknown";

export const ACTIVE_STATES: readonly JobState[] = ["pending", "running", "completing"];

export const SLURM_FIX = "Fix: run kiln on a machine with SLURM's client commands (Debian: apt-get install slurm-client; "
  + "a one-node test cluster: .ci/slurm-up.sh), or train without --slurm.";

interface Result { stdout: string; stderr: string; status: number | null; error?: Error }

function call(command: string, args: string[], input?: string): Result {
  const r = spawnSync(command, args, { encoding: "utf8", input, timeout: 30_000 });
  return { stdout: r.stdout ?? "", stderr: r.stderr ?? "", status: r.status, error: r.error };
}

function missing(r: Result): boolean {
  return (r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

function fail(command: string, r: Result, what: string): never {
  if (missing(r)) throw new KilnError(`${what}: the command '${command}' was not found. ${SLURM_FIX}`);
  const why = (r.stderr || r.stdout || r.error?.message || `exit code ${r.status}`).trim().split("\n").slice(-3).join(" ");
  throw new KilnError(`${what}: '${command}' failed: ${why}. Fix: check that the SLURM controller is up ('sinfo' lists the partitions), then try again.`);
}

/** Whether SLURM answers here (sinfo runs and the controller replies). */
export function slurmAvailable(): boolean {
  const r = call("sinfo", ["-h", "-o", "%P"]);
  return r.status === 0;
}

/** Submits a batch script; returns the job id (for an array: the array's id). */
export function sbatch(script: string, args: string[] = []): string {
  const r = call("sbatch", ["--parsable", ...args, script]);
  if (r.status !== 0) fail("sbatch", r, `could not submit ${script}`);
  const id = r.stdout.trim().split(";")[0];
  if (!/^\d+$/.test(id)) throw new KilnError(`sbatch answered '${r.stdout.trim()}' instead of a job id for ${script}.`);
  return id;
}

/** SLURM's state names (squeue's %T, scontrol's JobState) in kiln's words. */
export function jobStateOf(slurmState: string): JobState {
  const s = slurmState.trim().toUpperCase().split(/[\s+]/)[0]; // sacct writes CANCELLED+, scontrol "CANCELLED by 0"
  if (["PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED", "RESIZING", "SIGNALING", "STAGE_OUT"].includes(s)) {
    return s === "SUSPENDED" || s === "STOPPED" || s === "SIGNALING" || s === "STAGE_OUT" ? "running" : "pending";
  }
  if (s === "CONFIGURING" || s === "RUNNING") return "running";
  if (s === "COMPLETING") return "completing";
  if (s === "COMPLETED") return "completed";
  if (s === "CANCELLED" || s === "REVOKED" || s === "DEADLINE" || s === "PREEMPTED") return "cancelled";
  if (s === "TIMEOUT") return "timeout";
  if (["FAILED", "NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "SPECIAL_EXIT"].includes(s)) return "failed";
  return "unknown";
}

/**
 * The state of each job id (plain `123`, or an array element `123_4`): squeue
 * for the jobs in the queue, then `scontrol show job` for those that left it
 * (kept about 5 minutes after the end). Ids SLURM no longer knows are absent
 * from the map. Throws a KilnError when SLURM cannot be asked at all.
 */
export function jobStates(ids: readonly string[]): Map<string, JobState> {
  const states = new Map<string, JobState>();
  if (ids.length === 0) return states;
  // -r: one line per array element; %i prints 123_4 for elements, %A_%a the same, %F the array's id.
  const q = call("squeue", ["-h", "-r", "-o", "%i|%A|%T"]);
  if (q.status !== 0) fail("squeue", q, "could not ask SLURM for the jobs' states");
  for (const line of q.stdout.split("\n")) {
    const [id, raw, state] = line.split("|");
    if (!state) continue;
    for (const key of [id, raw]) if (ids.includes(key)) states.set(key, jobStateOf(state));
  }
  for (const id of ids) {
    if (states.has(id)) continue;
    const s = call("scontrol", ["show", "job", "-o", id]);
    const m = /\bJobState=(\S+)/.exec(s.stdout);
    if (s.status === 0 && m) states.set(id, jobStateOf(m[1]));
  }
  return states;
}

/** Cancels a job: SLURM sends SIGTERM to its processes (kiln saves `last` on it), then SIGKILL after KillWait. */
export function scancel(id: string, signal?: string): void {
  const r = call("scancel", [...(signal ? ["--signal", signal] : []), id]);
  if (r.status !== 0) fail("scancel", r, `could not cancel SLURM job ${id}`);
}
