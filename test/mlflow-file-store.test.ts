// The MLflow file store as MLflow itself reads it: runs written through the
// tracker are read back by a reader written from MLflow's FileStore
// (mlflow/store/tracking/file_store.py, formats.md §3): meta.yaml fields and
// types, metric lines "timestamp value step" parsed as _get_metric_from_line
// does, params, tags, artifacts, experiments found by name, and a resumed run
// continuing the same MLflow run.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parse } from "yaml";
import type { TrackedRun } from "../src/track/tracker.js";
import { createMlflowTracker, FileStore, MlflowTracker, pythonFloat, sanitizeKey, syncRunToMlflow } from "../src/track/mlflow/index.js";

const scratch: string[] = [];
after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-mlflow-fs-"));
  scratch.push(dir);
  return dir;
}

// ---- a reader written from MLflow's FileStore, independent of kiln's writer ----

type Yaml = Record<string, unknown>;
/** PyYAML's safe_load reads YAML 1.1. */
const readYaml = (path: string): Yaml => parse(readFileSync(path, "utf8"), { version: "1.1" }) as Yaml;
const isInt = (v: unknown): boolean => typeof v === "number" && Number.isInteger(v);

/** Python's int(): an optional sign and decimal digits, nothing else. */
function pyInt(text: string): number {
  assert.match(text, /^[+-]?\d+$/, `int('${text}')`);
  return Number.parseInt(text, 10);
}

/** Python's float(): decimal or exponent forms, and nan/inf spelled any case. */
function pyFloat(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === "nan" || t === "+nan" || t === "-nan") return NaN;
  if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  assert.match(t, /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/, `float('${text}')`);
  return Number(t);
}

interface Metric { timestamp: number; value: number; step: number }

/** _get_metric_from_line: 2 or 3 space-separated fields; step 0 when absent. */
function metricFromLine(line: string): Metric {
  const parts = line.trim().split(" ");
  assert.ok(parts.length === 2 || parts.length === 3, `metric line '${line}' has ${parts.length} fields`);
  return { timestamp: pyInt(parts[0]), value: pyFloat(parts[1]), step: parts.length === 3 ? pyInt(parts[2]) : 0 };
}

/** max by (step, timestamp, value), as MLflow picks a metric's latest value. */
function latest(history: Metric[]): Metric {
  return history.reduce((a, b) => (b.step > a.step || (b.step === a.step && (b.timestamp > a.timestamp || (b.timestamp === a.timestamp && b.value > a.value))) ? b : a));
}

/** _get_resource_files: every file under the folder, its '/'-joined relative path the key. */
function resourceFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (sub: string): void => {
    for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else out.set(rel, readFileSync(join(dir, rel), "utf8"));
    }
  };
  if (existsSync(dir)) walk("");
  return out;
}

interface StoredRun { dir: string; meta: Yaml; params: Map<string, string>; tags: Map<string, string>; metrics: Map<string, Metric[]> }
interface StoredExperiment { id: string; meta: Yaml; runs: Map<string, StoredRun> }

const RUN_META_KEYS = ["artifact_uri", "end_time", "entry_point_name", "experiment_id", "lifecycle_stage", "run_id", "run_name",
  "run_uuid", "source_name", "source_type", "source_version", "start_time", "status", "tags", "user_id"];

