// kiln ui's server against hand-written run directories: the JSON API gives
// the facts `kiln runs` and `kiln compare` give; traversal and Host-header
// probes sent as raw bytes; the event stream carries only what was appended.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compareMetrics } from "../src/compare/compare.js";
import { verdictLine } from "../src/compare/format.js";
import { loadMetrics } from "../src/compare/load.js";
import { readRunFiles } from "../src/runs/read-run.js";
import { summarizeRun } from "../src/runs/summary.js";
import { EventFileWriter } from "../src/track/tensorboard/event-writer.js";
import { scalarsEvent } from "../src/track/tensorboard/event.js";
import { startUiServer, type UiServer } from "../src/ui/server.js";
import { scratchDir } from "./helpers/kiln-cli.js";
import { CLASSIFY_HEADER, rawRequest, writeFixtureRun } from "./helpers/ui-fixtures.js";

const SECRET = "top secret outside the logdir";

describe("kiln ui server", () => {
  let root: string;
  let logdir: string;
  let server: UiServer;
  let port: number;

  before(async () => {
    root = scratchDir("kiln-ui-server-");
    logdir = join(root, "runs");
    writeFileSync(join(root, "secret.txt"), SECRET);
    // a: best at epoch 2 (0.80), b: running, better (0.83 at epoch 2), c: detection.
    const a = writeFixtureRun(logdir, { task: "classify", name: "a", status: "finished", bestEpoch: 2,
      rows: [[1, 1.5, 1.2, 0.5, 1.1, 0.6, 0.9, 0.55, 0.001], [2, 3, 0.8, 0.7, 0.7, 0.8, 0.95, 0.78, 0.0005], [3, 4.5, 0.7, 0.75, 0.72, 0.79, 0.96, 0.77, 0.0001]] });
    writeFixtureRun(logdir, { task: "classify", name: "b", status: "running", pid: process.pid, bestEpoch: 2, model: "resnet18", startedAt: new Date(Date.now() - 60_000).toISOString(),
      rows: [[1, 1, 1.0, 0.6, 0.9, 0.7, 0.9, 0.65, 0.001], [2, 2, 0.6, 0.8, 0.6, 0.83, 0.97, 0.82, 0.0005]] });
    writeFixtureRun(logdir, { task: "detect", name: "c", status: "interrupted", bestEpoch: 1,
      rows: [[1, 6, 4.6, 4.5, 4.4, 0.1, 0.2, 0.3, 0.15, 5.3, 4.5, 4.1, 0.0001]] });
    symlinkSync(join(root, "secret.txt"), join(a, "leak.txt"));
    symlinkSync(join(a, "results.csv"), join(a, "alias.csv"));
    mkdirSync(join(logdir, "classify", "a", "plots"));
    server = await startUiServer({ logdir, port: 0 });
    port = server.port;
  });
  after(async () => server.close());

  it("lists the runs with the facts kiln runs gives", async () => {
    const { runs } = JSON.parse((await rawRequest(port, "/api/runs")).body) as { runs: { id: string; status: string; best: { value: number; epoch: number } | null; epochsDone: number; model: string; task: string }[] };
    assert.deepEqual(runs.map((r) => r.id).sort(), ["classify/a", "classify/b", "detect/c"]);
    const byId = Object.fromEntries(runs.map((r) => [r.id, r]));
    // Hand-computed from the fixture: a's best is epoch 2 (0.80), c's mAP50-95 0.15.
    assert.deepEqual([byId["classify/a"].status, byId["classify/a"].best?.value, byId["classify/a"].best?.epoch, byId["classify/a"].epochsDone], ["finished", 0.8, 2, 3]);
    assert.deepEqual([byId["classify/b"].status, byId["classify/b"].model], ["running", "resnet18"]);
    assert.deepEqual([byId["detect/c"].status, byId["detect/c"].task, byId["detect/c"].best?.value], ["interrupted", "detect", 0.15]);
    // The same summary as kiln runs computes from the files (the running run's duration moves on).
    const fromFiles = summarizeRun(readRunFiles(join(logdir, "classify", "a")));
    assert.deepEqual({ ...byId["classify/a"], id: undefined }, { ...JSON.parse(JSON.stringify(fromFiles)), id: undefined });
  });

  it("compares against a baseline with kiln compare's verdict", async () => {
    const res = JSON.parse((await rawRequest(port, "/api/compare?runs=classify/a,classify/b&baseline=classify/a")).body) as { runs: { id: string; verdict: string | null; comparison: { verdict: string } | null }[] };
    const b = res.runs.find((r) => r.id === "classify/b");
    const expected = compareMetrics(loadMetrics(join(logdir, "classify", "b")), loadMetrics(join(logdir, "classify", "a")));
    assert.equal(b?.comparison?.verdict, "improved"); // 0.83 vs 0.80: +3 points
    assert.equal(b?.verdict, verdictLine(expected));
    const mixed = JSON.parse((await rawRequest(port, "/api/compare?runs=classify/a,detect/c")).body) as { runs: { id: string; error: string | null }[] };
    assert.match(mixed.runs[1].error ?? "", /different tasks/);
  });

  it("serves a run's files, symlinks inside the log folder included", async () => {
    const csv = await rawRequest(port, "/files/classify/a/results.csv");
    assert.equal(csv.status, 200);
    assert.equal(csv.body, readFileSync(join(logdir, "classify", "a", "results.csv"), "utf8"));
    assert.equal((await rawRequest(port, "/files/classify/a/alias.csv")).body, csv.body);
    assert.equal(csv.headers["content-disposition"], undefined);
    assert.equal((await rawRequest(port, "/files/classify/a/results.csv?download=1")).headers["content-disposition"], 'attachment; filename="results.csv"');
    const details = JSON.parse((await rawRequest(port, "/api/run?id=classify%2Fa")).body) as { files: { path: string }[]; results: { rows: number[][] } };
    assert.deepEqual(details.files.map((f) => f.path).sort(), ["alias.csv", "args.yaml", "metrics.json", "results.csv", "run.json"]);
    assert.equal(details.results.rows.length, 3);
  });

  it("answers 404 to every path that leads out of the log folder", async () => {
    const probes = [
      "/files/../secret.txt", "/files/classify/../../secret.txt", "/files/%2e%2e/secret.txt", "/files/%2E%2E%2Fsecret.txt",
      "/files/classify/a/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt", "/files/classify/a/..%2f..%2f..%2fsecret.txt", "/files/classify/a/..%5c..%5c..%5csecret.txt",
      "/files/%252e%252e/secret.txt", "/files//etc/passwd", "/files/%2fetc%2fpasswd", `/files/${encodeURIComponent(join(root, "secret.txt"))}`,
      "/files/classify/a/leak.txt", "/files/classify/a/%00", "/files/classify/a/%e0%a4%a", "/files/classify/a/plots", "/files/classify/a/weights",
      "/files/", "/../secret.txt", "/static/../../package.json", "/static/%2e%2e/%2e%2e/package.json", "/%2e%2e/%2e%2e/secret.txt",
    ];
    for (const p of probes) {
      const res = await rawRequest(port, p);
      assert.equal(res.status, 404, `${p} → ${res.status}`);
      assert.ok(!res.body.includes(SECRET) && !res.body.includes("root:"), p);
    }
  });

  it("checks the Host header against DNS rebinding and sends no CORS headers", async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) assert.equal((await rawRequest(port, "/api/runs", { host })).status, 200, host);
    for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.evil.example:${port}`, `localhost:${port + 1}`, `localhost`, `localhost:${port}@evil.example`, null]) {
      const res = await rawRequest(port, "/api/runs", { host });
      assert.equal(res.status, host === null ? 400 : 403, String(host)); // node itself refuses an HTTP/1.1 request without Host
      assert.ok(!res.body.includes("classify/a"));
    }
    const withOrigin = await rawRequest(port, "/api/runs", { headers: { Origin: "http://evil.example" } });
    assert.equal(withOrigin.status, 200);
    assert.equal(Object.keys(withOrigin.headers).filter((h) => h.startsWith("access-control-")).length, 0);
    const preflight = await rawRequest(port, "/api/runs", { method: "OPTIONS", headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "GET" } });
    assert.equal(preflight.status, 405);
    assert.equal(Object.keys(preflight.headers).filter((h) => h.startsWith("access-control-")).length, 0);
    for (const method of ["POST", "PUT", "DELETE"]) assert.equal((await rawRequest(port, "/api/runs", { method })).status, 405, method);
  });

  it("streams only what a run gained: new rows, new steps, changed status", async () => {
    const dir = join(logdir, "classify", "b");
    const events: { event: string; data: Record<string, unknown> }[] = [];
    let res: IncomingMessage | undefined;
    let buffer = "";
    const waiters: (() => void)[] = [];
    await new Promise<void>((resolve) => {
      get({ host: "127.0.0.1", port, path: "/api/events?runs=classify%2Fb&list=1" }, (r) => {
        res = r;
        r.setEncoding("utf8");
        r.on("data", (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
            for (const w of waiters.splice(0)) w();
          }
          if (events.some((e) => e.event === "ready")) resolve();
        });
      });
    });
    const next = async (pred: (e: { event: string; data: Record<string, unknown> }) => boolean, what: string): Promise<{ event: string; data: Record<string, unknown> }> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const i = events.findIndex(pred);
        if (i >= 0) return events.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error(`no ${what} event; got ${JSON.stringify(events)}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    };
    const appended = (e: { event: string; data: Record<string, unknown> }): boolean => e.event === "append" && (e.data.rows as unknown[]).length > 0;

    appendFileSync(join(dir, "results.csv"), "3,3,0.5,0.85,0.55,0.84,0.98,0.83,0.0002\n");
    const first = await next(appended, "append");
    assert.deepEqual(first.data.rows, [[3, 3, 0.5, 0.85, 0.55, 0.84, 0.98, 0.83, 0.0002]]);
    assert.equal(first.data.header, null); // the header was sent with the first read, not again
    assert.equal(first.data.rowsFrom, 2); // after the fixture's two rows

    // Half a line waits for its end.
    appendFileSync(join(dir, "results.csv"), "4,4,0.4,0.9");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(events.filter(appended).length, 0);
    appendFileSync(join(dir, "results.csv"), ",0.5,0.86,0.99,0.85,0.0001\n");
    assert.deepEqual((await next(appended, "append")).data.rows, [[4, 4, 0.4, 0.9, 0.5, 0.86, 0.99, 0.85, 0.0001]]);

    // Per-step losses from the TensorBoard event file kiln's own writer makes.
    const writer = new EventFileWriter(dir);
    const losses = [2.5, 2.25, 1.875];
    losses.forEach((v, i) => writer.write(scalarsEvent(1000 + i, i + 1, { "train/batch_loss": v, "train/other": 9 })));
    writer.flush();
    const steps = await next((e) => e.event === "append" && (e.data.steps as unknown[]).length > 0, "steps");
    assert.deepEqual([steps.data.steps, steps.data.stepsFrom], [[[1, 2.5], [2, 2.25], [3, 1.875]], 0]);
    writer.write(scalarsEvent(1003, 4, { "train/batch_loss": 1.5 }));
    writer.close();
    const more = await next((e) => e.event === "append" && (e.data.steps as unknown[]).length > 0, "steps");
    assert.deepEqual([more.data.steps, more.data.stepsFrom], [[[4, 1.5]], 3]);

    // The run ends: run.json replaced; the list hears the new status, the run page what changed.
    const record = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "run.json.tmp"), JSON.stringify({ ...record, status: "finished", ended_at: new Date().toISOString() }));
    const { renameSync } = await import("node:fs");
    renameSync(join(dir, "run.json.tmp"), join(dir, "run.json"));
    const listed = await next((e) => e.event === "run" && e.data.status === "finished", "run");
    assert.equal(listed.data.id, "classify/b");
    assert.ok(((await next((e) => e.event === "changed" && (e.data.changed as string[]).includes("record"), "changed")).data.changed as string[]).includes("record"));

    // A new run appears in the list while the stream is open.
    writeFixtureRun(logdir, { task: "classify", name: "d", status: "running", pid: process.pid, bestEpoch: 1, rows: [] });
    assert.equal((await next((e) => e.event === "run" && e.data.id === "classify/d", "new run")).data.status, "running");
    res?.destroy();
    assert.equal(CLASSIFY_HEADER.length, 9);
  });
});
