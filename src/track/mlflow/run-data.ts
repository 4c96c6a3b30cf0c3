// What the live tracker and the later sync both send, built the same way so
// that a sync after a live run finds nothing twice.
import { userInfo } from "node:os";
import { basename, isAbsolute, relative, resolve } from "node:path";
import { paramText, sanitizeKey, tagText } from "./names.js";
import type { RunLinkFile } from "./run-link.js";
import { chunkBatch, type Batch, type KeyValue, type MlflowStore, type RunRef } from "./store.js";

export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? "unknown"; // no passwd entry (some containers)
  }
}

/** Params as MLflow keeps them: sanitized keys (first one wins on a clash), text values. */
export function paramsOf(params: Record<string, unknown>): KeyValue[] {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(params)) {
    const k = sanitizeKey(key);
    if (!out.has(k)) out.set(k, paramText(value));
  }
  return [...out].map(([key, value]) => ({ key, value }));
}

/** The tags MLflow's own client sets on a new run, plus where the kiln run lives. */
export function runTags(runName: string, runDir: string, task: string | undefined): KeyValue[] {
  const tags: Record<string, string> = {
    "mlflow.runName": runName,
    "mlflow.user": currentUser(),
    "mlflow.source.name": process.argv[1] ?? "kiln",
    "mlflow.source.type": "LOCAL",
    "kiln.run_dir": resolve(runDir),
  };
  if (task) tags["kiln.task"] = task;
  return Object.entries(tags).map(([key, value]) => ({ key, value: tagText(value) }));
}

/** Where a file goes under the run's artifacts: `<artifactDir>/<file name>`. */
export function artifactPathFor(path: string, artifactDir?: string): string {
  const dir = (artifactDir ?? "").split(/[\\/]+/).filter((p) => p !== "" && p !== "." && p !== "..").join("/");
  return dir === "" ? basename(path) : `${dir}/${basename(path)}`;
}

/** The path mlflow.json keeps: relative to the run directory when inside it, so the folder can move. */
export function linkPathOf(runDir: string, path: string): string {
  const rel = relative(resolve(runDir), resolve(path));
  return rel.startsWith("..") || isAbsolute(rel) ? resolve(path) : rel.split("\\").join("/");
}

/** Sends a batch in log-batch-sized requests, recording each one that arrived. */
export async function sendBatch(store: MlflowStore, link: RunLinkFile, ref: RunRef, batch: Batch): Promise<void> {
  for (const chunk of chunkBatch(batch)) {
    await store.logBatch(ref, chunk);
    link.recordBatch(store.uri, chunk);
  }
}
