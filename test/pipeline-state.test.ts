// kiln.state.yaml: written atomically, read back, paths kept relative to the
// working folder, malformed files refused with the line to fix, and the
// helpers val/predict/train use (default model, verdict against the baseline).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KilnError } from "../src/errors.js";
import {
  baselineVerdictAfterTraining, defaultModelFromState, PipelineStateError, readPipelineState, recordStage, recordTrainingRun, setBaseline, STATE_FILE,
} from "../src/state/index.js";

const root = mkdtempSync(join(tmpdir(), "kiln-state-"));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh working folder per test. */
function folder(): string {
  const dir = join(root, `w${++n}`);
  mkdirSync(dir);
  return dir;
}

/** A run with metrics.json (best epoch 1 at `acc`) and best weights. */
function makeRun(cwd: string, rel: string, acc: number): string {
  const dir = join(cwd, rel);
  mkdirSync(join(dir, "weights"), { recursive: true });
  const history = [{ epoch: 0, time: 5, lr: [0.01], fitness: acc, values: { "train/loss": 0.5, "train/acc": 0.8, "val/loss": 0.4, "val/acc": acc, "val/top5": 1, "val/f1": acc } }];
  writeFileSync(join(dir, "metrics.json"), JSON.stringify({ epoch: 1, best_epoch: 1, best_fitness: acc, val: { loss: 0.4, accuracy: acc, top5: 1, macroF1: acc, perClass: [], count: 20 }, history }));
  writeFileSync(join(dir, "weights", "best.safetensors"), "weights");
  return dir;
}

function stateError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PipelineStateError, String(e));
    assert.ok(e instanceof KilnError, "a KilnError: printed without a stack trace");
    assert.equal(e.level, "warning");
    assert.equal(e.exitCode, 2);
    assert.match(e.message, pattern);
    return true;
  });
}

