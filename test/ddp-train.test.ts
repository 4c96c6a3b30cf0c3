// Data-parallel training through real `mpirun -np 2` (Open MPI), started by
// `kiln train ranks=2` as a user would:
// - equivalence: 2 ranks with global batch B end with the same weights as one
//   process with batch B. The oracle is the one-process run. freeze_bn=true,
//   because batch-norm statistics are per rank by design (a rank normalises
//   its B/2 images with their own mean and variance, one process with all B),
//   which changes the result; with running statistics in use instead, the only
//   difference left is the order of float32 sums (each rank sums its half of
//   a batch's gradient, MPI adds the halves), hence a tolerance, not bits;
// - a rank that fails (a test hook throws in rank 1; kill -9 of rank 1) ends
//   the job with a clear message, run.json says failed, and weights/last is
//   resumable: resumed with the same ranks it ends bit-identical to an
//   uninterrupted 2-rank run (same ranks, same order of sums);
// - Ctrl-C (SIGINT to the launcher) stops both ranks at the same step, and the
//   resumed run is again bit-identical.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readSafetensorsSync } from "../src/io/safetensors.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { normwiseError } from "./helpers/compare.js";
import { floats, resultsColumn } from "./helpers/ddp.js";
import { KILN_BIN, runKiln, scratchDir, startKiln } from "./helpers/kiln-cli.js";

const QUIET = ["project=runs", "mlflow=false", "tensorboard=false", "plots=false", "yes=true", "imgsz=16"];
/** mpirun started by hand, as root and over shared memory, as the launcher starts it. */
const MPI_ENV = { ...process.env, CI: "1", OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1", OMPI_MCA_btl: "self,vader" };
const scratch: string[] = [];
after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tensorBytes(path: string): Map<string, Buffer> {
  return new Map([...readSafetensorsSync(path).tensors].map(([k, t]) => [k, Buffer.from(t.bytes)]));
}

function runJson(dir: string, run: string): { status: string; message?: string } {
  return JSON.parse(readFileSync(join(dir, "runs", run, "run.json"), "utf8")) as { status: string; message?: string };
}

function assertSameBytes(a: string, b: string): void {
  const x = tensorBytes(a);
  const y = tensorBytes(b);
  assert.deepEqual([...y.keys()].sort(), [...x.keys()].sort());
  assert.ok([...x.keys()].some((k) => k.startsWith("optimizer.")) && [...x.keys()].some((k) => k.startsWith("ema.")));
  for (const [k, bytes] of x) assert.ok(bytes.equals(y.get(k)!), `${k} differs`);
}

test("2 ranks with global batch 8 end with the weights of 1 process with batch 8 (freeze_bn)", { timeout: 120_000 }, () => {
  const dir = scratchDir("kiln-ddp-");
  scratch.push(dir);
  // 250 training images, batch 8: 31 optimizer steps, each rank taking 4 images of every batch. SGD:
  // AdamW divides each update by sqrt(v), which magnifies the sum-order differences of near-zero
  // gradients (measured 1.8e-5 normwise with AdamW, 1.3e-7 with SGD: about 2 float32 ulps).
  const common = [...QUIET, "max_per_class=25", "epochs=1", "batch=8", "freeze_bn=true", "optimizer=SGD"];
  const one = runKiln(["train", ...common, "name=one"], dir);
  assert.equal(one.code, 0, one.stderr);
  const two = runKiln(["train", ...common, "name=two", "ranks=2"], dir);
  assert.equal(two.code, 0, two.stdout + two.stderr);
  assert.match(two.stdout, /ranks {6}2 processes \(mpirun, Open MPI[^)]*\), each 4 images of every batch of 8/);
  // Rank 0 alone wrote: one run directory per run, one summary box.
  assert.deepEqual(readdirSync(join(dir, "runs")).sort(), ["one", "two"]);
  assert.equal(two.stdout.match(/┌─ results/g)?.length, 1);
  assert.equal(runJson(dir, "two").status, "finished");

  const a = floats(join(dir, "runs/one/weights/last.safetensors"));
  const b = floats(join(dir, "runs/two/weights/last.safetensors"));
  const model = [...a.keys()].filter((k) => k.startsWith("model.") && k.endsWith("weight"));
  assert.ok(model.length >= 8);
  let worst = 0;
  for (const k of model) {
    const { error } = normwiseError(b.get(k)!, a.get(k)!);
    worst = Math.max(worst, error);
    // float32 re-association over 31 steps: 1.3e-7 measured; a wrong loss scale or a lost slice is > 1e-3.
    assert.ok(error < 1e-5, `${k}: normwise error ${error}`);
  }
  // Buckets of 5,000 floats (the cnn's gradient in many all-reduce calls; a tensor larger than that gets one
  // of its own) give the same bits as one bucket: each element is still rank 0's value plus rank 1's.
  const small = runKiln(["train", ...common, "name=small", "ranks=2"], dir, { KILN_DDP_BUCKET_FLOATS: "5000" });
  assert.equal(small.code, 0, small.stdout + small.stderr);
  assertSameBytes(join(dir, "runs/two/weights/last.safetensors"), join(dir, "runs/small/weights/last.safetensors"));
  assert.doesNotMatch(small.stdout, /started while backward ran/, "no overlap unless asked");
  // KILN_DDP_OVERLAP=1: each bucket's all-reduce starts (MPI_Iallreduce) once backward has finished its
  // gradients, the rest after backward: the same floats in the same buckets, so the same bits (2 ranks).
  const overlap = runKiln(["train", ...common, "name=overlap", "ranks=2"], dir, { KILN_DDP_BUCKET_FLOATS: "5000", KILN_DDP_OVERLAP: "1" });
  assert.equal(overlap.code, 0, overlap.stdout + overlap.stderr);
  const started = /all-reduce {2}(\d+) of (\d+) gradient buckets started while backward ran/.exec(overlap.stdout);
  assert.ok(started && Number(started[1]) > 0 && Number(started[1]) < Number(started[2]), `buckets started during backward: ${started?.[0] ?? overlap.stdout}`);
  assertSameBytes(join(dir, "runs/two/weights/last.safetensors"), join(dir, "runs/overlap/weights/last.safetensors"));
  // The tolerance tells training runs apart: one process stepping on batches of 4 (what ranks that never
  // combined their gradients would each do) ends far outside it.
  const four = runKiln(["train", ...common.map((o) => (o === "batch=8" ? "batch=4" : o)), "name=four"], dir);
  assert.equal(four.code, 0, four.stderr);
  const c = floats(join(dir, "runs/four/weights/last.safetensors"));
  assert.ok(model.some((k) => normwiseError(c.get(k)!, a.get(k)!).error > 1e-3), "batch 4 differs from batch 8 far beyond the tolerance");
  // The epoch's train loss is the mean over all 248 images (every rank's sums gathered), as one process reports it.
  const column = (run: string, k: string): number[] => resultsColumn(join(dir, "runs", run, "results.csv"), k);
  const [lossOne, lossTwo] = [column("one", "train/loss"), column("two", "train/loss")];
  assert.equal(lossTwo.length, 1);
  assert.ok(Math.abs(lossOne[0] - lossTwo[0]) < 1e-4, `train/loss ${lossOne[0]} vs ${lossTwo[0]}`);
  // Validation is sharded over the ranks and its counts gathered: the 500 val images give the same metrics
  // (weights 1e-7 apart flip no prediction here; the loss differs by float rounding only).
  for (const k of ["val/acc", "val/top5", "val/f1"]) assert.deepEqual(column("two", k), column("one", k), k);
  assert.ok(Math.abs(column("one", "val/loss")[0] - column("two", "val/loss")[0]) < 1e-4, "val/loss");
  const count = (run: string): number => (JSON.parse(readFileSync(join(dir, "runs", run, "metrics.json"), "utf8")) as { val: { count: number } }).val.count;
  assert.equal(count("two"), count("one"), "every val image counted once");
});

