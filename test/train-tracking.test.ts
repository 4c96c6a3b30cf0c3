// What a training run leaves for evaluation and tracking, end to end through
// the real CLI: the per-epoch reports (agreeing with metrics.json), the plots
// (PNG files sharp decodes), TensorBoard and MLflow output, kiln.state.yaml,
// `kiln val` without --model, and the verdict against a baseline at the end
// of a run (and the offer to make the new run the baseline).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { parse as parseYaml } from "yaml";
import { train } from "../src/index.js";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";

const dir = scratchDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const TINY = ["imgsz=16", "max_per_class=4", "epochs=2", "batch=8", "warmup_epochs=0"];

test("a run writes reports, plots, TensorBoard events and an MLflow run; kiln val then needs no --model", async () => {
  const r = runKiln(["train", ...TINY], dir);
  assert.equal(r.code, 0, r.stderr);
  const run = join(dir, "runs/classify/train");
  const metrics = JSON.parse(readFileSync(join(run, "metrics.json"), "utf8")) as {
    val: { accuracy: number; macroF1: number }; confusion: number[][]; best_epoch: number; history: { values: Record<string, number> }[];
  };
  const report = JSON.parse(readFileSync(join(run, "classification_report.json"), "utf8")) as Record<string, unknown>;
  assert.equal(report.accuracy, metrics.val.accuracy);
  assert.equal((report["macro avg"] as { "f1-score": number })["f1-score"], metrics.val.macroF1);
  const confusion = JSON.parse(readFileSync(join(run, "confusion_matrix.json"), "utf8")) as { classes: string[]; matrix: number[][]; normalized: number[][] };
  assert.deepEqual(confusion.matrix, metrics.confusion);
  assert.equal(confusion.classes.length, 10);
  for (const png of ["results.png", "confusion_matrix.png"]) {
    const meta = await sharp(join(run, png)).metadata();
    assert.equal(meta.format, "png");
    assert.ok((meta.width ?? 0) > 400 && (meta.height ?? 0) > 200, `${png} ${meta.width}x${meta.height}`);
  }
  assert.equal(readdirSync(run).filter((f) => f.startsWith("events.out.tfevents.")).length, 1);

  // The MLflow file store: one experiment named after the project folder, one finished run with its epochs.
  const mlruns = join(dir, "mlruns");
  const experiments = readdirSync(mlruns).filter((d) => existsSync(join(mlruns, d, "meta.yaml")) && d !== "0");
  const exp = experiments.find((d) => (parseYaml(readFileSync(join(mlruns, d, "meta.yaml"), "utf8")) as { name: string }).name === "classify");
  assert.ok(exp, `experiments: ${experiments.join(", ")}`);
  const runs = readdirSync(join(mlruns, exp)).filter((d) => existsSync(join(mlruns, exp, d, "meta.yaml")));
  assert.equal(runs.length, 1);
  const mlrun = join(mlruns, exp, runs[0]);
  const meta = parseYaml(readFileSync(join(mlrun, "meta.yaml"), "utf8")) as { status: number; end_time: number };
  assert.equal(meta.status, 3, "FINISHED");
  assert.ok(meta.end_time > 0);
  const acc = readFileSync(join(mlrun, "metrics", "val", "acc"), "utf8").trim().split("\n");
  assert.equal(acc.length, 2);
  assert.equal(Number(acc[1].split(" ")[1]), metrics.val.accuracy);
  assert.equal(readFileSync(join(mlrun, "tags", "mlflow.runName"), "utf8"), "train");
  assert.ok(existsSync(join(mlrun, "artifacts", "weights", "best.safetensors")));
  assert.ok(existsSync(join(mlrun, "artifacts", "results.png")));

  const state = parseYaml(readFileSync(join(dir, "kiln.state.yaml"), "utf8")) as { latest_best_weights: string };
  assert.equal(state.latest_best_weights, "runs/classify/train/weights/best.safetensors");
  const v = runKiln(["val", "--json"], dir);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /using the latest best weights runs\/classify\/train\/weights\/best\.safetensors \(from kiln\.state\.yaml\)/);
  // best.safetensors holds the best epoch's (EMA) weights: val reproduces that epoch's accuracy.
  assert.equal((JSON.parse(v.stdout) as { accuracy: number }).accuracy, metrics.history[metrics.best_epoch - 1].values["val/acc"]);

  // Trackers off: no events, no MLflow run.
  const off = runKiln(["train", ...TINY, "epochs=1", "tensorboard=false", "mlflow=false", "plots=false", "name=off"], dir);
  assert.equal(off.code, 0, off.stderr);
  const offDir = join(dir, "runs/classify/off");
  assert.ok(!readdirSync(offDir).some((f) => f.startsWith("events.out") || f.endsWith(".png") || f === "mlflow.json"));

  // `kiln runs sync` sends the run to MLflow afterwards; a second sync sends nothing new.
  const sync = runKiln(["runs", "sync", "off", "--json"], dir);
  assert.equal(sync.code, 0, sync.stderr);
  const sent = JSON.parse(sync.stdout) as { created: boolean; runId: string; experimentId: string; metrics: number; params: number };
  assert.equal(sent.created, true);
  assert.ok(sent.params > 20 && sent.metrics > 5, JSON.stringify(sent));
  assert.equal(readFileSync(join(mlruns, sent.experimentId, sent.runId, "tags", "mlflow.runName"), "utf8"), "off");
  const again = JSON.parse(runKiln(["runs", "sync", "off", "--json"], dir).stdout) as { created: boolean; metrics: number; params: number; runId: string };
  assert.deepEqual([again.created, again.metrics, again.params, again.runId], [false, 0, 0, sent.runId]);
  const down = runKiln(["runs", "sync", "off", "--uri", "http://127.0.0.1:59999"], dir);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /could not sync .*off to MLflow: .*Fix: check that the tracking server is up/);
  assert.doesNotMatch(down.stderr, /\n\s+at /, "no stack trace");
});

test("with a baseline set, training ends with the verdict and offers to make the new run the baseline", async () => {
  const base = runKiln(["compare", "--set-baseline", "runs/classify/train"], dir);
  assert.equal(base.code, 0, base.stderr);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const questions: string[] = [];
    const lines: string[] = [];
    const { RunLog } = await import("../src/train/log.js");
    const log = new RunLog({ write: (s: string) => (lines.push(s), true), isTTY: false } as unknown as NodeJS.WriteStream);
    const r = await train({ imgsz: 16, max_per_class: 4, epochs: 2, batch: 8, warmup_epochs: 0, name: "candidate", confirm_over: 1e6 },
      { log, confirm: async (q) => (questions.push(q), true) });
    assert.equal(r.status, "finished");
    const out = lines.join("");
    assert.match(out, /baseline {3}(improved|unchanged|degraded): val accuracy [+-]?\d+\.\d\d points/);
    const verdict = /baseline {3}(improved|unchanged|degraded)/.exec(out)![1];
    const state = parseYaml(readFileSync("kiln.state.yaml", "utf8")) as { baseline: { run: string } };
    if (verdict === "degraded") {
      assert.equal(questions.length, 0, "a degraded run is not offered as the baseline");
      assert.equal(state.baseline.run, "runs/classify/train");
    } else {
      assert.deepEqual(questions, ["Make runs/classify/candidate the baseline? [Y/n] "]);
      assert.equal(state.baseline.run, "runs/classify/candidate");
    }
  } finally {
    process.chdir(cwd);
  }
});