test("no file: an empty state; the first write creates it", () => {
  const cwd = folder();
  assert.deepEqual(readPipelineState(cwd), { stages: {} });
  assert.equal(defaultModelFromState(cwd), null);
  assert.equal(baselineVerdictAfterTraining(cwd, "runs/classify/train"), null);
  recordStage(cwd, "val", { run: "runs/classify/train", split: "val", accuracy: 0.9 });
  const state = readPipelineState(cwd);
  assert.deepEqual(Object.keys(state.stages), ["val"]);
  assert.equal(state.stages.val.run, "runs/classify/train");
  assert.equal(state.stages.val.split, "val");
  assert.equal(state.stages.val.accuracy, 0.9);
  assert.match(String(state.stages.val.completed_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("recordTrainingRun: the train stage, latest run and best weights, relative to the folder, read back", () => {
  const cwd = folder();
  const before = Date.now();
  recordStage(cwd, "val", { run: "runs/classify/train", completed_at: "2024-05-01T10:00:00.000Z" });
  // An absolute path inside the folder is stored relative; one outside stays absolute.
  recordTrainingRun(cwd, join(cwd, "runs/classify/train3"), join(cwd, "runs/classify/train3/weights/best.safetensors"));
  const text = readFileSync(join(cwd, STATE_FILE), "utf8");
  assert.match(text, /^# kiln pipeline state/);
  const state = readPipelineState(cwd);
  assert.equal(state.latest_run, "runs/classify/train3");
  assert.equal(state.latest_best_weights, "runs/classify/train3/weights/best.safetensors");
  assert.equal(state.stages.train.run, "runs/classify/train3");
  assert.ok(Date.parse(state.stages.train.completed_at) >= before - 1000);
  assert.deepEqual(state.stages.val, { completed_at: "2024-05-01T10:00:00.000Z", run: "runs/classify/train" }, "other stages are kept");
  recordTrainingRun(cwd, "/elsewhere/run", "/elsewhere/run/weights/best.safetensors");
  assert.equal(readPipelineState(cwd).latest_run, "/elsewhere/run");
});

test("writes are atomic: a new file renamed over the old one, no temp file left", () => {
  const cwd = folder();
  recordStage(cwd, "train", { run: "runs/classify/train" });
  const inode = statSync(join(cwd, STATE_FILE)).ino;
  recordStage(cwd, "val", { run: "runs/classify/train" });
  // An in-place rewrite would keep the inode; temp file + rename gives a new one.
  assert.notEqual(statSync(join(cwd, STATE_FILE)).ino, inode);
  assert.deepEqual(readdirSync(cwd), [STATE_FILE]);
  assert.deepEqual(Object.keys(readPipelineState(cwd).stages), ["train", "val"]);
});

test("setBaseline records the run and its metrics file; a run without metrics is refused", () => {
  const cwd = folder();
  makeRun(cwd, "runs/classify/train", 0.8);
  const b = setBaseline(cwd, "runs/classify/train");
  assert.equal(b.run, "runs/classify/train");
  assert.equal(b.metrics, "runs/classify/train/metrics.json");
  assert.deepEqual(readPipelineState(cwd).baseline, b);
  mkdirSync(join(cwd, "runs/classify/empty"), { recursive: true });
  assert.throws(() => setBaseline(cwd, "runs/classify/empty"), (e: unknown) => e instanceof KilnError && e.exitCode === 2 && /has no metrics\.json/.test(e.message));
  assert.throws(() => setBaseline(cwd, "runs/classify/missing"), /does not exist/);
  assert.equal(readPipelineState(cwd).baseline?.run, "runs/classify/train", "a refused baseline changes nothing");
});

test("a malformed file: a warning-level error naming the file and the line; never overwritten", () => {
  const cwd = folder();
  const file = join(cwd, STATE_FILE);
  writeFileSync(file, "stages:\n  train:\n    run: runs/classify/train\n  val: {completed_at: x\n");
  stateError(() => readPipelineState(cwd), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} line \\d+: not valid YAML .*Fix: correct line \\d+, or delete .*kiln\\.state\\.yaml`));
  // Valid YAML of the wrong shape: the line of the offending key.
  writeFileSync(file, "stages:\n  train:\n    completed_at: 2024-05-01\n    run: runs/classify/train\nbaseline:\n  run: 5\n  metrics: m.json\n  set_at: now\n");
  stateError(() => readPipelineState(cwd), /kiln\.state\.yaml line 6: baseline\.run: expected string, received number\. Fix: correct line 6, or delete/);
  writeFileSync(file, "latest_run: runs/classify/train\nstages:\n  train: yes\n");
  stateError(() => readPipelineState(cwd), /line 3: stages\.train: expected object/);
  writeFileSync(file, "stages:\n  train:\n    run: runs/classify/train\n");
  stateError(() => readPipelineState(cwd), /line 3: stages\.train\.completed_at: expected string, received undefined/);
  writeFileSync(file, "- a\n- b\n");
  stateError(() => readPipelineState(cwd), /line 1: the file: expected object/);
  const broken = readFileSync(file, "utf8");
  stateError(() => recordTrainingRun(cwd, "runs/classify/train", "runs/classify/train/weights/best.safetensors"), /line 1/);
  stateError(() => defaultModelFromState(cwd), /line 1/);
  assert.equal(readFileSync(file, "utf8"), broken, "a broken file is left for the user to fix");
  // Keys a newer kiln writes survive.
  writeFileSync(file, "stages: {}\nfuture_key: 3\n");
  recordStage(cwd, "val", {});
  assert.match(readFileSync(file, "utf8"), /future_key: 3/);
});

test("defaultModelFromState: the latest best weights with a note, for val and predict", () => {
  const cwd = folder();
  makeRun(cwd, "runs/classify/train3", 0.9);
  recordStage(cwd, "val", { run: "runs/classify/train3" });
  assert.equal(defaultModelFromState(cwd), null, "no training recorded yet");
  recordTrainingRun(cwd, "runs/classify/train3", "runs/classify/train3/weights/best.safetensors");
  // From another folder, the path is usable from there; from the folder itself, as stored.
  assert.deepEqual(defaultModelFromState(cwd), {
    path: join(cwd, "runs/classify/train3/weights/best.safetensors"),
    note: `using the latest best weights ${join(cwd, "runs/classify/train3/weights/best.safetensors")} (from kiln.state.yaml)`,
  });
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    assert.deepEqual(defaultModelFromState("."), {
      path: "runs/classify/train3/weights/best.safetensors",
      note: "using the latest best weights runs/classify/train3/weights/best.safetensors (from kiln.state.yaml)",
    });
  } finally {
    process.chdir(previous);
  }
  rmSync(join(cwd, "runs/classify/train3/weights"), { recursive: true });
  assert.throws(() => defaultModelFromState(cwd), /names the latest best weights .*best\.safetensors, which no longer exist\. Fix: pass --model WEIGHTS, or train again/);
});

test("baselineVerdictAfterTraining: the comparison with the recorded baseline, null without one or against itself", () => {
  const cwd = folder();
  makeRun(cwd, "runs/classify/train", 0.8);
  makeRun(cwd, "runs/classify/train2", 0.7);
  makeRun(cwd, "runs/classify/train3", 0.815);
  assert.equal(baselineVerdictAfterTraining(cwd, join(cwd, "runs/classify/train2")), null);
  setBaseline(cwd, "runs/classify/train");
  assert.equal(baselineVerdictAfterTraining(cwd, join(cwd, "runs/classify/train")), null, "the baseline itself");
  const worse = baselineVerdictAfterTraining(cwd, join(cwd, "runs/classify/train2"));
  assert.equal(worse?.verdict, "degraded");
  assert.equal(worse?.metrics[0].change, -0.1);
  assert.equal(baselineVerdictAfterTraining(cwd, join(cwd, "runs/classify/train3"))?.verdict, "improved");
  assert.equal(baselineVerdictAfterTraining(cwd, join(cwd, "runs/classify/train3"), { thresholdPoints: 1.5 })?.verdict, "unchanged");
  rmSync(join(cwd, "runs/classify/train"), { recursive: true });
  assert.throws(() => baselineVerdictAfterTraining(cwd, join(cwd, "runs/classify/train3")), (e: unknown) => e instanceof KilnError && /does not exist/.test(e.message));
});
