// Data-parallel training as a SLURM job: `kiln train --slurm ntasks_per_node=2`
// writes a batch script whose `srun --mpi=pmix` starts two ranks (PMIx, no
// mpirun), the way a cluster would run them on several nodes. The oracle is
// one process with the same global batch on this machine: with freeze_bn the
// two runs differ only in the order of float32 sums (see ddp-train.test.ts),
// and validation, sharded over the ranks, gives the same metrics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { requireSlurm, runJson, scontrolState, waitUntil } from "./helpers/cluster.js";
import { resultsColumn, worstWeightError } from "./helpers/ddp.js";

const dir = scratchDir("kiln-slurm-ddp-");
after(() => rmSync(dir, { recursive: true, force: true }));
before(() => requireSlurm());

test("--slurm ntasks_per_node=2 trains with two ranks started by srun (PMIx) and ends with one process's weights", async () => {
  const common = ["imgsz=16", "max_per_class=25", "epochs=1", "batch=8", "freeze_bn=true", "optimizer=SGD", "warmup_epochs=0",
    "mlflow=false", "tensorboard=false", "plots=false"];
  const one = runKiln(["train", ...common, "name=one", "yes=true"], dir);
  assert.equal(one.code, 0, one.stderr);

  const r = runKiln(["train", ...common, "name=two", "--slurm", "ntasks_per_node=2", "cpus_per_task=1", "time=10"], dir);
  assert.equal(r.code, 0, r.stderr);
  const jobId = /as job (\d+)/.exec(r.stdout)?.[1] ?? "";
  const run = join(dir, "runs", "classify", "two");
  const script = readFileSync(join(run, "job.sbatch"), "utf8");
  assert.match(script, /#SBATCH --ntasks-per-node=2\n/);
  assert.match(script, /srun --mpi=pmix "\$NODE" "\$KILN" "\$\{TRAIN\[@\]\}"/, "two tasks: one rank each over PMIx");

  await waitUntil("the job to finish", () => ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"].includes(scontrolState(jobId)), 240);
  const out = readFileSync(join(run, `slurm-${jobId}.out`), "utf8");
  assert.equal(scontrolState(jobId), "COMPLETED", out);
  assert.equal(runJson(run).status, "finished");
  assert.match(readFileSync(join(run, "train.log"), "utf8"), /ranks {6}2 processes/, "the log says two ranks trained");

  // float32 re-association over 31 steps (ddp-train measured 1.3e-7); a lost half-batch or a wrong scale is > 1e-3.
  const worst = worstWeightError(join(run, "weights", "last.safetensors"), join(dir, "runs", "classify", "one", "weights", "last.safetensors"));
  assert.ok(worst.count >= 8 && worst.error < 1e-5, `${worst.key}: normwise error ${worst.error}`);
  const column = (name: string, k: string): number[] => resultsColumn(join(dir, "runs", "classify", name, "results.csv"), k);
  assert.deepEqual(column("two", "val/acc"), column("one", "val/acc"), "val accuracy over the ranks' shards equals one process's");
});
