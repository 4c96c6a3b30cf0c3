// Reads what a run directory holds without ever throwing for a bad file: a
// missing file is null, an unreadable one is null plus a problem naming it, so
// one broken run cannot hide the others from `kiln runs`.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { RunRecord, RunStatus } from "./liveness.js";

export interface FileProblem { file: string; message: string }

export interface RunFiles {
  dir: string;
  name: string;
  /** args.yaml: the frozen config. */
  config: Record<string, unknown> | null;
  /** run.json: status, times, pid, heartbeat. */
  record: RunRecord | null;
  /** metrics.json: the latest epoch's metrics and the history. */
  metrics: Record<string, unknown> | null;
  /** results.csv: a row per epoch. */
  results: { header: string[]; rows: number[][] } | null;
  problems: FileProblem[];
}

const STATUSES: readonly RunStatus[] = ["running", "finished", "interrupted", "failed", "queued"];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function readText(path: string, problems: FileProblem[]): string | null {
  if (!existsSync(path)) return null;
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    problems.push({ file: path, message: (err as Error).message });
    return null;
  }
}

export function readObject(path: string, problems: FileProblem[], parse: (text: string) => unknown): Record<string, unknown> | null {
  const text = readText(path, problems);
  if (text === null) return null;
  try {
    const value = parse(text);
    if (isObject(value)) return value;
    problems.push({ file: path, message: "not an object of key: value pairs" });
  } catch (err) {
    problems.push({ file: path, message: (err as Error).message.split("\n")[0] });
  }
  return null;
}

export function readRecord(path: string, problems: FileProblem[]): RunRecord | null {
  const value = readObject(path, problems, JSON.parse);
  if (value === null) return null;
  if (!STATUSES.includes(value.status as RunStatus)) {
    problems.push({ file: path, message: `status is ${JSON.stringify(value.status)}, expected one of ${STATUSES.join(", ")}` });
    return null;
  }
  return value as unknown as RunRecord;
}

/** results.csv as numbers (kiln writes plain numeric cells); null when absent or not numeric. */
function readResults(path: string, problems: FileProblem[]): RunFiles["results"] {
  const text = readText(path, problems);
  if (text === null) return null;
  const [head, ...lines] = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (!head) return null;
  const header = head.split(",").map((h) => h.trim());
  const rows = lines.map((l) => l.split(",").map(Number));
  if (rows.some((r) => r.length !== header.length || r.some((v) => Number.isNaN(v)))) {
    problems.push({ file: path, message: "a row does not match the header or holds a non-number" });
    return null;
  }
  return { header, rows };
}

export function readRunFiles(dir: string): RunFiles {
  const problems: FileProblem[] = [];
  return {
    dir,
    name: basename(dir),
    config: readObject(join(dir, "args.yaml"), problems, (t) => parseYaml(t)),
    record: readRecord(join(dir, "run.json"), problems),
    metrics: readObject(join(dir, "metrics.json"), problems, JSON.parse),
    results: readResults(join(dir, "results.csv"), problems),
    problems,
  };
}
