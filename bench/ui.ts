// `npm run bench -- ui`: the dashboard's run list with 1,000 runs. Writes a
// log folder of --runs run directories (args.yaml, run.json, results.csv and
// metrics.json of --epochs epochs each; a tenth are detection runs, a few are
// running), starts `kiln ui` on it as a user would (its own process), and times
// GET /api/runs end to end over loopback: the first request (every run read
// from disk) and then --requests more (runs kept in memory, files checked by
// size and time). Prints one JSON line.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { intFlag, round } from "./stats.js";

const CLASSIFY = ["epoch", "time", "train/loss", "train/acc", "val/loss", "val/acc", "val/top5", "val/f1", "lr/pg0", "lr/pg1", "lr/pg2"];
const DETECT = ["epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"];

function writeRuns(logdir: string, runs: number, epochs: number): void {
  const started = Date.parse("2026-01-01T00:00:00Z");
  for (let k = 0; k < runs; k++) {
    const detect = k % 10 === 9;
    const header = detect ? DETECT : CLASSIFY;
    const dir = join(logdir, detect ? "detect" : "classify", `train${k + 1}`);
    mkdirSync(join(dir, "weights"), { recursive: true });
    const rows = Array.from({ length: epochs }, (_, e) => header.map((h, i) => (i === 0 ? e + 1 : i === 1 ? (e + 1) * 12.5 : h.startsWith("lr/") ? 0.001 : Number((((k * 7 + e * 13 + i) % 97) / 97).toFixed(6)))));
    writeFileSync(join(dir, "results.csv"), `${header.join(",")}\n${rows.map((r) => r.join(",")).join("\n")}\n`);
    writeFileSync(join(dir, "args.yaml"), `task: ${detect ? "detect" : "classify"}\nmodel: ${detect ? "yolov8n" : "resnet18"}\ndata: ./datasets/set${k % 7}\nepochs: ${epochs}\nbatch: 32\nimgsz: 224\nlr0: 0.001\nseed: ${k}\n`);
    const running = k % 100 === 0;
    const t0 = started + k * 3_600_000;
    writeFileSync(join(dir, "run.json"), JSON.stringify({ status: running ? "running" : "finished", pid: 2 ** 22 + k, started_at: new Date(t0).toISOString(), ended_at: running ? null : new Date(t0 + epochs * 12_500).toISOString(), heartbeat_at: new Date(t0 + epochs * 12_500).toISOString() }));
    const history = rows.map((r) => ({ epoch: r[0] - 1, time: r[1], values: Object.fromEntries(header.slice(2).map((h, i) => [h, r[i + 2]])) }));
    const last = history[history.length - 1].values;
    writeFileSync(join(dir, "metrics.json"), JSON.stringify(detect
      ? { task: "detect", epoch: epochs, best_epoch: epochs, values: last, "mAP50-95": last["metrics/mAP50-95(B)"], mAP50: last["metrics/mAP50(B)"], history }
      : { task: "classify", epoch: epochs, best_epoch: epochs, values: last, val: { accuracy: last["val/acc"], top5: last["val/top5"], macroF1: last["val/f1"], loss: last["val/loss"] }, history }));
  }
}

function get(port: number, path: string): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        done({ status: res.statusCode ?? 0, bytes: body.length, body: body.toString("utf8") });
      });
    });
    req.on("error", fail);
    req.end();
  });
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: "string" }, epochs: { type: "string" }, requests: { type: "string" } }, strict: true });
  const runs = intFlag("--runs", values.runs, 1000);
  const epochs = intFlag("--epochs", values.epochs, 50);
  const requests = intFlag("--requests", values.requests, 10);
  const root = mkdtempSync(join(tmpdir(), "kiln-bench-ui-"));
  const logdir = join(root, "runs");
  process.stderr.write(`[ui] writing ${runs} runs of ${epochs} epochs to ${logdir}\n`);
  writeRuns(logdir, runs, epochs);
  const child = spawn(process.execPath, [resolve("bin/kiln.js"), "ui", "--logdir", logdir, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<number>((done, fail) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
        if (m) done(Number(m[1]));
      });
      child.on("exit", (code) => fail(new Error(`kiln ui exited (${code}) before serving: ${out}`)));
    });
    const time = async (): Promise<{ ms: number; bytes: number; listed: number }> => {
      const t = performance.now();
      const res = await get(port, "/api/runs");
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`GET /api/runs: ${res.status}`);
      return { ms, bytes: res.bytes, listed: (JSON.parse(res.body) as { runs: unknown[] }).runs.length };
    };
    const first = await time();
    if (first.listed !== runs) throw new Error(`listed ${first.listed} runs, wrote ${runs}`);
    const warm: number[] = [];
    for (let i = 0; i < requests; i++) warm.push((await time()).ms);
    warm.sort((a, b) => a - b);
    console.log(JSON.stringify({
      bench: "ui", runs, epochs, requests,
      first_request_ms: round(first.ms, 1),
      warm_median_ms: round(warm[Math.floor(warm.length / 2)], 1),
      warm_min_ms: round(warm[0], 1),
      warm_max_ms: round(warm[warm.length - 1], 1),
      response_bytes: first.bytes,
      under_one_second: first.ms < 1000 && warm[warm.length - 1] < 1000,
    }));
  } finally {
    child.kill("SIGTERM");
    rmSync(root, { recursive: true, force: true });
  }
}
