// kiln sweep: grid and seeded random expansion (hand-checked), a 2-trial grid
// run here one after another, and a 2-trial sweep as a real SLURM job array,
// each ending with the trials sorted by val accuracy (read back from each
// trial's metrics.json as the oracle).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expandTrials, sweepSpecSchema } from "../src/cluster/sweep.js";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { requireSlurm, runJson, scontrolState } from "./helpers/cluster.js";

const dir = scratchDir("kiln-sweep-");
after(() => rmSync(dir, { recursive: true, force: true }));

test("a grid is every combination, the last key varying fastest, cut at the budget", () => {
  const spec = sweepSpecSchema.parse({ parameters: { lr0: [0.1, 0.01], batch: [8, 16, 32] }, budget: 5 });
  assert.deepEqual(expandTrials(spec), [
    { lr0: 0.1, batch: 8 }, { lr0: 0.1, batch: 16 }, { lr0: 0.1, batch: 32 }, { lr0: 0.01, batch: 8 }, { lr0: 0.01, batch: 16 },
  ]);
});

test("random draws repeat with the seed, stay in range, and differ with another seed", () => {
  const spec = sweepSpecSchema.parse({ method: "random", seed: 3, budget: 20, parameters: { lr0: { min: 1e-4, max: 1e-1, log: true }, epochs: { min: 1, max: 5, int: true }, model: ["cnn", "resnet18"] } });
  const a = expandTrials(spec);
  assert.equal(a.length, 20);
  assert.deepEqual(expandTrials(spec), a);
  assert.notDeepEqual(expandTrials({ ...spec, seed: 4 }), a);
  for (const t of a) {
    assert.ok((t.lr0 as number) >= 1e-4 && (t.lr0 as number) <= 1e-1);
    assert.ok(Number.isInteger(t.epochs) && (t.epochs as number) >= 1 && (t.epochs as number) <= 5);
    assert.ok(["cnn", "resnet18"].includes(t.model as string));
  }
  // log-uniform: about as many draws below 1e-2.5 as above it
  assert.ok(a.filter((t) => (t.lr0 as number) < 10 ** -2.5).length >= 4);
});

test("a bad sweep file is refused before anything runs, naming the key", () => {
  writeFileSync(join(dir, "bad.yaml"), "parameters:\n  lr0: {min: 0.001, max: 0.1}\n");
  const r = runKiln(["sweep", "bad.yaml"], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /parameters\.lr0: a grid takes a list of values/);
  writeFileSync(join(dir, "typo.yaml"), "fixed: {epoch: 2}\nparameters:\n  lr0: [0.01]\n");
  const t = runKiln(["sweep", "typo.yaml"], dir);
  assert.notEqual(t.code, 0);
  assert.match(t.stderr, /epoch/);
  assert.ok(!existsSync(join(dir, "runs", "sweep", "trial1")));
});

const FIXED = "fixed: {imgsz: 16, max_per_class: 4, epochs: 2, batch: 8, warmup_epochs: 0, optimizer: SGD}\n";

function checkTable(out: string, sweepDir: string): void {
  // The oracle: each trial's own history, at its best epoch (1-based in metrics.json).
  const acc = (t: string): number => {
    const m = JSON.parse(readFileSync(join(sweepDir, t, "metrics.json"), "utf8")) as { best_epoch: number; history: { epoch: number; values: Record<string, number> }[] };
    return m.history.find((h) => h.epoch + 1 === m.best_epoch)?.values["val/acc"] ?? NaN;
  };
  const rows = out.split("\n").filter((l) => /^\d+\s+trial\d/.test(l));
  assert.equal(rows.length, 2, out);
  const order = rows.map((l) => l.split(/\s+/)[1]);
  const values = order.map(acc);
  assert.ok(values.every((v) => typeof v === "number"), "each trial has its val accuracy");
  assert.ok(values[0] >= values[1], `sorted best first: ${order.join(", ")} = ${values.join(", ")}`);
  rows.forEach((l, i) => assert.match(l, new RegExp(values[i].toFixed(4))));
}

test("a 2-trial grid runs here one after another and ends with the trials sorted by val accuracy", () => {
  writeFileSync(join(dir, "local.yaml"), `name: local\n${FIXED}parameters:\n  lr0: [0.0001, 0.05]\n`);
  const r = runKiln(["sweep", "local.yaml"], dir);
  assert.equal(r.code, 0, r.stderr);
  const sweepDir = join(dir, "runs", "local");
  for (const t of ["trial1", "trial2"]) assert.equal(runJson(join(sweepDir, t)).status, "finished");
  assert.match(readFileSync(join(sweepDir, "trial2", "args.yaml"), "utf8"), /lr0: 0\.05/);
  assert.match(r.stdout, /sweep runs\/local: 2 trials, sorted by accuracy/);
  checkTable(r.stdout, sweepDir);
  const listed = JSON.parse(runKiln(["runs", "--json", "--logdir", "runs/local"], dir).stdout) as unknown[];
  assert.equal(listed.length, 2);
});

test("--slurm submits the trials as one job array and --wait ends with the sorted table", () => {
  requireSlurm();
  writeFileSync(join(dir, "array.yaml"), `name: array\n${FIXED}parameters:\n  lr0: [0.0001, 0.05]\nslurm: {time: 10}\n`);
  const r = runKiln(["sweep", "array.yaml", "--slurm", "--wait"], dir);
  assert.equal(r.code, 0, r.stderr);
  const arrayId = /job array (\d+)/.exec(r.stdout)?.[1] ?? "";
  const sweepDir = join(dir, "runs", "array");
  assert.match(readFileSync(join(sweepDir, "sweep.sbatch"), "utf8"), /#SBATCH --array=1-2\n/);
  for (const [i, t] of ["trial1", "trial2"].entries()) {
    const rec = runJson(join(sweepDir, t));
    assert.equal(rec.status, "finished");
    assert.ok(existsSync(join(sweepDir, t, `slurm-${arrayId}_${i + 1}.out`)), "each element wrote its output in its trial");
    assert.equal(scontrolState(`${arrayId}_${i + 1}`), "COMPLETED");
  }
  checkTable(r.stdout, sweepDir);
  const show = runKiln(["sweep", "show", "runs/array"], dir);
  assert.equal(show.code, 0);
  checkTable(show.stdout, sweepDir);
});
