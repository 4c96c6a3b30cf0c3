// Shared by the detach, SLURM and sweep tests: waiting on files, and a real
// local SLURM (started by .ci/slurm-up.sh when it is not up yet).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export function runJson(dir: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Polls `check` every 200 ms; throws with `what` after `seconds`. */
export async function waitUntil(what: string, check: () => boolean, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(200);
  }
}

export const epochsDone = (dir: string): number => (existsSync(join(dir, "results.csv")) ? readFileSync(join(dir, "results.csv"), "utf8").trim().split("\n").length - 1 : 0);

/** SLURM must answer: the test starts it with .ci/slurm-up.sh if needed, and fails (never skips) when it cannot. */
export function requireSlurm(): void {
  const up = (): boolean => spawnSync("sinfo", ["-h", "-o", "%T"], { encoding: "utf8" }).status === 0;
  if (up()) return;
  const r = spawnSync("bash", [resolve(".ci/slurm-up.sh")], { encoding: "utf8" });
  if (r.status !== 0 || !up()) {
    throw new Error(`these tests need a running SLURM (slurmctld, slurmd, munge) and could not start one with .ci/slurm-up.sh `
      + `(as root, with Debian's slurmctld slurmd slurm-client munge): ${(r.error?.message ?? r.stderr).trim().split("\n").slice(-3).join(" ")}`);
  }
}

/** SLURM's own word on a job (scontrol), the oracle for kiln's reading of it. */
export function scontrolState(jobId: string): string {
  const r = spawnSync("scontrol", ["show", "job", "-o", jobId], { encoding: "utf8" });
  return /\bJobState=(\S+)/.exec(r.stdout)?.[1] ?? "";
}
