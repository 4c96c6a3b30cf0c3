// The MLflow REST client against a loopback server that checks every request
// against MLflow's documented contract (service.proto, formats.md §3.3: method,
// path, JSON fields and types, log-batch limits, param immutability, the
// artifact proxy path) and keeps state like a real server. Then trouble: a
// server that is down, never answers, or refuses must cost training nothing
// (calls return at once, end() is bounded) and give exactly one warning; and
// syncRunToMlflow later sends what is missing, once.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TrackedRun, Tracker } from "../src/track/tracker.js";
import { createMlflowTracker, syncRunToMlflow } from "../src/track/mlflow/index.js";

const scratch: string[] = [];
const servers: FakeMlflow[] = [];
after(async () => {
  scratch.forEach((d) => rmSync(d, { recursive: true, force: true }));
  await Promise.all(servers.map((s) => s.close()));
});

// ---- a fake MLflow tracking server that checks the contract ----

interface Recorded { method: string; path: string; query: URLSearchParams; body: Record<string, unknown>; bytes: Buffer }
interface FakeRun {
  info: { run_id: string; run_uuid: string; experiment_id: string; run_name: string; user_id: string; status: string; start_time: number;
    end_time?: number; artifact_uri: string; lifecycle_stage: string };
  params: Map<string, string>; tags: Map<string, string>; metrics: Map<string, { value: number | string; timestamp: number; step: number }[]>;
}
type Mode = "ok" | "slow" | "500" | "403";

const API = "/api/2.0/mlflow/";
const ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/";
const STATUSES = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];
const validKey = (k: unknown): boolean => typeof k === "string" && k.length > 0 && k.length <= 250 && /^[/\w.\- ]+$/.test(k) &&
  !k.startsWith("/") && !k.endsWith("/") && !k.split("/").some((p) => p === "" || p === "." || p === "..");
const isInt = (v: unknown): boolean => (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v));
const isDouble = (v: unknown): boolean => typeof v === "number" || v === "NaN" || v === "Infinity" || v === "-Infinity";

