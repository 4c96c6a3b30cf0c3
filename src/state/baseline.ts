// The end of a training run, against the recorded baseline: the comparison
// the trainer prints (and a script may act on), or null without a baseline.
import { resolve } from "node:path";
import { compareMetrics, type CompareOptions, type Comparison } from "../compare/compare.js";
import { loadMetrics } from "../compare/load.js";
import { fromStored, readPipelineState } from "./pipeline-state.js";

/**
 * Compares `runDir` (its best epoch) with the baseline in cwd's kiln.state.yaml.
 * null when no baseline is recorded or the baseline is this very run.
 * Throws KilnError when either side's metrics cannot be read.
 */
export function baselineVerdictAfterTraining(cwd: string, runDir: string, options: CompareOptions = {}): Comparison | null {
  const baseline = readPipelineState(cwd).baseline;
  if (!baseline) return null;
  const basePath = fromStored(cwd, baseline.run);
  if (resolve(cwd, basePath) === resolve(cwd, runDir)) return null;
  return compareMetrics(loadMetrics(runDir), loadMetrics(fromStored(cwd, baseline.metrics)), options);
}