function readRun(expId: string, dir: string): StoredRun {
  const meta = readYaml(join(dir, "meta.yaml"));
  for (const key of RUN_META_KEYS) assert.ok(key in meta, `run meta.yaml lacks ${key}`);
  // RunInfo(**meta) in MLflow 2 needs run_uuid; _get_run_info checks experiment_id against the folder.
  assert.match(String(meta.run_id), /^[0-9a-f]{32}$/);
  assert.equal(meta.run_uuid, meta.run_id);
  assert.equal(meta.run_id, dir.split(/[\\/]/).at(-1));
  assert.equal(typeof meta.experiment_id, "string");
  assert.equal(meta.experiment_id, expId);
  assert.ok(isInt(meta.status) && (meta.status as number) >= 1 && (meta.status as number) <= 5, `status ${String(meta.status)} is RunStatus's int enum`);
  assert.ok(isInt(meta.start_time));
  assert.ok(meta.end_time === null || isInt(meta.end_time));
  assert.equal(meta.source_type, 4);
  assert.deepEqual(meta.tags, []);
  assert.ok(["active", "deleted"].includes(meta.lifecycle_stage as string));
  assert.equal(typeof meta.user_id, "string");
  assert.equal(typeof meta.artifact_uri, "string");
  const metrics = new Map<string, Metric[]>();
  for (const [key, text] of resourceFiles(join(dir, "metrics"))) {
    assert.match(key, /^[/\w.\- ]+$/, "metric names: alphanumerics, _ - . space /");
    assert.ok(text.endsWith("\n"), "every metric line is complete");
    metrics.set(key, text.split("\n").filter((l) => l !== "").map(metricFromLine));
  }
  return { dir, meta, params: resourceFiles(join(dir, "params")), tags: resourceFiles(join(dir, "tags")), metrics };
}

/** The active experiments and their runs, as search_experiments/_list_run_infos see them. */
function readStore(root: string): Map<string, StoredExperiment> {
  const out = new Map<string, StoredExperiment>();
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === ".trash" || e.name === "models") continue;
    const meta = readYaml(join(root, e.name, "meta.yaml"));
    assert.equal(meta.experiment_id, e.name, "experiment_id in meta.yaml is the folder name, as a string");
    assert.equal(typeof meta.name, "string");
    assert.equal(meta.lifecycle_stage, "active");
    assert.ok(isInt(meta.creation_time) && isInt(meta.last_update_time));
    assert.equal(meta.artifact_location, `${pathToFileURL(root).href}/${e.name}`);
    const runs = new Map<string, StoredRun>();
    for (const r of readdirSync(join(root, e.name), { withFileTypes: true })) {
      if (!r.isDirectory() || ["tags", "datasets", "traces"].includes(r.name)) continue;
      if (!existsSync(join(root, e.name, r.name, "meta.yaml"))) continue; // MLflow skips such a folder
      runs.set(r.name, readRun(e.name, join(root, e.name, r.name)));
    }
    out.set(e.name, { id: e.name, meta, runs });
  }
  return out;
}

// ---- the run side ----