class FakeMlflow {
  readonly requests: Recorded[] = [];
  readonly problems: string[] = [];
  readonly experiments = new Map<string, { id: string; name: string }>();
  readonly runs = new Map<string, FakeRun>();
  readonly artifacts = new Map<string, Buffer>();
  mode: Mode = "ok";
  private nextId = 1;
  private readonly hanging: ServerResponse[] = [];

  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<FakeMlflow> {
    const holder: { fake?: FakeMlflow } = {};
    const server = createServer((req, res) => void holder.fake?.handle(req, res));
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    const fake = new FakeMlflow(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    holder.fake = fake;
    servers.push(fake);
    return fake;
  }

  async close(): Promise<void> {
    this.hanging.forEach((r) => r.destroy());
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  /** What the server did for requests from index `from` on: "METHOD path". */
  calls(from = 0): string[] {
    return this.requests.slice(from).map((r) => `${r.method} ${r.path}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://x");
    const rec: Recorded = { method: req.method ?? "", path: url.pathname, query: url.searchParams, body: {}, bytes };
    this.requests.push(rec);
    if (this.mode === "slow") return void this.hanging.push(res);
    if (this.mode === "500") return this.reply(res, 500, { error_code: "INTERNAL_ERROR", message: "boom" });
    if (this.mode === "403") return this.reply(res, 403, { error_code: "PERMISSION_DENIED", message: "no" });
    if (url.pathname.startsWith(API) && bytes.length > 0) {
      if (req.headers["content-type"] !== "application/json") this.problems.push(`${rec.path}: content-type ${req.headers["content-type"]}`);
      try {
        rec.body = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
      } catch {
        return this.bad(res, `${rec.path}: body is not JSON`);
      }
    }
    try {
      this.route(rec, res);
    } catch (err) {
      this.bad(res, `${rec.path}: ${(err as Error).message}`);
    }
  }

  private route(r: Recorded, res: ServerResponse): void {
    const ep = `${r.method} ${r.path.startsWith(API) ? r.path.slice(API.length) : r.path}`;
    const b = r.body;
    const allowed = (fields: string[]): void => {
      for (const k of Object.keys(b)) if (!fields.includes(k)) throw new Error(`unknown field ${k}`);
    };
    switch (ep) {
      case "GET experiments/get-by-name": {
        const name = r.query.get("experiment_name");
        if (!name) throw new Error("experiment_name missing");
        const exp = [...this.experiments.values()].find((e) => e.name === name);
        if (!exp) return this.reply(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Could not find experiment with name '${name}'` });
        return this.reply(res, 200, { experiment: { experiment_id: exp.id, name: exp.name, artifact_location: `mlflow-artifacts:/${exp.id}`, lifecycle_stage: "active" } });
      }
      case "POST experiments/create": {
        allowed(["name", "artifact_location", "tags"]);
        if (typeof b.name !== "string" || b.name === "") throw new Error("name must be a non-empty string");
        if ([...this.experiments.values()].some((e) => e.name === b.name)) return this.reply(res, 400, { error_code: "RESOURCE_ALREADY_EXISTS" });
        const id = String(this.nextId++);
        this.experiments.set(id, { id, name: b.name });
        return this.reply(res, 200, { experiment_id: id });
      }
      case "POST runs/create": {
        allowed(["experiment_id", "user_id", "run_name", "start_time", "tags"]);
        if (typeof b.experiment_id !== "string" || !this.experiments.has(b.experiment_id)) throw new Error("experiment_id must name an experiment (a string)");
        if (!isInt(b.start_time)) throw new Error("start_time must be an int64");
        if (b.user_id !== undefined && typeof b.user_id !== "string") throw new Error("user_id must be a string");
        if (b.run_name !== undefined && typeof b.run_name !== "string") throw new Error("run_name must be a string");
        const tags = this.keyValues(b.tags, "tags", 5000);
        const nameTag = tags.find((t) => t.key === "mlflow.runName")?.value;
        if (nameTag !== undefined && b.run_name !== undefined && nameTag !== b.run_name) throw new Error("run_name and mlflow.runName differ");
        const runId = `${String(this.nextId++).padStart(32, "0")}`;
        const run: FakeRun = {
          info: { run_id: runId, run_uuid: runId, experiment_id: b.experiment_id, run_name: String(b.run_name ?? nameTag), user_id: String(b.user_id ?? ""),
            status: "RUNNING", start_time: Number(b.start_time), artifact_uri: `mlflow-artifacts:/${b.experiment_id}/${runId}/artifacts`, lifecycle_stage: "active" },
          params: new Map(), tags: new Map(tags.map((t) => [t.key, t.value])), metrics: new Map(),
        };
        run.tags.set("mlflow.runName", run.info.run_name);
        this.runs.set(runId, run);
        return this.reply(res, 200, { run: this.runJson(run) });
      }
      case "GET runs/get": {
        const run = this.runs.get(r.query.get("run_id") ?? "");
        if (!run) return this.reply(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "Run not found" });
        return this.reply(res, 200, { run: this.runJson(run) });
      }
      case "POST runs/log-batch": {
        allowed(["run_id", "metrics", "params", "tags"]);
        if (r.bytes.length > 1_000_000) throw new Error(`request of ${r.bytes.length} bytes exceeds 1 MB`);
        const run = this.runs.get(String(b.run_id));
        if (!run) throw new Error("run_id must name a run");
        const metrics = (b.metrics ?? []) as Record<string, unknown>[];
        const params = this.keyValues(b.params, "params", 6000);
        const tags = this.keyValues(b.tags, "tags", 5000);
        if (!Array.isArray(metrics)) throw new Error("metrics must be a list");
        if (metrics.length > 1000) throw new Error(`${metrics.length} metrics > 1000`);
        if (params.length > 100) throw new Error(`${params.length} params > 100`);
        if (tags.length > 100) throw new Error(`${tags.length} tags > 100`);
        if (metrics.length + params.length + tags.length > 1000) throw new Error("more than 1000 entities");
        for (const m of metrics) {
          if (!validKey(m.key)) throw new Error(`bad metric key ${String(m.key)}`);
          if (!isDouble(m.value)) throw new Error(`metric value ${String(m.value)} is not a double`);
          if (!isInt(m.timestamp) || !isInt(m.step ?? 0)) throw new Error("timestamp and step must be int64");
        }
        for (const p of params) {
          const before = run.params.get(p.key);
          if (before !== undefined && before !== p.value) {
            return this.reply(res, 400, { error_code: "INVALID_PARAMETER_VALUE", message: `Changing param values is not allowed (${p.key})` });
          }
        }
        for (const p of params) run.params.set(p.key, p.value);
        for (const t of tags) run.tags.set(t.key, t.value);
        for (const m of metrics) {
          const list = run.metrics.get(m.key as string) ?? [];
          list.push({ value: m.value as number, timestamp: Number(m.timestamp), step: Number(m.step ?? 0) });
          run.metrics.set(m.key as string, list);
        }
        return this.reply(res, 200, {});
      }
      case "POST runs/update": {
        allowed(["run_id", "run_uuid", "status", "end_time", "run_name"]);
        const run = this.runs.get(String(b.run_id));
        if (!run) throw new Error("run_id must name a run");
        if (b.status !== undefined && !STATUSES.includes(b.status as string)) throw new Error(`status ${String(b.status)}`);
        if (b.end_time !== undefined && !isInt(b.end_time)) throw new Error("end_time must be an int64");
        if (b.status) run.info.status = b.status as string;
        if (b.end_time !== undefined) run.info.end_time = Number(b.end_time);
        return this.reply(res, 200, { run_info: run.info });
      }
    }
    if (r.method === "PUT" && r.path.startsWith(ARTIFACTS)) {
      const [exp, runId, folder, ...rest] = r.path.slice(ARTIFACTS.length).split("/").map(decodeURIComponent);
      const run = this.runs.get(runId);
      if (!run || run.info.experiment_id !== exp || folder !== "artifacts" || rest.length === 0) throw new Error(`artifact path ${r.path}`);
      this.artifacts.set(`${runId}/${rest.join("/")}`, r.bytes);
      return this.reply(res, 200, {});
    }
    throw new Error(`no such endpoint: ${r.method} ${r.path}`);
  }

  private keyValues(list: unknown, what: string, maxValue: number): { key: string; value: string }[] {
    if (list === undefined) return [];
    if (!Array.isArray(list)) throw new Error(`${what} must be a list`);
    for (const kv of list as Record<string, unknown>[]) {
      if (!validKey(kv.key) && !(what === "tags" && typeof kv.key === "string" && /^[\w.\-/ ]+$/.test(kv.key))) throw new Error(`bad ${what} key ${String(kv.key)}`);
      if (typeof kv.value !== "string" || kv.value.length > maxValue) throw new Error(`${what} value must be a string of ≤${maxValue}`);
    }
    return list as { key: string; value: string }[];
  }

  /** A run as the API answers it: proto3 JSON leaves out empty lists. */
  private runJson(run: FakeRun): Record<string, unknown> {
    const latest = [...run.metrics].map(([key, list]) => ({ key, ...list.reduce((a, m) => (m.step >= a.step ? m : a)) }));
    const data: Record<string, unknown> = {};
    if (latest.length) data.metrics = latest;
    if (run.params.size) data.params = [...run.params].map(([key, value]) => ({ key, value }));
    if (run.tags.size) data.tags = [...run.tags].map(([key, value]) => ({ key, value }));
    return { info: run.info, data };
  }

  private bad(res: ServerResponse, problem: string): void {
    this.problems.push(problem);
    this.reply(res, 400, { error_code: "INVALID_PARAMETER_VALUE", message: problem });
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }
}

