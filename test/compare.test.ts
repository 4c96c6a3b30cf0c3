// kiln compare: the verdict at the threshold's edges, the per-metric table,
// which epoch is read, and the CLI's exit codes (0 not degraded, 1 degraded,
// 2 bad input), --json, and the baseline recorded in kiln.state.yaml.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareMetrics, type Comparison } from "../src/compare/compare.js";
import { snapshotFromJson, type MetricSnapshot } from "../src/compare/extract.js";
import { formatComparison } from "../src/compare/format.js";
import { KilnError } from "../src/errors.js";
import { runKiln } from "./helpers/kiln-cli.js";
import { kilnInProcess } from "./helpers/in-process.js";

const root = mkdtempSync(join(tmpdir(), "kiln-compare-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface Val { acc: number; top5: number; f1: number; loss: number }

/**
 * A run directory as kiln train leaves it: metrics.json (history with the best
 * epoch `best` followed by a worse last epoch), run.json, args.yaml.
 */
function makeRun(rel: string, best: Val, task?: string): string {
  const dir = join(root, rel);
  mkdirSync(dir, { recursive: true });
  const rec = (epoch: number, v: Val) => ({ epoch, time: 12.5 * (epoch + 1), lr: [0.002, 0.002, 0.002], fitness: v.acc,
    values: { "train/loss": 0.4, "train/acc": 0.85, "val/loss": v.loss, "val/acc": v.acc, "val/top5": v.top5, "val/f1": v.f1 } });
  const worse = { acc: best.acc - 0.05, top5: best.top5 - 0.01, f1: best.f1 - 0.05, loss: best.loss + 0.1 };
  const history = [rec(0, { acc: 0.3, top5: 0.8, f1: 0.25, loss: 1.9 }), rec(1, best), rec(2, worse)];
  const metrics = {
    ...(task ? { task } : {}), epoch: 3, best_epoch: 2, best_fitness: best.acc,
    val: { loss: worse.loss, accuracy: worse.acc, top5: worse.top5, macroF1: worse.f1, perClass: [{ name: "circle", precision: 0.9, recall: 0.8, f1: 0.85, support: 10 }], count: 10 },
    confusion: [[8, 2], [1, 9]], train: { loss: 0.4, acc: 0.85 }, history,
  };
  writeFileSync(join(dir, "metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`);
  writeFileSync(join(dir, "run.json"), JSON.stringify({ status: "finished", pid: 1, kiln_version: "0.1.0", started_at: "2024-05-01T10:00:00.000Z", ended_at: "2024-05-01T10:10:00.000Z", heartbeat_at: "2024-05-01T10:10:00.000Z" }));
  writeFileSync(join(dir, "args.yaml"), "model: cnn\ndata: synthetic\nepochs: 3\n");
  return dir;
}

const snap = (values: Record<string, number>, task: "classify" | "detect" = "classify"): MetricSnapshot => ({ task, values, epoch: 1, kind: "best" });
const acc = (a: number): MetricSnapshot => snap({ accuracy: a, top5: 0.99, macroF1: 0.8, loss: 0.3 });

const kiln = (args: string[], cwd = root): ReturnType<typeof kilnInProcess> => kilnInProcess(args, cwd);

async function badInput(args: string[], message: RegExp, cwd = root): Promise<void> {
  const r = await kiln(args, cwd);
  assert.equal(r.code, 2, `kiln ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

test("the verdict at the edges of the default 1-point threshold", () => {
  const verdict = (current: number, baseline: number, thresholdPoints?: number): string => compareMetrics(acc(current), acc(baseline), { thresholdPoints }).verdict;
  // 0.90 − 0.89 is 0.010000000000000009 in floating point: still exactly one point.
  assert.equal(verdict(0.89, 0.9), "unchanged", "a drop of exactly the threshold is not degraded");
  assert.equal(verdict(0.8899, 0.9), "degraded", "1.01 points down");
  assert.equal(verdict(0.91, 0.9), "unchanged", "a rise of exactly the threshold is not improved");
  assert.equal(verdict(0.9101, 0.9), "improved");
  assert.equal(verdict(0.9, 0.9), "unchanged");
  assert.equal(verdict(0.9, 0.9, 0), "unchanged", "threshold 0: equal values");
  assert.equal(verdict(0.8999, 0.9, 0), "degraded", "threshold 0: any drop");
  assert.equal(verdict(0.895, 0.9, 0.5), "unchanged", "exactly half a point down, threshold 0.5");
  assert.equal(verdict(0.8949, 0.9, 0.5), "degraded");
  assert.equal(verdict(0.5, 0.9, 50), "unchanged", "40 points down within a 50-point threshold");
});

test("per metric: both values, change, %, arrow of the value, better or worse by higherIsBetter", () => {
  const c = compareMetrics(snap({ accuracy: 0.92, top5: 0.99, macroF1: 0.5, loss: 0.3 }), snap({ accuracy: 0.9, top5: 0.99, macroF1: 0.6, loss: 0.4 }));
  const by = Object.fromEntries(c.metrics.map((m) => [m.key, m]));
  assert.deepEqual(c.metrics.map((m) => m.label), ["val accuracy", "top-5", "macro F1", "val loss"]);
  assert.deepEqual(by.accuracy, { key: "accuracy", label: "val accuracy", higherIsBetter: true, primary: true, baseline: 0.9, current: 0.92, change: 0.02, changePct: 2.222222222222, arrow: "↑", assessment: "better" });
  assert.equal(by.top5.arrow, "=");
  assert.equal(by.top5.assessment, "same");
  assert.equal(by.top5.changePct, 0);
  assert.equal(by.macroF1.change, -0.1);
  assert.equal(by.macroF1.arrow, "↓");
  assert.equal(by.macroF1.assessment, "worse");
  // The loss fell by a quarter: down, and better.
  assert.equal(by.loss.change, -0.1);
  assert.equal(by.loss.changePct, -25);
  assert.equal(by.loss.arrow, "↓");
  assert.equal(by.loss.assessment, "better");
  assert.equal(c.verdict, "improved");
  const text = formatComparison(c);
  assert.match(text, /val accuracy \* +0\.9000 +0\.9200 +\+0\.0200 +\+2\.22% +↑ better/);
  assert.match(text, /val loss +0\.4000 +0\.3000 +-0\.1000 +-25\.00% +↓ better/);
  assert.match(text, /top-5 +0\.9900 +0\.9900 +0\.0000 +0\.00% += same/);
  assert.match(text, /verdict {2}improved: val accuracy \+2\.00 points \(beyond the 1 point threshold\)/);
  assert.ok(!text.includes("\x1b["), "no escape codes unless asked");
  assert.ok(formatComparison(c, true).includes("\x1b[32m"), "green on a terminal");
});

test("a metric missing on one side shows '-' and a zero baseline has no %", () => {
  const c = compareMetrics(snap({ accuracy: 0.5, top5: 0 }), snap({ accuracy: 0.5, top5: 0, loss: 1 }));
  const by = Object.fromEntries(c.metrics.map((m) => [m.key, m]));
  assert.deepEqual([by.loss.baseline, by.loss.current, by.loss.change, by.loss.arrow], [1, null, null, null]);
  assert.equal(by.top5.changePct, null);
  assert.match(formatComparison(c), /val loss +1\.0000 +- +- +-/);
});

test("metrics.json is read at the best epoch (or the last with 'final'); kiln val reports are accepted", () => {
  const dir = makeRun("epochs/run", { acc: 0.9, top5: 0.99, f1: 0.88, loss: 0.3 });
  const json: unknown = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8"));
  assert.deepEqual(snapshotFromJson(json, "m.json"), { task: "classify", values: { accuracy: 0.9, top5: 0.99, macroF1: 0.88, loss: 0.3 }, epoch: 2, kind: "best" });
  const final = snapshotFromJson(json, "m.json", "final");
  assert.equal(final.epoch, 3);
  assert.equal(final.values.accuracy, 0.9 - 0.05);
  // `kiln val --json`: top-level values.
  assert.deepEqual(snapshotFromJson({ accuracy: 0.7, top5: 0.9, loss: 0.8, macroF1: 0.6, model: "w.safetensors", split: "val" }, "val.json"),
    { task: "classify", values: { accuracy: 0.7, top5: 0.9, macroF1: 0.6, loss: 0.8 }, epoch: null, kind: "report" });
  // Detection files are recognised by their keys, in kiln's or Ultralytics' names.
  const det = snapshotFromJson({ val: { "metrics/mAP50-95(B)": 0.41, "metrics/mAP50(B)": 0.6, precision: 0.7, recall: 0.5 } }, "det.json");
  assert.deepEqual(det.values, { mAP50_95: 0.41, mAP50: 0.6, precision: 0.7, recall: 0.5 });
  assert.equal(det.task, "detect");
  const d = compareMetrics(det, { ...det, values: { ...det.values, mAP50_95: 0.45 } });
  assert.equal(d.primary, "mAP50_95");
  assert.equal(d.verdict, "degraded");
  assert.throws(() => compareMetrics(det, acc(0.9)), (e: unknown) => e instanceof KilnError && e.exitCode === 2 && /different tasks/.test(e.message));
});

test("kiln compare: exit 0 when improved or unchanged, 1 when degraded", async () => {
  makeRun("runs/classify/train", { acc: 0.9, top5: 0.99, f1: 0.88, loss: 0.3 });
  makeRun("runs/classify/train2", { acc: 0.925, top5: 0.995, f1: 0.9, loss: 0.25 });
  makeRun("runs/classify/train3", { acc: 0.885, top5: 0.99, f1: 0.87, loss: 0.35 });
  const improved = await kiln(["compare", "runs/classify/train2", "runs/classify/train"]);
  assert.equal(improved.code, 0, improved.stderr);
  assert.match(improved.stdout, /current {2}runs\/classify\/train2 \(best epoch 2\)/);
  assert.match(improved.stdout, /baseline runs\/classify\/train \(best epoch 2\)/);
  assert.match(improved.stdout, /val accuracy \* +0\.9000 +0\.9250 +\+0\.0250 +\+2\.78% +↑ better/);
  assert.match(improved.stdout, /improved: val accuracy \+2\.50 points/);
  const degraded = await kiln(["compare", "runs/classify/train3", "runs/classify/train"]);
  assert.equal(degraded.code, 1);
  assert.match(degraded.stdout, /degraded: val accuracy -1\.50 points \(beyond the 1 point threshold\)/);
  // 1.5 points down is within a 2-point threshold, in both spellings; names resolve under runs/.
  for (const args of [["train3", "train", "threshold=2"], ["train3", "train", "--threshold", "2"]]) {
    const r = await kiln(["compare", ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /unchanged: val accuracy -1\.50 points \(within ±2 points\)/);
  }
  const fromFiles = await kiln(["compare", "runs/classify/train3/metrics.json", "runs/classify/train/metrics.json", "--threshold", "1.5"]);
  assert.equal(fromFiles.code, 0, "exactly 1.5 points down with a 1.5-point threshold");
  // The same exit codes from the real command, as a CI script sees them.
  const spawned = runKiln(["compare", "train3", "train"], root);
  assert.equal(spawned.code, 1, spawned.stderr);
  assert.match(spawned.stdout, /degraded: val accuracy -1\.50 points/);
  assert.equal(runKiln(["compare", "train3", "nope"], root).code, 2);
});

test("kiln compare --json prints the comparison", async () => {
  const r = await kiln(["compare", "runs/classify/train3", "runs/classify/train", "--json"]);
  assert.equal(r.code, 1);
  const c = JSON.parse(r.stdout) as Comparison;
  assert.deepEqual(Object.keys(c), ["task", "current", "baseline", "primary", "threshold", "thresholdPoints", "verdict", "metrics"]);
  assert.deepEqual(c.current, { source: "runs/classify/train3", file: join("runs/classify/train3", "metrics.json"), epoch: 2, kind: "best" });
  assert.equal(c.verdict, "degraded");
  assert.equal(c.threshold, 0.01);
  assert.equal(c.primary, "accuracy");
  assert.deepEqual(c.metrics[0], { key: "accuracy", label: "val accuracy", higherIsBetter: true, primary: true, baseline: 0.9, current: 0.885, change: -0.015, changePct: -1.666666666667, arrow: "↓", assessment: "worse" });
  assert.deepEqual(c.metrics.map((m) => m.key), ["accuracy", "top5", "macroF1", "loss"]);
});

test("set the baseline, then compare against it with one argument", async () => {
  const cwd = mkdtempSync(join(root, "pipeline-"));
  const make = (rel: string, a: number): string => makeRun(join(cwd.slice(root.length + 1), rel), { acc: a, top5: 0.99, f1: a - 0.02, loss: 0.3 });
  make("runs/classify/train", 0.8);
  make("runs/classify/train2", 0.78);
  make("runs/classify/train3", 0.805);
  await badInput(["compare", "runs/classify/train2"], /no baseline is recorded in kiln\.state\.yaml\. Fix: kiln compare --set-baseline RUN/, cwd);
  const set = await kiln(["compare", "--set-baseline", "train"], cwd);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /baseline set in kiln\.state\.yaml: runs\/classify\/train \(best epoch 2: val accuracy 0\.8000, top-5 0\.9900, macro F1 0\.7800, val loss 0\.3000\)/);
  const state = readFileSync(join(cwd, "kiln.state.yaml"), "utf8");
  assert.match(state, /baseline:\n {2}run: runs\/classify\/train\n {2}metrics: runs\/classify\/train\/metrics\.json\n {2}set_at: \d{4}-\d\d-\d\dT/);
  const worse = await kiln(["compare", "runs/classify/train2"], cwd);
  assert.equal(worse.code, 1);
  assert.match(worse.stdout, /baseline runs\/classify\/train \(best epoch 2\)/);
  assert.match(worse.stdout, /degraded: val accuracy -2\.00 points/);
  const same = await kiln(["compare", "train3", "--json"], cwd);
  assert.equal(same.code, 0);
  assert.equal((JSON.parse(same.stdout) as Comparison).verdict, "unchanged");
  // The state file exists, so compare records its verdict there.
  assert.match(readFileSync(join(cwd, "kiln.state.yaml"), "utf8"), /compare:\n {4}completed_at: .*\n {4}run: runs\/classify\/train3\n {4}baseline: runs\/classify\/train\n {4}verdict: unchanged/);
  // Also: the run path after the flag.
  assert.equal((await kiln(["compare", "runs/classify/train3", "--set-baseline"], cwd)).code, 0);
  assert.match(readFileSync(join(cwd, "kiln.state.yaml"), "utf8"), /run: runs\/classify\/train3\n/);
  // A broken state file: one-argument compare cannot find its baseline (exit 2, the line named);
  // two-argument compare still works and only warns that the verdict was not recorded.
  writeFileSync(join(cwd, "kiln.state.yaml"), "baseline:\n  run: [runs/classify/train\n");
  await badInput(["compare", "train2"], /kiln\.state\.yaml line \d+: not valid YAML .*Fix: correct line \d+, or delete/, cwd);
  const warned = await kiln(["compare", "train2", "train"], cwd);
  assert.equal(warned.code, 1);
  assert.match(warned.stderr, /warning: the verdict was not recorded: .*kiln\.state\.yaml line \d+/);
});

test("bad input exits 2 with a message naming the file and the fix", async () => {
  makeRun("runs/detect/train", { acc: 0, top5: 0, f1: 0, loss: 0 }, "detect");
  const detect = join(root, "runs/detect/train/metrics.json");
  writeFileSync(detect, JSON.stringify({ task: "detect", epoch: 1, val: { mAP50_95: 0.3, mAP50: 0.5, precision: 0.6, recall: 0.4 } }));
  mkdirSync(join(root, "empty-run"), { recursive: true });
  writeFileSync(join(root, "broken.json"), "{\"val\": {\"accuracy\": 0.9");
  writeFileSync(join(root, "list.json"), "[1, 2]");
  writeFileSync(join(root, "nometrics.json"), "{\"epoch\": 3}");
  await badInput(["compare", "no/such/run", "runs/classify/train"], /no\/such\/run does not exist\. Fix: give an existing run directory/);
  await badInput(["compare", "runs/classify/train", "nosuchname"], /no run named 'nosuchname' under runs\/\. Runs there: .*train.*Fix:/);
  await badInput(["compare", "empty-run", "runs/classify/train"], /empty-run has no metrics\.json .*Fix: give a run that completed at least one epoch/);
  await badInput(["compare", "broken.json", "runs/classify/train"], /broken\.json is not valid JSON \(.*\)\. Fix:/);
  await badInput(["compare", "list.json", "runs/classify/train"], /list\.json is not a metrics object \(it holds an array\)/);
  await badInput(["compare", "nometrics.json", "runs/classify/train"], /nometrics\.json has no val accuracy/);
  await badInput(["compare", "runs/detect/train", "runs/classify/train"], /cannot compare metrics of different tasks: .*runs\/detect\/train\/metrics\.json is detect, .*is classify/);
  await badInput(["compare", "runs/classify/train", "runs/classify/train", "--threshold", "-1"], /invalid value for 'threshold': -1\. Allowed: a number of points ≥ 0/);
  await badInput(["compare", "runs/classify/train", "runs/classify/train", "threshold=lots"], /invalid value for 'threshold': lots/);
  await badInput(["compare", "--frobnicate"], /unknown option 'frobnicate' for kiln compare/);
  await badInput(["compare"], /kiln compare takes CURRENT \[BASELINE\], got 0 paths/);
  await badInput(["compare", "a", "b", "c"], /got 3 paths/);
  await badInput(["compare", "--set-baseline", "empty-run"], /empty-run has no metrics\.json/);
});

test("kiln compare --help, and compare is listed in kiln --help", async () => {
  const r = await kiln(["compare", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: kiln compare CURRENT \[BASELINE\]/);
  assert.match(r.stdout, /Exit codes: 0 improved or unchanged, 1 degraded, 2 bad input/);
  assert.match(r.stdout, /Examples:\n {2}kiln compare /);
  assert.match((await kiln(["--help"])).stdout, /\n {2}compare {5}compare a run's metrics/);
});