function runDir(base: string, name: string): string {
  const dir = join(base, "runs", "classify", name);
  mkdirSync(join(dir, "weights"), { recursive: true });
  writeFileSync(join(dir, "args.yaml"), "model: cnn\nepochs: 3\nlr0: 0.01\n");
  writeFileSync(join(dir, "results.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
  writeFileSync(join(dir, "weights", "best.safetensors"), Buffer.alloc(4096, 7));
  return dir;
}

function tracked(dir: string, name: string, over: Partial<TrackedRun> = {}): TrackedRun {
  return {
    runDir: dir, name, task: "classify", experiment: "classify", startedAt: 1_700_000_000_000, resumed: false,
    params: { model: "cnn", epochs: 3, lr0: 0.01, cos_lr: false, pretrained: null, "data/path": "./shapes", "mosaic(p)": 0.5 },
    ...over,
  };
}

function epochScalars(epoch: number): Record<string, number> {
  return { "train/loss": 1 / epoch, "train/acc": 0.3 * epoch, "val/loss": 1.5 / epoch, "val/acc": 0.25 * epoch, "lr/pg0": 1e-5 * epoch };
}

test("a run written through the tracker reads back as MLflow's FileStore reads it", async () => {
  const base = tempDir();
  const root = join(base, "mlruns");
  const dir = runDir(base, "train");
  const warnings: string[] = [];
  const tracker = createMlflowTracker({ uri: root, warn: (m) => warnings.push(m) });
  tracker.start(tracked(dir, "train"));
  for (let epoch = 1; epoch <= 3; epoch++) {
    for (let i = 1; i <= 4; i++) tracker.logScalars("step", (epoch - 1) * 4 + i, { "train/batch_loss": 2 / i }, 1_700_000_001_000 + i);
    tracker.logScalars("epoch", epoch, epochScalars(epoch), 1_700_000_010_000 + epoch * 1000);
  }
  tracker.logArtifact(join(dir, "args.yaml"));
  tracker.logArtifact(join(dir, "results.png"));
  tracker.logArtifact(join(dir, "weights", "best.safetensors"), "weights");
  await tracker.end("finished", 1_700_000_100_000);
  assert.equal(warnings.length, 0, warnings.join("\n"));

  // MLflow creates the Default experiment 0 with a new root, and .trash.
  assert.ok(statSync(join(root, ".trash")).isDirectory());
  const store = readStore(root);
  assert.equal(store.get("0")?.meta.name, "Default");
  const experiments = [...store.values()].filter((e) => e.meta.name === "classify");
  assert.equal(experiments.length, 1);
  const experiment = experiments[0];
  assert.match(experiment.id, /^[1-9]\d{17}$/, "an 18-digit id, as _generate_unique_integer_id makes");
  assert.equal(experiment.runs.size, 1);
  const run = [...experiment.runs.values()][0];

  assert.equal(run.meta.status, 3, "FINISHED");
  assert.equal(run.meta.start_time, 1_700_000_000_000);
  assert.equal(run.meta.end_time, 1_700_000_100_000);
  assert.equal(run.meta.lifecycle_stage, "active");
  assert.equal(run.meta.run_name, "train");
  assert.equal(run.meta.artifact_uri, `${pathToFileURL(root).href}/${experiment.id}/${run.meta.run_id as string}/artifacts`);

  assert.equal(run.tags.get("mlflow.runName"), "train");
  assert.equal(run.tags.get("mlflow.source.type"), "LOCAL");
  assert.ok((run.tags.get("mlflow.user") ?? "") !== "");
  assert.ok((run.tags.get("mlflow.source.name") ?? "") !== "");
  assert.equal(run.tags.get("kiln.task"), "classify");

  assert.deepEqual(Object.fromEntries(run.params), {
    model: "cnn", epochs: "3", lr0: "0.01", cos_lr: "false", pretrained: "null", "data/path": "./shapes", mosaicp: "0.5",
  });

  assert.deepEqual([...run.metrics.keys()].sort(), ["lr/pg0", "train/acc", "train/batch_loss", "train/loss", "val/acc", "val/loss"]);
  const loss = run.metrics.get("train/loss") ?? [];
  assert.deepEqual(loss.map((m) => m.step), [1, 2, 3]);
  assert.deepEqual(loss.map((m) => m.timestamp), [1_700_000_011_000, 1_700_000_012_000, 1_700_000_013_000]);
  assert.deepEqual(loss.map((m) => m.value), [1, 0.5, 1 / 3]);
  assert.equal(latest(run.metrics.get("val/acc") ?? []).value, 0.75);
  assert.deepEqual((run.metrics.get("lr/pg0") ?? []).map((m) => m.value), [1e-5, 2e-5, 3.0000000000000004e-5]);
  const batch = run.metrics.get("train/batch_loss") ?? [];
  assert.deepEqual(batch.map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(latest(batch).step, 12);

  const artifacts = join(run.dir, "artifacts");
  assert.deepEqual(readFileSync(join(artifacts, "args.yaml")), readFileSync(join(dir, "args.yaml")));
  assert.deepEqual(readFileSync(join(artifacts, "results.png")), readFileSync(join(dir, "results.png")));
  assert.deepEqual(readFileSync(join(artifacts, "weights", "best.safetensors")), readFileSync(join(dir, "weights", "best.safetensors")));

  // mlflow.json links the kiln run to the MLflow run.
  const link = JSON.parse(readFileSync(join(dir, "mlflow.json"), "utf8")) as Record<string, unknown>;
  assert.equal(link.tracking_uri, pathToFileURL(root).href);
  assert.equal(link.experiment_id, experiment.id);
  assert.equal(link.run_id, run.meta.run_id);
});

test("two runs of one experiment share it (found by name); a resumed run continues the same MLflow run", async () => {
  const base = tempDir();
  const root = join(base, "mlruns");
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const first = runDir(base, "train");
  const second = runDir(base, "train2");

  // The first run is interrupted after epoch 1.
  const t1 = createMlflowTracker({ uri: `file://${root}`, warn });
  t1.start(tracked(first, "train"));
  t1.logScalars("epoch", 1, epochScalars(1), 1_700_000_001_000);
  await t1.end("interrupted", 1_700_000_002_000);

  const t2 = createMlflowTracker({ uri: root, warn });
  t2.start(tracked(second, "train2"));
  t2.logScalars("epoch", 1, epochScalars(1));
  await t2.end("failed", Date.now());

  let store = readStore(root);
  const named = [...store.values()].filter((e) => e.meta.name === "classify");
  assert.equal(named.length, 1, "one experiment named classify");
  assert.equal(named[0].runs.size, 2);
  const byName = new Map([...named[0].runs.values()].map((r) => [r.meta.run_name, r]));
  assert.equal(byName.get("train")?.meta.status, 5, "interrupted is KILLED");
  assert.equal(byName.get("train2")?.meta.status, 4, "FAILED");
  const runId = byName.get("train")?.meta.run_id as string;

  // Resume the first run, with a changed param (epochs extended): same MLflow run, status RUNNING while it trains.
  const t3 = new MlflowTracker(new FileStore(root), { warn });
  t3.start(tracked(first, "train", { resumed: true, startedAt: 1_700_000_050_000, params: { ...tracked(first, "train").params, epochs: 5, extra: "new" } }));
  t3.logScalars("epoch", 2, epochScalars(2), 1_700_000_060_000);
  await t3.flush();
  assert.equal(t3.runRef?.runId, runId);
  const running = readRun(named[0].id, join(root, named[0].id, runId));
  assert.equal(running.meta.status, 1, "RUNNING again");
  assert.equal(running.meta.end_time, null);
  t3.logScalars("epoch", 3, epochScalars(3), 1_700_000_070_000);
  await t3.end("finished", 1_700_000_080_000);
  assert.equal(warnings.length, 0, warnings.join("\n"));

  store = readStore(root);
  const again = [...store.values()].filter((e) => e.meta.name === "classify");
  assert.equal(again.length, 1);
  assert.equal(again[0].runs.size, 2, "no third run");
  const resumed = again[0].runs.get(runId) as StoredRun;
  assert.equal(resumed.meta.status, 3);
  assert.equal(resumed.meta.start_time, 1_700_000_000_000, "the run keeps its start");
  assert.equal(resumed.meta.end_time, 1_700_000_080_000);
  assert.deepEqual((resumed.metrics.get("train/loss") ?? []).map((m) => m.step), [1, 2, 3]);
  assert.equal(resumed.params.get("epochs"), "3", "params are immutable: the first value stays");
  assert.equal(resumed.params.get("extra"), "new", "a param the run lacked is added");
});

test("syncRunToMlflow fills a file store from a run directory, and a second sync adds nothing", async () => {
  const base = tempDir();
  const root = join(base, "mlruns");
  const dir = runDir(base, "train");
  writeFileSync(join(dir, "results.csv"), "epoch,time,train/loss,val/acc\n1,10.5,0.9,0.5\n2,21,0.7,0.6\n");
  writeFileSync(join(dir, "run.json"), JSON.stringify({ status: "finished", started_at: "2024-01-01T00:00:00.000Z", ended_at: "2024-01-01T00:01:00.000Z" }));

  const first = await syncRunToMlflow(dir, root);
  assert.equal(first.created, true);
  assert.equal(first.params, 3);
  assert.equal(first.metrics, 8, "every column, epoch and time included, as the trainer logs them live");
  assert.deepEqual(first.artifacts.sort(), ["args.yaml", "results.csv", "results.png", "weights/best.safetensors"]);
  assert.equal(first.status, "FINISHED");

  const run = readRun(first.experimentId, join(root, first.experimentId, first.runId));
  assert.equal(run.meta.status, 3);
  assert.equal(run.meta.start_time, Date.parse("2024-01-01T00:00:00.000Z"));
  assert.equal(run.meta.end_time, Date.parse("2024-01-01T00:01:00.000Z"));
  assert.deepEqual(run.metrics.get("val/acc"), [
    { timestamp: Date.parse("2024-01-01T00:00:10.500Z"), value: 0.5, step: 1 },
    { timestamp: Date.parse("2024-01-01T00:00:21.000Z"), value: 0.6, step: 2 },
  ]);

  const second = await syncRunToMlflow(dir, root);
  assert.deepEqual({ ...second, artifacts: second.artifacts.length }, { ...first, created: false, params: 0, metrics: 0, artifacts: 0, status: null });
  assert.equal(readFileSync(join(run.dir, "metrics", "val", "acc"), "utf8").split("\n").length, 3, "no line twice");

  // A later epoch appears in results.csv: only it is sent.
  writeFileSync(join(dir, "results.csv"), "epoch,time,train/loss,val/acc\n1,10.5,0.9,0.5\n2,21,0.7,0.6\n3,30,0.5,0.7\n");
  const third = await syncRunToMlflow(dir, root);
  assert.equal(third.metrics, 4);
  assert.deepEqual(third.artifacts, ["results.csv"]);
});

test("a deleted experiment of that name warns once and never throws", async () => {
  const base = tempDir();
  const root = join(base, "mlruns");
  mkdirSync(join(root, ".trash", "123"), { recursive: true });
  writeFileSync(join(root, ".trash", "123", "meta.yaml"), "experiment_id: '123'\nname: classify\nlifecycle_stage: deleted\nartifact_location: x\n");
  const warnings: string[] = [];
  const tracker = createMlflowTracker({ uri: root, warn: (m) => warnings.push(m) });
  const dir = runDir(base, "train");
  tracker.start(tracked(dir, "train"));
  tracker.logScalars("epoch", 1, epochScalars(1));
  tracker.logArtifact(join(dir, "args.yaml"));
  await tracker.end("finished", Date.now());
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /deleted/);
});

test("an unsupported tracking URI says so once and logs nothing", async () => {
  const base = tempDir();
  const warnings: string[] = [];
  const tracker = createMlflowTracker({ uri: "sqlite:///mlflow.db", warn: (m) => warnings.push(m) });
  tracker.start(tracked(runDir(base, "train"), "train"));
  tracker.logScalars("epoch", 1, epochScalars(1));
  await tracker.end("finished", Date.now());
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /mlflow server --backend-store-uri sqlite:\/\/\/mlflow.db/);
});

test("keys are sanitized as MLflow allows; floats are written as Python's str() writes them", () => {
  assert.equal(sanitizeKey("metrics/mAP50-95(B)"), "metrics/mAP50-95B");
  assert.equal(sanitizeKey("a:b"), "a_b");
  assert.equal(sanitizeKey("/x//y/"), "x/y");
  assert.equal(sanitizeKey("../up/./here"), "_/up/here");
  assert.equal(sanitizeKey("é"), "_");
  assert.equal(sanitizeKey("k".repeat(300)).length, 250);
  const cases: [number, string][] = [
    [0.1, "0.1"], [1, "1.0"], [-2, "-2.0"], [0, "0.0"], [123.456, "123.456"], [1e-5, "1e-05"], [1.5e-4, "0.00015"],
    [0.0001, "0.0001"], [1e16, "1e+16"], [1234567890123456, "1234567890123456.0"], [2.5e20, "2.5e+20"], [1 / 3, "0.3333333333333333"],
    [-1.25e-7, "-1.25e-07"], [NaN, "nan"], [Infinity, "inf"], [-Infinity, "-inf"], [5e-324, "5e-324"], [1.7976931348623157e308, "1.7976931348623157e+308"],
  ];
  for (const [value, text] of cases) assert.equal(pythonFloat(value), text, String(value));
  for (const [value] of cases) if (Number.isFinite(value)) assert.equal(pyFloat(pythonFloat(value)), value);
});