/** A port nothing listens on: connection refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((done) => server.close(() => done()));
  return `http://127.0.0.1:${port}`;
}

// ---- the kiln side ----

function tempRunDir(name = "train"): string {
  const base = mkdtempSync(join(tmpdir(), "kiln-mlflow-rest-"));
  scratch.push(base);
  const dir = join(base, "runs", "classify", name);
  mkdirSync(join(dir, "weights"), { recursive: true });
  return dir;
}

const PARAMS: TrackedRun["params"] = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, i % 3 === 0 ? `v${i}` : i]));

/** An epoch's row as the trainer logs it and writes it to results.csv. */
function epochRow(epoch: number): Record<string, number> {
  return { epoch, time: epoch * 10, "train/loss": Number((1 / epoch).toPrecision(6)), "val/acc": Number((0.2 * epoch).toPrecision(6)) };
}

/** What the trainer writes beside the trackers: args.yaml, results.csv, run.json, a plot, weights. */
function writeRunFiles(dir: string, epochs: number, status: string): void {
  writeFileSync(join(dir, "args.yaml"), Object.entries(PARAMS).map(([k, v]) => `${k}: ${String(v)}`).join("\n") + "\n");
  const rows = Array.from({ length: epochs }, (_, e) => Object.values(epochRow(e + 1)).join(","));
  writeFileSync(join(dir, "results.csv"), ["epoch,time,train/loss,val/acc", ...rows].join("\n") + "\n");
  writeFileSync(join(dir, "run.json"), JSON.stringify({ status, started_at: "2024-05-01T10:00:00.000Z", ended_at: status === "running" ? null : "2024-05-01T10:05:00.000Z" }));
  writeFileSync(join(dir, "results.png"), Buffer.from("png-bytes"));
  writeFileSync(join(dir, "weights", "best.safetensors"), Buffer.alloc(10_000, 3));
}

