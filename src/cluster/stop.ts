// `kiln runs stop RUN`: the Ctrl-C path for a run away from the terminal. A
// background run (--detach) gets SIGINT at its recorded pid; a SLURM run gets
// scancel, with which SLURM sends SIGTERM (handled as Ctrl-C) and SIGKILL
// after its KillWait (30 s by default). Either way kiln finishes the step,
// saves weights/last.safetensors and marks the run interrupted.
import { setTimeout as sleep } from "node:timers/promises";
import { KilnError } from "../errors.js";
import { isPidAlive } from "../runs/liveness.js";
import { readRunJson, updateRunJson, type SlurmInfo } from "./launch-record.js";
import { ACTIVE_STATES, jobStates, scancel, type JobState } from "./slurm.js";

export interface StopOptions { wait: boolean; timeoutSeconds: number }

const statusOf = (dir: string): string => String(readRunJson(dir)?.status ?? "unknown");

async function waitFor(done: () => boolean, seconds: number): Promise<boolean> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    if (done()) return true;
    if (Date.now() > until) return false;
    await sleep(200);
  }
}

function jobState(id: string): JobState | "gone" {
  return jobStates([id]).get(id) ?? "gone";
}

async function stopSlurm(dir: string, slurm: SlurmInfo, o: StopOptions): Promise<number> {
  const before = jobState(slurm.job_id);
  if (!ACTIVE_STATES.includes(before as JobState)) {
    throw new KilnError(`${dir}: its SLURM job ${slurm.job_id} is not queued or running (${before === "gone" ? "SLURM no longer knows it" : before}); the run is ${statusOf(dir)}. Nothing to stop.`, 1);
  }
  scancel(slurm.job_id);
  console.log(`cancelled SLURM job ${slurm.job_id} (${before}): ${before === "pending" ? "it had not started" : "kiln saves weights/last.safetensors on SLURM's SIGTERM"}`);
  if (!o.wait) return 0;
  const ended = await waitFor(() => !ACTIVE_STATES.includes(jobState(slurm.job_id) as JobState), o.timeoutSeconds);
  if (statusOf(dir) === "queued") {
    // The training never started: the run says so itself.
    updateRunJson(dir, { status: "interrupted", ended_at: new Date().toISOString(), message: `SLURM job ${slurm.job_id} cancelled before the training started` });
  }
  const status = statusOf(dir);
  console.log(`${dir}: ${status}${ended ? "" : ` (job ${slurm.job_id} still ending after ${o.timeoutSeconds} s)`}${status === "interrupted" ? `. Resume with: kiln train --resume ${dir} --slurm` : ""}`);
  return ended ? 0 : 1;
}

async function stopProcess(dir: string, pid: number, o: StopOptions): Promise<number> {
  if (!isPidAlive(pid)) throw new KilnError(`${dir} says running, but its process ${pid} is gone (it died). Nothing to stop; resume it with 'kiln train --resume ${dir}'.`, 1);
  process.kill(pid, "SIGINT");
  console.log(`sent SIGINT to ${pid} (as Ctrl-C): it finishes the current step and saves weights/last.safetensors`);
  if (!o.wait) return 0;
  const stopped = await waitFor(() => statusOf(dir) !== "running" || !isPidAlive(pid), o.timeoutSeconds);
  if (stopped) await waitFor(() => !isPidAlive(pid), 10);
  const status = statusOf(dir);
  console.log(`${dir}: ${stopped ? status : `still running after ${o.timeoutSeconds} s (a long step?); run the command again to wait, or kill ${pid}`}${status === "interrupted" ? `. Resume with: kiln train --resume ${dir}` : ""}`);
  return stopped ? 0 : 1;
}

export async function stopRun(dir: string, o: StopOptions): Promise<number> {
  const record = readRunJson(dir);
  if (!record) throw new KilnError(`${dir} has no readable run.json: it is not a run kiln can stop.`, 2);
  const slurm = record.slurm as SlurmInfo | undefined;
  if (slurm && typeof slurm.job_id === "string") return stopSlurm(dir, slurm, o);
  const status = String(record.status);
  if (status !== "running" || typeof record.pid !== "number") throw new KilnError(`${dir} is not running (its status is ${status}). Nothing to stop.`, 1);
  return stopProcess(dir, record.pid, o);
}
