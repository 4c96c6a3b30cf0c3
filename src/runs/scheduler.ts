// The scheduler's side of runs launched with `kiln train --slurm`: the state
// SLURM gives each run's current job (squeue, then scontrol for jobs that
// just left the queue), asked once for all the runs of a list.
import { jobStates, type JobState } from "../cluster/slurm.js";
import { KilnError } from "../errors.js";
import type { RunRecord } from "./liveness.js";

/** A job's state; "gone": SLURM no longer knows the job (it ended minutes ago); "unreachable": SLURM could not be asked. */
export type SchedulerAnswer = JobState | "gone" | "unreachable";
export type SchedulerLookup = (jobId: string) => SchedulerAnswer;

export const slurmJobOf = (record: RunRecord | null): string | null => (typeof record?.slurm?.job_id === "string" ? record.slurm.job_id : null);

/** One squeue call for every job of `records` (none when no run went to SLURM). */
export function slurmLookup(records: readonly (RunRecord | null)[], ask: (ids: readonly string[]) => Map<string, JobState> = jobStates): SchedulerLookup {
  const ids = [...new Set(records.map(slurmJobOf).filter((id): id is string => id !== null))];
  if (ids.length === 0) return () => "gone";
  try {
    const states = ask(ids);
    return (id) => states.get(id) ?? "gone";
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    return () => "unreachable";
  }
}