test("a rank that fails ends the job, the run is failed, and last resumes bit-identical to an uninterrupted run", { timeout: 120_000 }, () => {
  const dir = scratchDir("kiln-ddp-");
  scratch.push(dir);
  // 250 training images: 31 steps an epoch; rank 1 throws at step 40 (in epoch 2): last.safetensors holds epoch 1.
  const common = [...QUIET, "max_per_class=25", "epochs=2", "batch=8", "ranks=2"];
  const straight = runKiln(["train", ...common, "name=straight"], dir);
  assert.equal(straight.code, 0, straight.stdout + straight.stderr);

  const failed = runKiln(["train", ...common, "name=cut"], dir, { KILN_DDP_FAIL: "1:40" });
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /rank 1 of 2 failed: KILN_DDP_FAIL test hook: rank 1 fails at optimizer step 40/);
  assert.match(failed.stdout + failed.stderr, /resume with 'kiln train --resume runs\/cut'/);
  const record = runJson(dir, "cut");
  assert.equal(record.status, "failed");
  assert.match(record.message ?? "", /rank 1 of 2 failed/);
  assert.equal(loadCheckpoint(join(dir, "runs/cut/weights/last.safetensors")).training.epoch, 1);

  // Another number of ranks is refused (here one rank started by mpirun), and the run is left as it was.
  const single = spawnSync("mpirun", ["-np", "1", process.execPath, KILN_BIN, "train", "--resume", "runs/cut"], { cwd: dir, env: MPI_ENV, encoding: "utf8" });
  assert.notEqual(single.status, 0);
  assert.match(single.stderr, /the run being resumed was trained with ranks=2, and this MPI job has 1: resume works with the same number of ranks/);
  assert.equal(runJson(dir, "cut").status, "failed");

  const resumed = runKiln(["train", "--resume", "runs/cut"], dir);
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.match(resumed.stdout, /launching 2 ranks/);
  assert.equal(runJson(dir, "cut").status, "finished");
  assertSameBytes(join(dir, "runs/straight/weights/last.safetensors"), join(dir, "runs/cut/weights/last.safetensors"));
});

