// Reads the metrics of a run directory or of a metrics file; every problem is
// a KilnError with exit code 2 (bad input), naming the path and the fix.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../errors.js";
import { snapshotFromJson, type EpochPick, type MetricSnapshot } from "./extract.js";

export interface LoadedMetrics extends MetricSnapshot {
  /** What was given: a run directory or a file. */
  source: string;
  /** The metrics file read. */
  file: string;
}

/** The metrics file of `path`: path/metrics.json for a directory, else path itself. */
export function metricsFileOf(path: string): string {
  if (!existsSync(path)) throw new KilnError(`${path} does not exist. Fix: give a run directory (runs/classify/train3) or a metrics.json file.`, 2);
  if (!statSync(path).isDirectory()) return path;
  const file = join(path, "metrics.json");
  if (!existsSync(file)) {
    throw new KilnError(`${path} has no metrics.json (the run has not finished an epoch yet, or it is not a kiln run directory). Fix: give a run that completed at least one epoch.`, 2);
  }
  return file;
}

export function loadMetrics(path: string, pick: EpochPick = "best"): LoadedMetrics {
  const file = metricsFileOf(path);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new KilnError(`${file} is not valid JSON (${why}). Fix: rerun the training or validation that writes it, or give another run.`, 2);
  }
  return { ...snapshotFromJson(json, file, pick), source: path, file };
}
