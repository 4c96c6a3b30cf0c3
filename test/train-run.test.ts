// A short training run on tiny synthetic data through the real CLI: every
// artifact of the run directory, then val and predict on the trained model,
// quick=true, and the library API.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { writeClassFolders, syntheticDataset } from "../src/data/synthetic.js";
import { predict, train, val } from "../src/index.js";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";

const dir = scratchDir();
// In-process runs write kiln.state.yaml and ./mlruns into the working folder, as a user's would: the scratch folder.
const cwd = process.cwd();
before(() => process.chdir(dir));
after(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});
const TINY = ["imgsz=16", "max_per_class=4", "epochs=2", "batch=8", "warmup_epochs=0", "save_period=1"];

test("kiln train writes the run directory: args.yaml, train.log, results.csv, metrics.json, run.json, weights", () => {
  const r = runKiln(["train", ...TINY], dir);
  assert.equal(r.code, 0, r.stderr);
  const run = join(dir, "runs/classify/train");
  for (const f of ["args.yaml", "train.log", "results.csv", "metrics.json", "run.json", "weights/best.safetensors", "weights/last.safetensors",
    "weights/epoch1.safetensors", "weights/epoch2.safetensors"]) {
    assert.ok(existsSync(join(run, f)), `${f} is missing`);
  }
  const args = parseYaml(readFileSync(join(run, "args.yaml"), "utf8")) as Record<string, unknown>;
  assert.equal(args.imgsz, 16);
  assert.equal(args.lr0, 0.01);
  const csv = readFileSync(join(run, "results.csv"), "utf8").trim().split("\n");
  assert.equal(csv[0], "epoch,time,train/loss,train/acc,val/loss,val/acc,val/top5,val/f1,lr/pg0,lr/pg1,lr/pg2");
  assert.equal(csv.length, 3);
  const record = JSON.parse(readFileSync(join(run, "run.json"), "utf8")) as Record<string, unknown>;
  assert.equal(record.status, "finished");
  assert.equal(typeof record.pid, "number");
  assert.ok(record.started_at && record.ended_at && record.kiln_version);
  // train.log holds what was printed, without escape codes.
  const log = readFileSync(join(run, "train.log"), "utf8");
  assert.match(log, /epoch 2\/2 +train loss/);
  assert.match(log, /results/);
  assert.ok(!log.includes("\x1b["), "no escape codes in train.log");
  assert.ok(!r.stdout.includes("\x1b["), "no escape codes without a terminal");
  assert.match(r.stdout, /kiln val --model runs\/classify\/train\/weights\/best\.safetensors/);
  // The checkpoint's metadata.
  const ckpt = loadCheckpoint(join(run, "weights/last.safetensors"));
  assert.equal(ckpt.model.architecture, "cnn");
  assert.equal(ckpt.model.classes.length, 10);
  assert.equal(ckpt.model.imgsz, 16);
  assert.equal(ckpt.training.epoch, 2);
  assert.equal(ckpt.training.rng.length, 6);
  assert.equal((ckpt.training.history as unknown[]).length, 2);
  // A second run gets the next name.
  const again = runKiln(["train", ...TINY, "epochs=1", "save_period=-1"], dir);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(existsSync(join(dir, "runs/classify/train2/weights/last.safetensors")));
});

test("kiln val and kiln predict on the trained model", async () => {
  const weights = "runs/classify/train/weights/best.safetensors";
  const r = runKiln(["val", "--model", weights, "--json"], dir);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { accuracy: number; top5: number; count: number; perClass: { support: number }[]; worst: unknown[]; confusion: number[][] };
  assert.equal(m.count, 500); // the synthetic val split
  assert.equal(m.perClass.length, 10);
  assert.equal(m.worst.length, 5);
  const correct = m.confusion.reduce((a, row, i) => a + row[i], 0);
  assert.equal(m.accuracy, correct / 500); // accuracy agrees with the confusion matrix
  assert.ok(m.top5 >= m.accuracy);
  const text = runKiln(["val", "--model", weights], dir);
  assert.match(text.stdout, /accuracy +0\.\d{4} +top-5/);

  const images = join(dir, "images");
  await writeClassFolders(syntheticDataset({ train: 3, val: 0, size: 20 }), images);
  const folder = join(images, "train", "circle");
  const p = runKiln(["predict", "--model", weights, "--source", folder, "--save", "--topk", "3"], dir);
  assert.equal(p.code, 0, p.stderr);
  const saved = join(dir, "runs/classify/predict");
  const json = JSON.parse(readFileSync(join(saved, "predictions.json"), "utf8")) as { predictions: { file: string; top: { probability: number }[] }[] };
  assert.equal(json.predictions.length, readdirSync(folder).length);
  for (const pr of json.predictions) {
    assert.equal(pr.top.length, 3);
    assert.ok(pr.top[0].probability >= pr.top[1].probability && pr.top[1].probability >= pr.top[2].probability);
  }
  assert.equal(readFileSync(join(saved, "predictions.csv"), "utf8").trim().split("\n").length, json.predictions.length + 1);
});

