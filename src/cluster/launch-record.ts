// What run.json says about how a run was launched away from the terminal:
// `detached` (kiln train --detach: the background process and its output
// file) and `slurm` (kiln train --slurm: the batch script and the job ids,
// newest last). Written by the launching command before the training process
// starts, and kept by the training process (src/train/run-dir.ts).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomic.js";

export interface DetachedInfo {
  /** The file (in the run directory) that holds the process's stdout and stderr. */
  output: string;
  /** The command the background process runs. */
  command: string;
}

export interface SlurmInfo {
  /** The current job: `123`, or `123_4` for an element of a job array. */
  job_id: string;
  /** Every job this run has had (resubmissions after a time limit), oldest first. */
  job_ids: string[];
  /** The batch script (in the run directory, or the sweep's array script). */
  script: string;
  submitted_at: string;
  /** Resubmit with --resume when the time limit stops the run. */
  requeue: boolean;
}

export interface LaunchFields { detached?: DetachedInfo; slurm?: SlurmInfo }

export function readRunJson(dir: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(readFileSync(join(dir, "run.json"), "utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Merges `fields` into run.json (creating it with them when absent), atomically. */
export function updateRunJson(dir: string, fields: Record<string, unknown>): Record<string, unknown> {
  const record = { ...(readRunJson(dir) ?? {}), ...fields };
  writeFileAtomicSync(join(dir, "run.json"), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/**
 * The launch fields a new run.json must keep from the one the launcher wrote;
 * inside a SLURM job that kiln did not submit itself (the script sent again
 * with `sbatch` by hand), the job's id becomes the current one.
 */
export function carriedLaunchFields(runJsonPath: string, env: NodeJS.ProcessEnv = process.env): LaunchFields {
  if (!existsSync(runJsonPath)) return {};
  let previous: Record<string, unknown>;
  try {
    previous = JSON.parse(readFileSync(runJsonPath, "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
  const out: LaunchFields = {};
  if (previous.detached && typeof previous.detached === "object") out.detached = previous.detached as DetachedInfo;
  const slurm = previous.slurm as SlurmInfo | undefined;
  if (slurm && typeof slurm === "object" && typeof slurm.job_id === "string") {
    const jobId = env.SLURM_JOB_ID;
    const element = env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID ? `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}` : null;
    const known = [slurm.job_id, ...(slurm.job_ids ?? [])];
    if (jobId && !known.includes(jobId) && !(element && known.includes(element))) {
      out.slurm = { ...slurm, job_id: jobId, job_ids: [...(slurm.job_ids ?? []), jobId] };
    } else {
      out.slurm = slurm;
    }
  }
  return out;
}