/** The pid of rank `rank` among the processes running src/distributed/rank-main.js (from /proc). */
function rankPid(rank: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("rank-main.js")) continue;
      if (readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

test("kill -9 of one rank mid-epoch ends the whole job (no hang) and marks the run failed", { timeout: 90_000 }, async () => {
  const dir = scratchDir("kiln-ddp-");
  scratch.push(dir);
  let killed = false;
  const r = await startKiln(["train", ...QUIET, "max_per_class=40", "epochs=50", "batch=8", "ranks=2", "name=killed"], dir, {}, (out) => {
    if (killed || !/epoch 2\/50 █/.test(out)) return;
    const pid = rankPid(1);
    if (pid === undefined) return;
    killed = true;
    process.kill(pid, "SIGKILL");
  });
  assert.ok(killed, r.stdout + r.stderr);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /data-parallel training with 2 ranks failed: mpirun exited with code \d+/);
  assert.equal(runJson(dir, "killed").status, "failed");
  assert.equal(rankPid(0), undefined, "rank 0 was ended too");
  // last.safetensors (epoch 1) is whole and loadable.
  assert.ok(loadCheckpoint(join(dir, "runs/killed/weights/last.safetensors")).training.epoch >= 1);
});

test("Ctrl-C stops both ranks at the same step; --resume ends bit-identical to an uninterrupted 2-rank run", { timeout: 120_000 }, async () => {
  const dir = scratchDir("kiln-ddp-");
  scratch.push(dir);
  const common = [...QUIET, "max_per_class=40", "epochs=3", "batch=8", "ranks=2"];
  const straight = runKiln(["train", ...common, "name=straight"], dir);
  assert.equal(straight.code, 0, straight.stdout + straight.stderr);
  let sent = false;
  const cut = await startKiln(["train", ...common, "name=cut"], dir, {}, (out, child) => {
    if (!sent && /epoch 2\/3 █/.test(out)) {
      sent = true;
      child.kill("SIGINT");
    }
  });
  assert.equal(cut.code, 130, cut.stdout + cut.stderr);
  assert.match(cut.stdout, /Resume with:\n {2}kiln train --resume runs\/cut/);
  assert.equal(runJson(dir, "cut").status, "interrupted");
  const position = loadCheckpoint(join(dir, "runs/cut/weights/last.safetensors")).training;
  assert.equal(position.epoch, 1, "stopped in the second epoch");
  assert.ok(position.batch > 0 && position.batch < 40, `mid-epoch (batch ${position.batch}): the epoch's sums of both ranks are in the checkpoint`);
  const resumed = runKiln(["train", "--resume", "runs/cut"], dir);
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  assertSameBytes(join(dir, "runs/straight/weights/last.safetensors"), join(dir, "runs/cut/weights/last.safetensors"));
  const csv = (run: string): string => readFileSync(join(dir, "runs", run, "results.csv"), "utf8").split("\n").map((l) => l.split(",").filter((_, i) => i !== 1).join(",")).join("\n");
  assert.equal(csv("cut"), csv("straight"));
});

test("started by mpirun directly (as srun or a job script would), the ranks join from the environment and rank 0 alone writes", { timeout: 60_000 }, () => {
  const dir = scratchDir("kiln-ddp-");
  scratch.push(dir);
  const r = spawnSync("mpirun", ["-np", "2", "--bind-to", "none", process.execPath, KILN_BIN, "train", ...QUIET, "max_per_class=10", "epochs=1", "batch=8", "name=direct"],
    { cwd: dir, env: MPI_ENV, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.match(/┌─ kiln train/g)?.length, 1, "one summary: rank 1 prints nothing");
  assert.match(r.stdout, /ranks {6}2 processes \(mpirun/);
  assert.deepEqual(readdirSync(join(dir, "runs")), ["direct"]);
  assert.match(readFileSync(join(dir, "runs/direct/args.yaml"), "utf8"), /^ranks: 2$/m);
  assert.equal(runJson(dir, "direct").status, "finished");
});
