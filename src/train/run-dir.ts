// The run directory, the source of truth of a run: runs/classify/<name>/ with
// args.yaml, train.log, results.csv, metrics.json, weights/, and run.json
// (status, times, pid, version, heartbeat).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { writeFileAtomicSync } from "../io/atomic.js";
import { KilnError } from "../errors.js";
import { KILN_VERSION } from "./version.js";
import { carriedLaunchFields, type LaunchFields } from "../cluster/launch-record.js";

/** "queued": written by `kiln train --slurm` before the job starts; the training process then says "running". */
export type RunStatus = "queued" | "running" | "finished" | "interrupted" | "failed";

/** Picks and creates the run directory: `name`, or train, train2, train3, … (`base` instead of train). */
export function createRunDir(project: string, name: string | undefined, existOk: boolean, base = "train"): string {
  if (name !== undefined) {
    const dir = join(project, name);
    if (existsSync(dir) && !existOk && readdirSync(dir).length > 0) {
      throw new KilnError(`the run directory ${dir} already exists. Fix: pick another name=, add exist_ok=true to reuse it, or resume it with 'kiln train --resume ${dir}'.`);
    }
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  for (let i = 1; ; i++) {
    const dir = join(project, i === 1 ? base : `${base}${i}`);
    if (existsSync(dir)) continue;
    mkdirSync(dir, { recursive: true });
    return dir;
  }
}

/** The newest run directory under any of `projects` that has weights/last.safetensors. */
export function latestRun(...projects: string[]): string | undefined {
  const runs = projects.filter((p) => existsSync(p)).flatMap((project) => readdirSync(project).map((n) => join(project, n)))
    .filter((d) => existsSync(join(d, "weights", "last.safetensors")))
    .map((d) => ({ d, t: statSync(join(d, "weights", "last.safetensors")).mtimeMs }));
  runs.sort((a, b) => b.t - a.t);
  return runs[0]?.d;
}

interface RunRecord extends LaunchFields {
  status: RunStatus; pid: number; kiln_version: string; started_at: string; ended_at: string | null;
  heartbeat_at: string; message?: string; resumed_at?: string[];
}

const HEARTBEAT_MS = 30_000;

/** run.json: written atomically at each change, with a heartbeat while the run lives. */
export class RunRecordFile {
  private record: RunRecord;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly dir: string, resumed: boolean) {
    const path = join(dir, "run.json");
    const now = new Date().toISOString();
    const previous = resumed && existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as RunRecord) : null;
    // Written by `kiln train --detach` / `--slurm` before this process started: kept.
    const launch = carriedLaunchFields(path);
    this.record = previous
      ? { ...previous, ...launch, status: "running", pid: process.pid, ended_at: null, heartbeat_at: now, resumed_at: [...(previous.resumed_at ?? []), now] }
      : { status: "running", pid: process.pid, kiln_version: KILN_VERSION, started_at: now, ended_at: null, heartbeat_at: now, ...launch };
    delete this.record.message;
    this.write();
    this.timer = setInterval(() => this.write(), HEARTBEAT_MS);
    this.timer.unref();
  }

  end(status: Exclude<RunStatus, "running">, message?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.record = { ...this.record, status, ended_at: new Date().toISOString(), ...(message ? { message } : {}) };
    this.write();
  }

  private write(): void {
    this.record.heartbeat_at = new Date().toISOString();
    writeFileAtomicSync(join(this.dir, "run.json"), `${JSON.stringify(this.record, null, 2)}\n`);
  }
}

export function writeArgsYaml(dir: string, config: Record<string, unknown>): void {
  writeFileAtomicSync(join(dir, "args.yaml"), stringify(config));
}

/** results.csv: Ultralytics' column names, one row per epoch. */
export function appendResultsRow(dir: string, row: Record<string, number>): void {
  const path = join(dir, "results.csv");
  if (!existsSync(path)) appendFileSync(path, `${Object.keys(row).join(",")}\n`);
  appendFileSync(path, `${Object.values(row).map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(6))).join(",")}\n`);
}
