// A SLURM run that outlives its job's time limit, against the real local
// SLURM: with `--slurm time=1 requeue=true grace=20`, kiln reads the job's
// remaining time (squeue), stops 20 s before the end through the Ctrl-C path
// (last saved, run interrupted, exit status 75), the job script submits the
// run again with --resume, and the run ends with every epoch, each trained
// once. Early stopping cannot end it (patience is higher than the epochs).
//
// The workload is real but small: the synthetic dataset at imgsz=32 with 600
// training images, one core (cpus_per_task=1), about 1 s an epoch here (a
// one-minute job trains ~35 s: 60 s − 20 s grace − start-up, measured 36
// epochs), so 70 epochs take two or three jobs; a core twice as fast would
// still need two, a loaded one takes more jobs (the test waits for them).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { epochsDone, requireSlurm, runJson, scontrolState, waitUntil } from "./helpers/cluster.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";

const dir = scratchDir("kiln-requeue-");
after(() => rmSync(dir, { recursive: true, force: true }));
before(() => requireSlurm());

const EPOCHS = 70;
const jobIds = (run: string): string[] => (runJson(run).slurm as { job_ids?: string[] } | undefined)?.job_ids ?? [];
const epochColumn = (run: string): number[] => readFileSync(join(run, "results.csv"), "utf8").trim().split("\n").slice(1).map((r) => Number(r.split(",")[0]));

test("a run that outlives its SLURM time limit saves last before it, is requeued with --resume, and ends with every epoch", { timeout: 480_000 }, async () => {
  const r = runKiln(["train", "imgsz=32", "max_per_class=60", "batch=16", "warmup_epochs=0", `epochs=${EPOCHS}`, `patience=${EPOCHS + 100}`,
    "plots=false", "name=requeue", "--slurm", "time=1", "requeue=true", "grace=20", "cpus_per_task=1"], dir);
  assert.equal(r.code, 0, r.stderr);
  const run = join(dir, "runs", "classify", "requeue");
  assert.match(readFileSync(join(run, "job.sbatch"), "utf8"), /KILN_SLURM_GRACE=20\n/);
  const [first] = jobIds(run);

  // The first job stops itself before its limit and submits the run again.
  await waitUntil("a second job in run.json", () => jobIds(run).length >= 2, 150);
  await waitUntil("the first job to end", () => ["COMPLETED", "FAILED", "TIMEOUT", "CANCELLED"].includes(scontrolState(first)), 60);
  assert.equal(scontrolState(first), "COMPLETED", "kiln stopped before SLURM's limit (TIMEOUT) and the script ended cleanly after resubmitting");
  const out = readFileSync(join(run, `slurm-${first}.out`), "utf8");
  assert.match(out, /kiln: stopped 20 s before the job's time limit; weights\/last\.safetensors saved/);
  assert.match(out, /kiln: submitting the run again to resume it/);
  assert.match(readFileSync(join(run, "train.log"), "utf8"), new RegExp(`SLURM job ${first} ends in \\d+ s \\(grace=20 s\\): finishing the current step`));
  const stoppedAt = loadCheckpoint(join(run, "weights", "last.safetensors")).training;
  assert.ok(stoppedAt.epoch + (stoppedAt.batch > 0 ? 1 : 0) < EPOCHS, `the first job could not finish (stopped at epoch ${stoppedAt.epoch}, batch ${stoppedAt.batch})`);
  assert.ok(stoppedAt.epoch >= 1, "the first job trained whole epochs before its limit");

  // The requeued jobs finish the run; every epoch appears once, in order.
  await waitUntil("the run to finish", () => runJson(run).status === "finished", 400);
  assert.equal(epochsDone(run), EPOCHS);
  assert.deepEqual(epochColumn(run), Array.from({ length: EPOCHS }, (_, i) => i + 1));
  assert.equal(loadCheckpoint(join(run, "weights", "last.safetensors")).training.epoch, EPOCHS);
  const ids = jobIds(run);
  assert.ok(ids.length >= 2 && ids[0] === first, `jobs ${ids.join(", ")}`);
  assert.equal(new Set(ids).size, ids.length, "each job recorded once");
  const record = runJson(run);
  assert.equal((record.slurm as { job_id: string }).job_id, ids.at(-1));
  assert.equal((record.resumed_at as string[]).length, ids.length - 1);
  for (const id of ids.slice(1, -1)) assert.match(readFileSync(join(run, `slurm-${id}.out`), "utf8"), /submitting the run again/);
  const lastJob = ids.at(-1)!;
  await waitUntil("the last job to end", () => scontrolState(lastJob) === "COMPLETED", 60);
  assert.ok(existsSync(join(run, "weights", "best.safetensors")));
  const listed = (JSON.parse(runKiln(["runs", "--json"], dir).stdout) as { name: string; status: string; scheduler: { jobId: string; state: string } | null }[])
    .find((x) => x.name === "requeue");
  assert.equal(listed?.status, "finished");
  assert.deepEqual(listed?.scheduler, { kind: "slurm", jobId: lastJob, state: "completed" });
  console.log(`requeue: ${ids.length} jobs (${ids.join(", ")}); the first stopped at epoch ${stoppedAt.epoch}, batch ${stoppedAt.batch}`);
});
