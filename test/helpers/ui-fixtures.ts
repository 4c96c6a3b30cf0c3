// Hand-written run directories for the dashboard's tests, and raw HTTP
// requests (fetch and http.get normalise `..` away; a probe must not).
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";

export interface FixtureRun {
  task: "classify" | "detect";
  name: string;
  status: "running" | "finished" | "interrupted" | "failed";
  /** results.csv rows (without the header); metrics.json's history follows them. */
  rows: number[][];
  bestEpoch: number;
  model?: string;
  pid?: number;
  startedAt?: string;
  endedAt?: string | null;
}

export const CLASSIFY_HEADER = ["epoch", "time", "train/loss", "train/acc", "val/loss", "val/acc", "val/top5", "val/f1", "lr/pg0"];
export const DETECT_HEADER = ["epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0"];

/** Writes a run directory the way kiln train lays it out; returns its path. */
export function writeFixtureRun(logdir: string, run: FixtureRun): string {
  const dir = join(logdir, run.task, run.name);
  mkdirSync(join(dir, "weights"), { recursive: true });
  const header = run.task === "detect" ? DETECT_HEADER : CLASSIFY_HEADER;
  writeFileSync(join(dir, "args.yaml"), stringify({ task: run.task, model: run.model ?? (run.task === "detect" ? "yolov8n" : "cnn"), data: "synthetic", epochs: 5, imgsz: 64 }));
  const started = run.startedAt ?? "2026-01-02T03:04:05.000Z";
  writeFileSync(join(dir, "run.json"), JSON.stringify({
    status: run.status, pid: run.pid ?? 999_999_999, started_at: started,
    ended_at: run.status === "running" ? null : (run.endedAt ?? "2026-01-02T03:05:05.000Z"),
    heartbeat_at: run.status === "running" ? new Date().toISOString() : (run.endedAt ?? "2026-01-02T03:05:05.000Z"),
  }));
  writeFileSync(join(dir, "results.csv"), `${header.join(",")}\n${run.rows.map((r) => r.join(",")).join("\n")}${run.rows.length ? "\n" : ""}`);
  const history = run.rows.map((r) => ({ epoch: r[0] - 1, time: r[1], values: Object.fromEntries(header.slice(2).map((h, i) => [h, r[i + 2]])) }));
  const last = history.at(-1);
  if (last) {
    const v = last.values;
    writeFileSync(join(dir, "metrics.json"), JSON.stringify(run.task === "detect"
      ? { task: "detect", epoch: run.rows.length, best_epoch: run.bestEpoch, values: v, "mAP50-95": v["metrics/mAP50-95(B)"], mAP50: v["metrics/mAP50(B)"], precision: v["metrics/precision(B)"], recall: v["metrics/recall(B)"], per_class: [{ name: "circle", images: 3, instances: 4, precision: 0.5, recall: 0.25, ap50: 0.4, ap50_95: 0.2 }], history }
      : { task: "classify", epoch: run.rows.length, best_epoch: run.bestEpoch, values: v, val: { accuracy: v["val/acc"], top5: v["val/top5"], macroF1: v["val/f1"], loss: v["val/loss"] }, history }));
  }
  return dir;
}

export interface RawResponse { status: number; headers: Record<string, string>; body: string }

/** One HTTP/1.1 request written byte for byte (the path is sent exactly as given). */
export function rawRequest(port: number, path: string, options: { host?: string | null; method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const host = options.host === undefined ? `127.0.0.1:${port}` : options.host;
    const lines = [`${options.method ?? "GET"} ${path} HTTP/1.1`, ...(host === null ? [] : [`Host: ${host}`]), "Connection: close",
      ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`), "", ""];
    socket.on("connect", () => socket.write(lines.join("\r\n")));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      const [statusLine, ...headerLines] = text.slice(0, split).split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of headerLines) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: text.slice(split + 4) });
    });
  });
}