test("quick=true runs the pipeline and leaves no run directory", () => {
  const r = runKiln(["train", "imgsz=16", "max_per_class=4", "batch=8", "quick=true", "name=quick"], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /quick check passed/);
  assert.match(r.stdout, /checkpoint +written .* reloaded/);
  assert.ok(!existsSync(join(dir, "runs/classify/quick")));
});

test("a long estimate asks before starting; declining starts nothing and marks the run", async () => {
  const project = join(dir, "confirm-runs");
  let asked = "";
  await assert.rejects(
    train({ imgsz: 16, max_per_class: 2, epochs: 1, batch: 8, project, confirm_over: 0 }, { confirm: async (q) => ((asked = q), false) }),
    /cancelled: training did not start/,
  );
  assert.match(asked, /Start training\? \[Y\/n\]/);
  const record = JSON.parse(readFileSync(join(project, "train", "run.json"), "utf8")) as { status: string };
  assert.equal(record.status, "interrupted");
  assert.ok(!existsSync(join(project, "train", "weights", "last.safetensors")));
  // --yes never asks.
  const yes = await train({ imgsz: 16, max_per_class: 2, epochs: 1, batch: 8, project, confirm_over: 0, yes: true, warmup_epochs: 0 },
    { confirm: async () => assert.fail("asked despite yes=true") });
  assert.equal(yes.status, "finished");
});

test("the library API: train, val, predict with typed results", async () => {
  const project = join(dir, "api-runs");
  const result = await train({ imgsz: 16, max_per_class: 3, epochs: 1, batch: 8, warmup_epochs: 0, project, yes: true });
  assert.equal(result.status, "finished");
  assert.equal(result.epochsRun, 1);
  assert.ok(existsSync(result.weights.best));
  const v = await val({ model: result.weights.best });
  assert.ok(v.task === "classify");
  assert.equal(v.count, 500);
  assert.equal(v.accuracy, result.best?.values["val/acc"]);
  assert.equal(result.best?.fitness, v.accuracy);
  const folder = join(dir, "images", "train", "square");
  const p = await predict({ model: result.weights.best, source: folder, topk: 2 });
  assert.equal(p.predictions[0].top.length, 2);
});

test("Ctrl-C before the first step cancels the run and marks it interrupted, not running", async () => {
  const project = join(dir, "early-signal");
  await assert.rejects(
    train({ imgsz: 16, max_per_class: 2, epochs: 1, batch: 8, project, confirm_over: 0 }, {
      confirm: async () => {
        process.kill(process.pid, "SIGINT");
        await new Promise((resolve) => setTimeout(resolve, 50));
        return true;
      },
    }),
    /cancelled: SIGINT before training started/,
  );
  const record = JSON.parse(readFileSync(join(project, "train", "run.json"), "utf8")) as { status: string; message: string };
  assert.equal(record.status, "interrupted");
  assert.match(record.message, /SIGINT before training started/);
  assert.equal(process.listenerCount("SIGINT"), 0, "the handler is removed");
});

test("time= stops at the end of the last epoch that fits the budget", async () => {
  const project = join(dir, "time-runs");
  // A budget of 0.36 ms: the first epoch takes longer, so the run stops after it (never before one epoch) and says why.
  const r = await train({ imgsz: 16, max_per_class: 4, epochs: 5, batch: 8, warmup_epochs: 0, project, yes: true, time: 1e-7 });
  assert.equal(r.status, "stopped");
  assert.equal(r.epochsRun, 1);
  assert.match(r.stopReason ?? "", /time budget: .* of time=1e-7 h used .* after epoch 1 of 5/);
});

test("dropout, nbs and workers reach the model, the optimizer and the loader", async () => {
  const project = join(dir, "options-runs");
  const r = await train({ imgsz: 16, max_per_class: 3, epochs: 1, batch: 8, warmup_epochs: 0, project, yes: true, dropout: 0.3, nbs: 16, workers: 2, weight_decay: 0.001 });
  assert.equal(r.status, "finished");
  const args = parseYaml(readFileSync(join(r.runDir, "args.yaml"), "utf8")) as Record<string, unknown>;
  assert.equal(args.dropout, 0.3);
  assert.equal(args.workers, 2);
  const optimizer = loadCheckpoint(r.weights.last).training.optimizer as { paramGroups: { weightDecay: number }[] };
  // Ultralytics' rule: weight_decay × batch × accumulate / nbs = 0.001 × 8 / 16.
  assert.ok(Math.abs(optimizer.paramGroups[0].weightDecay - 0.0005) < 1e-15, String(optimizer.paramGroups[0].weightDecay));
  assert.equal(optimizer.paramGroups[1].weightDecay, 0);
});