function run(dir: string, over: Partial<TrackedRun> = {}): TrackedRun {
  return { runDir: dir, name: "train", task: "classify", experiment: "classify", params: PARAMS, startedAt: Date.parse("2024-05-01T10:00:00.000Z"), resumed: false, ...over };
}

/** Drives a tracker as the trainer does, timing every training-side call. */
function train(tracker: Tracker, dir: string, epochs: number, over: Partial<TrackedRun> = {}): number {
  let slowest = 0;
  const timed = (f: () => void): void => {
    const t0 = performance.now();
    f();
    slowest = Math.max(slowest, performance.now() - t0);
  };
  timed(() => tracker.start(run(dir, over)));
  for (let e = 1; e <= epochs; e++) {
    for (let s = 1; s <= 700; s++) timed(() => tracker.logScalars("step", (e - 1) * 700 + s, { "train/batch_loss": 1 / s }));
    timed(() => tracker.logScalars("epoch", e, { ...epochRow(e), "lr/pg0": e === 1 ? NaN : 0.01 }));
  }
  timed(() => tracker.logArtifact(join(dir, "args.yaml")));
  timed(() => tracker.logArtifact(join(dir, "results.csv")));
  timed(() => tracker.logArtifact(join(dir, "results.png")));
  timed(() => tracker.logArtifact(join(dir, "weights", "best.safetensors"), "weights"));
  return slowest;
}

