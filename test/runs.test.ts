// kiln runs: listing with filters, sorting and JSON; dead "running" runs
// shown as failed (died); show, compare and note; malformed files; run names.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { effectiveStatus, isPidAlive } from "../src/runs/liveness.js";
import { formatTable, useColor } from "../src/runs/table.js";
import type { RunSummary } from "../src/runs/summary.js";
import type { ExperimentLog } from "../src/runs/experiment-log.js";
import type { RunDetails } from "../src/runs/show.js";
import type { RunsComparison } from "../src/runs/compare-runs.js";
import { kilnInProcess } from "./helpers/in-process.js";

process.env.TZ = "UTC"; // start times print in local time

const root = mkdtempSync(join(tmpdir(), "kiln-runs-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface RunSpec {
  accs?: number[];
  status?: "running" | "finished" | "interrupted" | "failed";
  pid?: number;
  model?: string;
  epochs?: number;
  lr0?: number;
  started?: string;
  ended?: string | null;
  heartbeat?: string;
  task?: string;
}

/** A run directory as kiln train writes it: args.yaml, run.json, results.csv, metrics.json, weights. */
function makeRun(base: string, rel: string, s: RunSpec = {}): string {
  const dir = join(base, rel);
  mkdirSync(join(dir, "weights"), { recursive: true });
  const accs = s.accs ?? [];
  const started = s.started ?? "2024-05-01T10:00:00.000Z";
  const ended = s.ended === undefined ? "2024-05-01T10:05:00.000Z" : s.ended;
  writeFileSync(join(dir, "args.yaml"), `${s.task ? `task: ${s.task}\n` : ""}model: ${s.model ?? "cnn"}\ndata: synthetic\nproject: runs/classify\nepochs: ${s.epochs ?? accs.length}\nbatch: 32\nlr0: ${s.lr0 ?? 0.01}\nseed: 0\n`);
  writeFileSync(join(dir, "run.json"), `${JSON.stringify({ status: s.status ?? "finished", pid: s.pid ?? 1, kiln_version: "0.1.0", started_at: started, ended_at: ended, heartbeat_at: s.heartbeat ?? ended ?? started }, null, 2)}\n`);
  if (accs.length > 0) {
    const history = accs.map((a, i) => ({ epoch: i, time: 60 * (i + 1), lr: [0.002, 0.002, 0.002], fitness: a,
      values: { "train/loss": 1.5 - a, "train/acc": a - 0.05, "val/loss": 1 - a, "val/acc": a, "val/top5": 1, "val/f1": a - 0.01 } }));
    const best = accs.indexOf(Math.max(...accs));
    const last = history[history.length - 1];
    writeFileSync(join(dir, "metrics.json"), JSON.stringify({
      epoch: accs.length, best_epoch: best + 1, best_fitness: accs[best],
      val: { loss: last.values["val/loss"], accuracy: last.values["val/acc"], top5: 1, macroF1: last.values["val/f1"], perClass: [], count: 50 }, confusion: [[1]], history,
    }, null, 2));
    writeFileSync(join(dir, "results.csv"), `epoch,time,train/loss,train/acc,val/loss,val/acc,val/top5,val/f1,lr/pg0,lr/pg1,lr/pg2\n${history
      .map((h) => [h.epoch + 1, h.time, ...Object.values(h.values), 0.002, 0.002, 0.002].map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(6))).join(",")).join("\n")}\n`);
    writeFileSync(join(dir, "weights", "best.safetensors"), Buffer.alloc(3000));
    writeFileSync(join(dir, "weights", "last.safetensors"), Buffer.alloc(3000));
  }
  return dir;
}

/** A process id that no longer exists: a child that has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ["-e", ""]).pid;
  assert.ok(pid && !isPidAlive(pid), "the exited child's pid is free");
  return pid;
}

const kiln = kilnInProcess;

async function ok(args: string[], cwd: string): Promise<string> {
  const r = await kiln(args, cwd);
  assert.equal(r.code, 0, `kiln ${args.join(" ")}: ${r.stderr}`);
  assert.ok(!r.stdout.includes("\x1b["), "no escape codes when not a terminal");
  return r.stdout;
}

async function badInput(args: string[], cwd: string, message: RegExp): Promise<void> {
  const r = await kiln(args, cwd);
  assert.equal(r.code, 2, `kiln ${args.join(" ")}: ${r.stdout}`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

/** The table's rows as cells (columns are separated by 2+ spaces, cells hold single spaces). */
const cells = (table: string): string[][] => table.split("\n").filter((l) => l.trim() !== "").map((l) => l.trim().split(/ {2,}/));

// One project shared by the listing tests.
const project = join(root, "project");
const now = Date.now();
makeRun(project, "runs/classify/train", { accs: [0.5, 0.8, 0.9, 0.88] });
makeRun(project, "runs/classify/train2", { accs: [0.6, 0.85, 0.875], model: "resnet18", lr0: 0.005, started: "2024-05-02T10:00:00.000Z", ended: "2024-05-02T11:00:00.000Z" });
makeRun(project, "runs/classify/train10", { accs: [0.7], status: "interrupted", epochs: 5, started: "2024-05-03T09:00:00.000Z", ended: "2024-05-03T09:01:30.000Z" });

test("kiln runs lists every run, newest first, with hand-computed columns", async () => {
  const rows = cells(await ok(["runs"], project));
  assert.deepEqual(rows, [
    ["name", "task", "model", "data", "status", "epochs", "best", "duration", "start"],
    ["train10", "classify", "cnn", "synthetic", "interrupted", "1/5", "acc 0.7000", "1:30", "2024-05-03 09:00"],
    ["train2", "classify", "resnet18", "synthetic", "finished", "3/3", "acc 0.8750", "1:00:00", "2024-05-02 10:00"],
    ["train", "classify", "cnn", "synthetic", "finished", "4/4", "acc 0.9000", "5:00", "2024-05-01 10:00"],
  ]);
});

test("filters, sort keys and --json", async () => {
  const names = async (args: string[]): Promise<string[]> => cells(await ok(["runs", ...args], project)).slice(1).map((r) => r[0]);
  assert.deepEqual(await names(["--sort", "name"]), ["train", "train2", "train10"], "numbers in names in order");
  assert.deepEqual(await names(["--sort", "best"]), ["train", "train2", "train10"]);
  assert.deepEqual(await names(["--sort", "duration"]), ["train2", "train", "train10"]);
  assert.deepEqual(await names(["sort=epochs"]), ["train", "train2", "train10"]);
  assert.deepEqual(await names(["--status", "finished"]), ["train2", "train"]);
  assert.deepEqual(await names(["--model", "resnet"]), ["train2"]);
  assert.deepEqual(await names(["--task", "classify", "--status", "interrupted"]), ["train10"]);
  assert.match(await ok(["runs", "--task", "detect"], project), /no run matches \(3 under runs\/; drop a filter to see them\)/);
  const json = JSON.parse(await ok(["runs", "--json", "--model", "resnet18"], project)) as RunSummary[];
  assert.equal(json.length, 1);
  assert.deepEqual({ ...json[0], durationSeconds: json[0].durationSeconds }, {
    name: "train2", dir: join("runs", "classify", "train2"), task: "classify", model: "resnet18", data: "synthetic", status: "finished", statusLabel: "finished",
    epochsDone: 3, epochsTotal: 3, best: { key: "accuracy", label: "val accuracy", value: 0.875, epoch: 3 }, durationSeconds: 3600,
    startedAt: "2024-05-02T10:00:00.000Z", endedAt: "2024-05-02T11:00:00.000Z", problems: [],
  });
  assert.deepEqual(JSON.parse(await ok(["runs", "--json", "--status", "running"], project)), []);
  await badInput(["runs", "--sort", "speed"], project, /invalid value for 'sort': speed\. Allowed: start, name, best, duration/);
  await badInput(["runs", "--status", "done"], project, /invalid value for 'status': done\. Allowed: running, finished/);
  await badInput(["runs", "--colour"], project, /unknown option 'colour' for kiln runs list/);
  await badInput(["runs", "frobnicate"], project, /unknown subcommand 'frobnicate' for kiln runs/);
});

test("a 'running' run whose process is gone or whose heartbeat is stale shows as failed (died)", async () => {
  const base = join(root, "liveness");
  const fresh = new Date(now).toISOString();
  const stale = new Date(now - 3 * 60_000).toISOString();
  makeRun(base, "runs/classify/gone", { accs: [0.5], status: "running", pid: deadPid(), ended: null, heartbeat: fresh, epochs: 10, started: "2024-05-01T10:00:00.000Z" });
  makeRun(base, "runs/classify/stale", { accs: [0.5], status: "running", pid: process.pid, ended: null, heartbeat: stale, epochs: 10, started: "2024-05-01T11:00:00.000Z" });
  makeRun(base, "runs/classify/alive", { accs: [0.5], status: "running", pid: process.pid, ended: null, heartbeat: fresh, epochs: 10, started: "2024-05-01T12:00:00.000Z" });
  const rows = cells(await ok(["runs"], base));
  assert.deepEqual(rows.slice(1).map((r) => [r[0], r[4]]), [["alive", "running"], ["stale", "failed (died)"], ["gone", "failed (died)"]]);
  assert.deepEqual(cells(await ok(["runs", "--status", "failed"], base)).slice(1).map((r) => r[0]), ["stale", "gone"], "failed includes died");
  assert.deepEqual(cells(await ok(["runs", "--status", "died"], base)).slice(1).map((r) => r[0]), ["stale", "gone"]);
  // A dead run's duration ends at its last heartbeat.
  const stats = JSON.parse(await ok(["runs", "--json", "--sort", "name"], base)) as RunSummary[];
  assert.equal(stats.find((s) => s.name === "stale")?.durationSeconds, (Date.parse(stale) - Date.parse("2024-05-01T11:00:00.000Z")) / 1000);
  // The rule itself, with the clock and the process table given.
  const rec = { status: "running" as const, pid: 42, heartbeat_at: "2024-05-01T10:00:00.000Z" };
  const t = Date.parse(rec.heartbeat_at);
  assert.equal(effectiveStatus(rec, t + 120_000, () => true), "running", "exactly 2 minutes is not stale");
  assert.equal(effectiveStatus(rec, t + 120_001, () => true), "died");
  assert.equal(effectiveStatus(rec, t + 1000, () => false), "died");
  assert.equal(effectiveStatus({ ...rec, status: "finished" }, t + 10 ** 9, () => false), "finished", "only running runs can die");
  assert.equal(isPidAlive(process.pid), true);
});

test("malformed run.json, metrics.json or args.yaml: listed as unreadable with the file named", async () => {
  const base = join(root, "malformed");
  makeRun(base, "runs/classify/good", { accs: [0.9] });
  const bad = makeRun(base, "runs/classify/bad", { accs: [0.9] });
  writeFileSync(join(bad, "run.json"), "{\"status\": \"running\", ");
  writeFileSync(join(bad, "metrics.json"), "{\"epoch\": 1, \"history\": [");
  const weird = makeRun(base, "runs/classify/weird", { accs: [0.9] });
  writeFileSync(join(weird, "run.json"), JSON.stringify({ status: "exploded" }));
  writeFileSync(join(weird, "args.yaml"), "model: [cnn\n");
  makeRun(base, "runs/classify/fresh", { accs: [] });
  const out = await ok(["runs", "--sort", "name"], base);
  const rows = cells(out.split("\n\n")[0]);
  assert.deepEqual(rows.slice(1).map((r) => r.join(" | ")), [
    "bad | classify | cnn | synthetic | unreadable (run.json) | 1/1 | unreadable (metrics.json) | - | -",
    "fresh | classify | cnn | synthetic | finished | 0/0 | - | 5:00 | 2024-05-01 10:00",
    "good | classify | cnn | synthetic | finished | 1/1 | acc 0.9000 | 5:00 | 2024-05-01 10:00",
    "weird | classify | unreadable (args.yaml) | - | unreadable (run.json) | 1/? | acc 0.9000 | 1:00 | -",
  ]);
  assert.match(out, /unreadable: runs\/classify\/bad\/run\.json: /);
  assert.match(out, /unreadable: runs\/classify\/bad\/metrics\.json: /);
  assert.match(out, /unreadable: runs\/classify\/weird\/run\.json: status is "exploded", expected one of running, finished, interrupted, failed/);
  assert.match(out, /unreadable: runs\/classify\/weird\/args\.yaml: /);
  await badInput(["runs", "show", "bad"], base, /runs\/classify\/bad\/run\.json is unreadable: .*Fix: repair or remove the file/);
  await badInput(["runs", "compare", "good", "bad"], base, /runs\/classify\/bad\/run\.json is unreadable/);
  await badInput(["runs", "compare", "good", "fresh"], base, /runs\/classify\/fresh\/metrics\.json is missing or holds no val metrics, so runs\/classify\/fresh cannot be compared/);
  // show works without metrics: a run that has not finished an epoch.
  assert.match(await ok(["runs", "show", "fresh"], base), /best {7}-\n/);
});

test("kiln runs show: config, status, timing, per-epoch table, best and final, artifacts, notes", async () => {
  const out = await ok(["runs", "show", "train"], project);
  assert.match(out, /^run {8}runs\/classify\/train\n/);
  assert.match(out, /task {7}classify, model cnn, data synthetic/);
  assert.match(out, /status {5}finished, pid 1, kiln 0\.1\.0/);
  assert.match(out, /timing {5}started 2024-05-01 10:00, ended 2024-05-01 10:05, duration 5:00/);
  assert.match(out, /epochs {5}4\/4/);
  assert.match(out, /best {7}epoch 3: val accuracy 0\.9000, top-5 1\.0000, macro F1 0\.8900, val loss 0\.1000/);
  assert.match(out, /final {6}epoch 4: val accuracy 0\.8800, top-5 1\.0000, macro F1 0\.8700, val loss 0\.1200/);
  const table = out.split("per epoch (* best)\n")[1].split("\n\n")[0];
  assert.deepEqual(cells(table)[0], ["epoch", "time", "train/loss", "train/acc", "val/loss", "val/acc", "val/top5", "val/f1", "lr/pg0", "lr/pg1", "lr/pg2"]);
  assert.deepEqual(cells(table)[3], ["*", "3", "180.0", "0.6000", "0.8500", "0.1000", "0.9000", "1.0000", "0.8900", "0.00200", "0.00200", "0.00200"]);
  assert.equal(cells(table).filter((r) => r[0] === "*").length, 1);
  assert.match(out, /config\n {2}model: cnn\n {2}data: synthetic\n {2}project: runs\/classify\n {2}epochs: 4\n/);
  assert.match(out, /artifacts\n(.*\n)* {2}weights\/best\.safetensors +2\.9 KiB\n {2}weights\/last\.safetensors +2\.9 KiB/);
  assert.match(out, /notes\n {2}- \(add one: kiln runs note RUN "text"\)/);
  const details = JSON.parse(await ok(["runs", "show", "runs/classify/train", "--json"], project)) as RunDetails;
  assert.equal(details.best?.epoch, 3);
  assert.equal(details.final?.values.accuracy, 0.88);
  assert.equal(details.epochs?.rows.length, 4);
  assert.deepEqual(details.artifacts.map((a) => a.path).sort(), ["args.yaml", "metrics.json", "results.csv", "run.json", "weights/best.safetensors", "weights/last.safetensors"]);
  await badInput(["runs", "show"], project, /kiln runs show takes one RUN/);
});

test("kiln runs compare: metrics side by side and the config keys that differ", async () => {
  const out = await ok(["runs", "compare", "train", "train2", "runs/classify/train10"], project);
  const [metrics, config] = out.split("\n\nconfig keys that differ\n");
  const rows = Object.fromEntries(cells(metrics).map((r) => [r[0], r.slice(1)]));
  assert.deepEqual(cells(metrics)[0], ["train", "train2", "train10"]);
  assert.deepEqual(rows.status, ["finished", "finished", "interrupted"]);
  assert.deepEqual(rows.epochs, ["4/4", "3/3", "1/5"]);
  assert.deepEqual(rows["best epoch"], ["3", "3", "1"]);
  assert.deepEqual(rows["best val accuracy"], ["0.9000", "0.8750", "0.7000"]);
  assert.deepEqual(rows["final val accuracy"], ["0.8800", "0.8750", "0.7000"]);
  assert.deepEqual(rows["best val loss"], ["0.1000", "0.1250", "0.3000"]);
  assert.deepEqual(rows.duration, ["5:00", "1:00:00", "1:30"]);
  assert.deepEqual(cells(config), [["train", "train2", "train10"], ["model", "cnn", "resnet18", "cnn"], ["epochs", "4", "3", "5"], ["lr0", "0.01", "0.005", "0.01"]]);
  const json = JSON.parse(await ok(["runs", "compare", "train", "train2", "--json"], project)) as RunsComparison;
  assert.deepEqual(json.configDiff, { model: ["cnn", "resnet18"], epochs: [4, 3], lr0: [0.01, 0.005] });
  assert.deepEqual(json.runs.map((r) => r.best.accuracy), [0.9, 0.875]);
  await badInput(["runs", "compare", "train"], project, /needs at least two runs/);
});

test("kiln runs note appends to experiment_log.json (config, results, weights, notes), atomically", async () => {
  const run = join(project, "runs/classify/train2");
  const before = Date.now();
  const first = await ok(["runs", "note", "train2", "lr0=0.005", "beats", "0.01", "--here"], project);
  assert.match(first, /note added to runs\/classify\/train2\/experiment_log\.json \(1 note\)/);
  await ok(["runs", "note", "runs/classify/train2", "second thought"], project);
  const log = JSON.parse(readFileSync(join(run, "experiment_log.json"), "utf8")) as ExperimentLog;
  assert.deepEqual(log.notes.map((n) => n.text), ["lr0=0.005 beats 0.01 --here", "second thought"], "the text is kept verbatim, options included");
  assert.ok(log.notes.every((n) => Date.parse(n.time) >= before - 1000));
  assert.equal(log.run, join("runs", "classify", "train2"));
  assert.equal(log.config?.model, "resnet18");
  assert.deepEqual(log.results, { status: "finished", epochs: 3, best_epoch: 3, best: { accuracy: 0.875, top5: 1, macroF1: 0.865, loss: 0.125 }, final: { accuracy: 0.875, top5: 1, macroF1: 0.865, loss: 0.125 } });
  assert.deepEqual(log.weights, { best: join("runs", "classify", "train2", "weights", "best.safetensors"), last: join("runs", "classify", "train2", "weights", "last.safetensors") });
  // show lists the notes.
  assert.match(await ok(["runs", "show", "train2"], project), /notes\n {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}lr0=0\.005 beats 0\.01 --here\n {2}.* {2}second thought/);
  // A broken log is never overwritten.
  writeFileSync(join(run, "experiment_log.json"), "{\"notes\": [");
  await badInput(["runs", "note", "train2", "third"], project, /experiment_log\.json is not valid JSON .*Fix: repair it/);
  assert.equal(readFileSync(join(run, "experiment_log.json"), "utf8"), "{\"notes\": [");
  rmSync(join(run, "experiment_log.json"));
  await badInput(["runs", "note", "train2"], project, /kiln runs note takes RUN and the text/);
  await badInput(["runs", "note", "train2", "  "], project, /the note is empty/);
});

test("run names resolve under runs/*/; ambiguous and unknown names list the candidates", async () => {
  const base = join(root, "names");
  makeRun(base, "runs/classify/train", { accs: [0.9] });
  makeRun(base, "runs/classify/exp", { accs: [0.8] });
  makeRun(base, "runs/detect/train", { accs: [0.5], task: "detect" });
  assert.match(await ok(["runs", "show", "exp"], base), /^run {8}runs\/classify\/exp/);
  await badInput(["runs", "show", "train"], base, /the run name 'train' is ambiguous: runs\/classify\/train, runs\/detect\/train\. Fix: give the path/);
  await badInput(["runs", "show", "nope"], base, /no run named 'nope' under runs\/\. Runs there: exp, train\. Fix:/);
  await badInput(["runs", "show", "runs/classify/nope"], base, /runs\/classify\/nope does not exist/);
  assert.match(await ok(["runs", "show", "runs/detect/train"], base), /task {7}detect/);
  // The task folder comes from args.yaml, and the detect run's metric would be mAP50-95 (this one has none).
  const rows = cells(await ok(["runs", "--task", "detect"], base));
  assert.deepEqual(rows.slice(1).map((r) => [r[0], r[1], r[6]]), [["train", "detect", "-"]]);
});

test("--logdir and --project point elsewhere, a task folder included", async () => {
  const base = join(root, "elsewhere");
  makeRun(base, "exps/classify/a", { accs: [0.9] });
  makeRun(base, "exps/classify/b", { accs: [0.8], started: "2024-06-01T00:00:00.000Z" });
  assert.match(await ok(["runs"], base), /^no runs under runs\/ \(train one with 'kiln train', or point elsewhere with --logdir DIR\)$/);
  assert.deepEqual(cells(await ok(["runs", "--logdir", "exps"], base)).slice(1).map((r) => r[0]), ["b", "a"]);
  assert.deepEqual(cells(await ok(["runs", "--project", "exps/classify"], base)).slice(1).map((r) => r[0]), ["b", "a"]);
  assert.match(await ok(["runs", "show", "a", "--logdir", "exps"], base), /run {8}exps\/classify\/a/);
  await badInput(["runs", "--logdir", "nowhere"], base, /the log folder nowhere does not exist/);
});

test("tables: aligned plain text; colour only on a terminal without NO_COLOR", () => {
  const plain = formatTable([{ header: "a" }, { header: "num", align: "right" }], [["long cell", "1"], [{ text: "x", color: "red" }, "22"]]);
  assert.equal(plain, "a          num\nlong cell    1\nx           22");
  const coloured = formatTable([{ header: "a" }, { header: "num", align: "right" }], [[{ text: "x", color: "red" }, "22"]], true);
  assert.equal(coloured, "a  num\n\x1b[31mx\x1b[0m   22", "padding counts the text, not the escape codes");
  const saved = process.env.NO_COLOR;
  try {
    delete process.env.NO_COLOR;
    assert.equal(useColor({ isTTY: true }), true);
    assert.equal(useColor({ isTTY: false }), false);
    process.env.NO_COLOR = "1";
    assert.equal(useColor({ isTTY: true }), false);
  } finally {
    if (saved === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved;
  }
});

test("kiln runs --help, and runs is listed in kiln --help", async () => {
  const out = await ok(["runs", "--help"], root);
  assert.match(out, /Usage: kiln runs \[--logdir DIR\]/);
  assert.match(out, /kiln runs note RUN "text"/);
  assert.match(out, /Examples:\n {2}kiln runs\n/);
  assert.match(await ok(["runs", "note", "--help"], root), /Usage: kiln runs/);
  assert.match(await ok(["--help"], root), /\n {2}runs {8}list, show, compare and annotate training runs/);
});
