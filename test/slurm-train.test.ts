// kiln train --slurm against a real local SLURM: the batch script in the run
// directory, the job id in run.json, the scheduler's state in `kiln runs`
// (checked against scontrol), a run followed to completed, another stopped
// mid-run (scancel) and resumed. A run stopped by its time limit and requeued:
// test/slurm-requeue.test.ts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { epochsDone, requireSlurm, runJson, scontrolState, waitUntil } from "./helpers/cluster.js";
import { effectiveStatus } from "../src/runs/liveness.js";
import { jobStateOf } from "../src/cluster/slurm.js";

const dir = scratchDir("kiln-slurm-");
after(() => rmSync(dir, { recursive: true, force: true }));
before(() => requireSlurm());
const TINY = ["imgsz=16", "max_per_class=4", "batch=8", "warmup_epochs=0"];

interface Listed { name: string; status: string; scheduler: { jobId: string; state: string } | null }
const listed = (name: string): Listed | undefined => (JSON.parse(runKiln(["runs", "--json"], dir).stdout) as Listed[]).find((r) => r.name === name);
const jobOf = (run: string): string => (runJson(run).slurm as { job_id: string }).job_id;

test("a short training submitted with --slurm is followed to completed", async () => {
  const r = runKiln(["train", ...TINY, "epochs=2", "name=short", "--slurm", "time=10", "cpus_per_task=1"], dir);
  assert.equal(r.code, 0, r.stderr);
  const jobId = /as job (\d+)/.exec(r.stdout)?.[1] ?? "";
  const run = join(dir, "runs", "classify", "short");
  assert.equal(jobOf(run), jobId, "run.json records the job id sbatch gave");
  const script = readFileSync(join(run, "job.sbatch"), "utf8");
  assert.match(script, /^#!\/bin\/bash/);
  assert.match(script, /#SBATCH --time=10\n/);
  assert.match(script, /#SBATCH --cpus-per-task=1\n/);
  assert.match(script, /export KILN_RUN_DIR="\$RUN" CI=1 KILN_SLURM_GRACE=60\n/, "kiln watches the time limit itself (no --signal)");
  assert.doesNotMatch(script, /--signal/);
  assert.match(script, /srun --mpi=none --ntasks=1 "\$NODE" "\$KILN" "\$\{TRAIN\[@\]\}"/);
  assert.match(script, /epochs=2 name=short|name=short/);

  await waitUntil("the job to finish", () => ["COMPLETED", "FAILED", "CANCELLED"].includes(scontrolState(jobId)), 180);
  assert.equal(scontrolState(jobId), "COMPLETED");
  const row = listed("short");
  assert.equal(row?.status, "finished");
  assert.deepEqual(row?.scheduler, { kind: "slurm", jobId, state: "completed" });
  assert.equal(epochsDone(run), 2);
  assert.ok(existsSync(join(run, "weights", "best.safetensors")));
  assert.ok(existsSync(join(run, `slurm-${jobId}.out`)), "SLURM wrote the job's output into the run directory");
  const show = runKiln(["runs", "show", "short"], dir);
  assert.match(show.stdout, new RegExp(`scheduler  slurm ${jobId} completed; jobs ${jobId}; script `));
});

test("a SLURM run stopped mid-run (scancel) saves last, shows cancelled, and resumes to the end", async () => {
  // patience=0: the run must reach its last epoch, whatever the accuracy does (early stopping could end it first).
  const r = runKiln(["train", ...TINY, "epochs=150", "patience=0", "name=stopped", "--slurm", "time=10"], dir);
  assert.equal(r.code, 0, r.stderr);
  const run = join(dir, "runs", "classify", "stopped");
  const jobId = jobOf(run);
  await waitUntil("two epochs in the job", () => epochsDone(run) >= 2, 180);
  assert.equal(listed("stopped")?.status, "running");
  assert.equal(listed("stopped")?.scheduler?.state, "running");

  const stop = runKiln(["runs", "stop", "stopped"], dir);
  assert.equal(stop.code, 0, stop.stderr + stop.stdout);
  assert.match(stop.stdout, new RegExp(`cancelled SLURM job ${jobId} \\(running\\)`));
  assert.equal(scontrolState(jobId), "CANCELLED");
  assert.equal(runJson(run).status, "interrupted", "SLURM's SIGTERM took kiln's Ctrl-C path");
  assert.ok(existsSync(join(run, "weights", "last.safetensors")));
  assert.deepEqual(listed("stopped")?.scheduler?.state, "cancelled");
  const stoppedAt = epochsDone(run);
  assert.ok(stoppedAt < 150);

  const again = runKiln(["train", "--resume", run, "--slurm"], dir);
  assert.equal(again.code, 0, again.stderr);
  const job2 = jobOf(run);
  assert.notEqual(job2, jobId);
  assert.deepEqual((runJson(run).slurm as { job_ids: string[] }).job_ids, [jobId, job2]);
  await waitUntil("the resumed job to finish", () => runJson(run).status === "finished", 240);
  assert.equal(epochsDone(run), 150);
  assert.ok((runJson(run).resumed_at as string[]).length >= 1);
});

test("kiln reads SLURM's states: a queued or running run whose job ended died; a pending one stays queued", () => {
  const rec = { status: "queued" as const, heartbeat_at: new Date(0).toISOString(), slurm: { job_id: "7", job_ids: ["7"], script: "job.sbatch", submitted_at: "", requeue: false } };
  const now = Date.now();
  assert.equal(effectiveStatus(rec, now, () => false, "pending"), "queued");
  assert.equal(effectiveStatus(rec, now, () => false, "gone"), "died");
  assert.equal(effectiveStatus(rec, now, () => false, "unreachable"), "queued", "no answer from SLURM is no verdict");
  const running = { ...rec, status: "running" as const, pid: 999999999, heartbeat_at: new Date(now).toISOString() };
  assert.equal(effectiveStatus(running, now, () => false, "running"), "running", "a SLURM run's pid may be on another host: not checked");
  assert.equal(effectiveStatus(running, now, () => false, "cancelled"), "died");
  assert.equal(effectiveStatus({ ...running, status: "interrupted" }, now, () => false, "cancelled"), "interrupted");
  for (const [slurm, kiln] of [["PENDING", "pending"], ["CONFIGURING", "running"], ["COMPLETED", "completed"], ["TIMEOUT", "timeout"], ["OUT_OF_MEMORY", "failed"], ["CANCELLED+", "cancelled"], ["SOMETHING_NEW", "unknown"]]) {
    assert.equal(jobStateOf(slurm), kiln, slurm);
  }
});

test("without SLURM's commands --slurm fails with the fix and leaves no run behind", () => {
  const r = runKiln(["train", ...TINY, "epochs=1", "name=nosbatch", "--slurm"], dir, { PATH: "/nonexistent" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the command 'sbatch' was not found\. Fix: .*slurm-client/);
  assert.ok(!existsSync(join(dir, "runs", "classify", "nosbatch")));
});