test("a run goes to the server in the documented sequence, within log-batch's limits", async () => {
  const server = await FakeMlflow.start();
  const dir = tempRunDir();
  writeRunFiles(dir, 3, "finished");
  const warnings: string[] = [];
  const tracker = createMlflowTracker({ uri: server.url, warn: (m) => warnings.push(m) });
  train(tracker, dir, 3);
  await tracker.end("finished", Date.parse("2024-05-01T10:05:00.000Z"));
  assert.equal(warnings.length, 0, warnings.join("\n"));
  assert.equal(server.problems.length, 0, server.problems.join("\n"));

  const calls = server.calls();
  assert.deepEqual(calls.slice(0, 5), [
    "GET /api/2.0/mlflow/experiments/get-by-name", "POST /api/2.0/mlflow/experiments/create", "POST /api/2.0/mlflow/runs/create",
    "POST /api/2.0/mlflow/runs/log-batch", "POST /api/2.0/mlflow/runs/log-batch",
  ]);
  // The status first, then the artifacts (large, slow: they must not hold the status back).
  assert.equal(calls.at(-5), "POST /api/2.0/mlflow/runs/update");
  assert.deepEqual(calls.slice(-4).map((c) => c.split(" ")[0]), ["PUT", "PUT", "PUT", "PUT"]);
  assert.equal(server.requests[0].query.get("experiment_name"), "classify");
  const batches = server.requests.filter((r) => r.path.endsWith("runs/log-batch"));
  assert.deepEqual(batches.slice(0, 2).map((r) => (r.body.params as unknown[]).length), [100, 50], "150 params in two requests of ≤100");
  for (const r of batches) assert.ok(((r.body.metrics as unknown[] | undefined) ?? []).length <= 1000);
  const puts = server.requests.filter((r) => r.method === "PUT");
  const [runId] = [...server.runs.keys()];
  const expId = server.runs.get(runId)?.info.experiment_id;
  assert.deepEqual(puts.map((r) => r.path), [
    `/api/2.0/mlflow-artifacts/artifacts/${expId}/${runId}/artifacts/args.yaml`,
    `/api/2.0/mlflow-artifacts/artifacts/${expId}/${runId}/artifacts/results.csv`,
    `/api/2.0/mlflow-artifacts/artifacts/${expId}/${runId}/artifacts/results.png`,
    `/api/2.0/mlflow-artifacts/artifacts/${expId}/${runId}/artifacts/weights/best.safetensors`,
  ]);

  const stored = server.runs.get(runId) as FakeRun;
  assert.equal(stored.info.run_name, "train");
  assert.equal(stored.info.status, "FINISHED");
  assert.equal(stored.info.end_time, Date.parse("2024-05-01T10:05:00.000Z"));
  assert.equal(stored.info.start_time, Date.parse("2024-05-01T10:00:00.000Z"));
  assert.equal(stored.params.size, 150);
  assert.equal(stored.params.get("p3"), "v3");
  assert.equal(stored.tags.get("mlflow.source.type"), "LOCAL");
  assert.deepEqual(stored.metrics.get("train/loss")?.map((m) => m.step), [1, 2, 3]);
  assert.equal(stored.metrics.get("lr/pg0")?.[0].value, "NaN", "non-finite values as proto3 JSON spells them");
  assert.equal(stored.metrics.get("train/batch_loss")?.length, 2100);
  assert.deepEqual(server.artifacts.get(`${runId}/weights/best.safetensors`), readFileSync(join(dir, "weights", "best.safetensors")));

  const link = JSON.parse(readFileSync(join(dir, "mlflow.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual([link.tracking_uri, link.experiment_id, link.run_id], [server.url, expId, runId]);

  // A second run of the same experiment finds it by name; a sync right after a complete live run sends nothing.
  const from = server.requests.length;
  const dir2 = tempRunDir("train2");
  writeRunFiles(dir2, 1, "finished");
  const t2 = createMlflowTracker({ uri: server.url, warn: (m) => warnings.push(m) });
  t2.start(run(dir2, { name: "train2" }));
  await t2.end("finished", Date.now());
  assert.ok(!server.calls(from).includes("POST /api/2.0/mlflow/experiments/create"));
  assert.equal(server.experiments.size, 1);

  const before = server.requests.length;
  const again = await syncRunToMlflow(dir, server.url);
  assert.deepEqual([again.runId, again.created, again.params, again.metrics, again.artifacts.length, again.status], [runId, false, 0, 0, 0, null]);
  assert.deepEqual(server.calls(before), ["GET /api/2.0/mlflow/runs/get"], "the live run sent it all");
  assert.equal(warnings.length, 0, warnings.join("\n"));
  assert.equal(server.problems.length, 0, server.problems.join("\n"));
});

test("a resumed run continues the same MLflow run; changed params are not resent", async () => {
  const server = await FakeMlflow.start();
  const dir = tempRunDir();
  writeRunFiles(dir, 2, "interrupted");
  const warnings: string[] = [];
  const t1 = createMlflowTracker({ uri: server.url, warn: (m) => warnings.push(m) });
  train(t1, dir, 1);
  await t1.end("interrupted", Date.now());
  const [runId] = [...server.runs.keys()];
  assert.equal(server.runs.get(runId)?.info.status, "KILLED");

  const from = server.requests.length;
  const t2 = createMlflowTracker({ uri: server.url, warn: (m) => warnings.push(m) });
  t2.start(run(dir, { resumed: true, params: { ...PARAMS, p1: 99, extra: "x" } }));
  t2.logScalars("epoch", 2, { "train/loss": 0.5 });
  await t2.end("finished", Date.now());
  assert.equal(warnings.length, 0, warnings.join("\n"));
  assert.equal(server.problems.length, 0, server.problems.join("\n"));
  const calls = server.calls(from);
  assert.equal(calls[0], "GET /api/2.0/mlflow/runs/get");
  assert.equal(calls[1], "POST /api/2.0/mlflow/runs/update");
  assert.equal(server.requests[from + 1].body.status, "RUNNING");
  assert.ok(!calls.includes("POST /api/2.0/mlflow/runs/create"));
  assert.equal(server.runs.size, 1);
  const stored = server.runs.get(runId) as FakeRun;
  assert.equal(stored.params.get("p1"), "1");
  assert.equal(stored.params.get("extra"), "x");
  assert.deepEqual(stored.metrics.get("train/loss")?.map((m) => m.step), [1, 2]);
  assert.equal(stored.info.status, "FINISHED");
});

const TROUBLE: { name: string; setup: () => Promise<string>; timeoutMs: number; endWaitMs: number; expect: RegExp }[] = [
  { name: "down (connection refused)", setup: deadUrl, timeoutMs: 2000, endWaitMs: 2000, expect: /ECONNREFUSED/ },
  { name: "slow (never answers; the request times out)", setup: async () => slowServer(), timeoutMs: 1000, endWaitMs: 5000, expect: /no answer within 1 s/ },
  { name: "slow (never answers; end() gives up first)", setup: async () => slowServer(), timeoutMs: 60_000, endWaitMs: 400, expect: /within 0.4 s/ },
  { name: "refusing (HTTP 500)", setup: async () => refusing("500"), timeoutMs: 2000, endWaitMs: 2000, expect: /HTTP 500 INTERNAL_ERROR/ },
  { name: "refusing (HTTP 403)", setup: async () => refusing("403"), timeoutMs: 2000, endWaitMs: 2000, expect: /HTTP 403 PERMISSION_DENIED/ },
];

async function slowServer(): Promise<string> {
  const s = await FakeMlflow.start();
  s.mode = "slow";
  return s.url;
}

async function refusing(mode: "500" | "403"): Promise<string> {
  const s = await FakeMlflow.start();
  s.mode = mode;
  return s.url;
}

for (const trouble of TROUBLE) {
  test(`a server that is ${trouble.name}: one warning, no throw, training never waits; a later sync sends it all once`, async () => {
    const url = await trouble.setup();
    const dir = tempRunDir();
    writeRunFiles(dir, 2, "finished");
    const warnings: string[] = [];
    const tracker = createMlflowTracker({ uri: url, warn: (m) => warnings.push(m), timeoutMs: trouble.timeoutMs, endWaitMs: trouble.endWaitMs });
    const slowest = train(tracker, dir, 2);
    // Far below any network wait here (a refused connection aside, ≥ 400 ms); room for a busy disk's fsync.
    assert.ok(slowest < 250, `a training-side call took ${slowest.toFixed(1)} ms`);
    const t0 = performance.now();
    await tracker.end("finished", Date.now());
    const waited = performance.now() - t0;
    assert.ok(waited < trouble.endWaitMs + 500, `end() waited ${waited.toFixed(0)} ms`);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], trouble.expect);
    assert.match(warnings[0], /kiln runs sync/);
    // Nothing more comes later either.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(warnings.length, 1);

    // The run directory kept everything: a sync to a working server sends it, and a second sync nothing new.
    const good = await FakeMlflow.start();
    const first = await syncRunToMlflow(dir, good.url);
    assert.equal(good.problems.length, 0, good.problems.join("\n"));
    assert.equal(first.created, true);
    assert.equal(first.params, 150);
    assert.equal(first.metrics, 8);
    assert.deepEqual(first.artifacts.sort(), ["args.yaml", "results.csv", "results.png", "weights/best.safetensors"]);
    assert.equal(first.status, "FINISHED");
    const stored = [...good.runs.values()][0];
    assert.equal(stored.info.status, "FINISHED");
    assert.equal(stored.info.start_time, Date.parse("2024-05-01T10:00:00.000Z"));
    assert.equal(stored.info.end_time, Date.parse("2024-05-01T10:05:00.000Z"));
    assert.deepEqual(stored.metrics.get("val/acc")?.map((m) => [m.step, m.value, m.timestamp]), [
      [1, 0.2, Date.parse("2024-05-01T10:00:10.000Z")], [2, 0.4, Date.parse("2024-05-01T10:00:20.000Z")],
    ]);
    assert.equal(good.experiments.size, 1);
    assert.equal([...good.experiments.values()][0].name, "classify");

    const from = good.requests.length;
    const second = await syncRunToMlflow(dir, good.url);
    assert.deepEqual(good.calls(from), ["GET /api/2.0/mlflow/runs/get"], "only a look, nothing sent");
    assert.deepEqual([second.created, second.params, second.metrics, second.artifacts.length, second.status], [false, 0, 0, 0, null]);
    assert.equal(good.problems.length, 0, good.problems.join("\n"));
  });
}

test("a server that fails midway: the sync sends only what the live run did not", async () => {
  const server = await FakeMlflow.start();
  const dir = tempRunDir();
  writeRunFiles(dir, 2, "finished");
  const warnings: string[] = [];
  const tracker = createMlflowTracker({ uri: server.url, warn: (m) => warnings.push(m) });
  tracker.start(run(dir));
  tracker.logScalars("epoch", 1, epochRow(1));
  await (tracker as unknown as { flush(): Promise<void> }).flush();
  server.mode = "500";
  tracker.logScalars("epoch", 2, epochRow(2));
  tracker.logArtifact(join(dir, "results.png"));
  await tracker.end("finished", Date.now());
  assert.equal(warnings.length, 1);

  server.mode = "ok";
  const from = server.requests.length;
  const result = await syncRunToMlflow(dir, server.url);
  assert.equal(result.created, false);
  assert.equal(result.params, 0, "the params had arrived");
  assert.equal(result.metrics, 4, "epoch 2's row only");
  const stored = [...server.runs.values()][0];
  assert.deepEqual(stored.metrics.get("train/loss")?.map((m) => m.step), [1, 2]);
  assert.equal(stored.info.status, "FINISHED");
  assert.ok(server.calls(from).includes("POST /api/2.0/mlflow/runs/update"));
  assert.equal(server.problems.length, 0, server.problems.join("\n"));
});
