// `kiln compare CURRENT [BASELINE]` and `kiln compare --set-baseline RUN`.
import { existsSync } from "node:fs";
import { compareMetrics, DEFAULT_THRESHOLD_POINTS, type Comparison } from "../../compare/compare.js";
import { formatComparison } from "../../compare/format.js";
import { loadMetrics } from "../../compare/load.js";
import { metricSpecs } from "../../compare/metric-specs.js";
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { resolveRun } from "../../runs/discover.js";
import { useColor } from "../../runs/table.js";
import { fromStored, PipelineStateError, readPipelineState, recordStage, setBaseline, STATE_FILE, statePath } from "../../state/pipeline-state.js";

export const COMPARE_HELP = `kiln compare — compare a run's metrics with a baseline's

Usage: kiln compare CURRENT [BASELINE] [--threshold POINTS] [--final] [--json]
       kiln compare --set-baseline RUN

CURRENT and BASELINE are run directories (runs/classify/train3), run names
found under runs/ (train3), or metrics files (a run's metrics.json, or what
'kiln val --json' prints). With CURRENT alone, the baseline is the one
recorded in ${STATE_FILE} by --set-baseline.

A run is compared at its best epoch (the weights in best.safetensors). Metrics:
classify: val accuracy (the verdict's), top-5, macro F1, val loss;
detect: mAP50-95 (the verdict's), mAP50, precision, recall, val loss.

  --threshold P       points (1 point = 0.01) the verdict's metric must move (default ${DEFAULT_THRESHOLD_POINTS}):
                      degraded when it drops by more, improved when it rises by more, else unchanged
  --final             compare the last epochs instead of the best
  --json              print the comparison as JSON
  --set-baseline RUN  record RUN as the baseline in ${STATE_FILE} (it must have metrics)

Exit codes: 0 improved or unchanged, 1 degraded, 2 bad input (a missing run, no
or malformed metrics.json, metrics of different tasks).

Examples:
  kiln compare runs/classify/train3 runs/classify/train2
  kiln compare train3 train2 --threshold 0.5 --json
  kiln compare --set-baseline runs/classify/train2
  kiln compare runs/classify/train3      # against the recorded baseline`;

const OPTIONS = ["threshold", "final", "json", "set_baseline", "help"];

function thresholdOf(v: string | true | undefined): number {
  if (v === undefined) return DEFAULT_THRESHOLD_POINTS;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new KilnError(`invalid value for 'threshold': ${String(v)}. Allowed: a number of points ≥ 0 (1 point = 0.01), e.g. --threshold 0.5.`, 2);
  }
  return n;
}

/** A run given by path or by name; a name that is not a path is looked up under runs/. */
const locate = (ref: string): string => (existsSync(ref) ? ref : resolveRun(ref));

function setBaselineCommand(run: string, json: boolean): number {
  const baseline = setBaseline(".", locate(run));
  const m = loadMetrics(fromStored(".", baseline.metrics));
  if (json) console.log(JSON.stringify(baseline, null, 2));
  else {
    const values = metricSpecs(m.task).filter((s) => m.values[s.key] !== undefined).map((s) => `${s.label} ${m.values[s.key].toFixed(4)}`);
    console.log(`baseline set in ${STATE_FILE}: ${baseline.run} (${m.kind}${m.epoch === null ? "" : ` epoch ${m.epoch}`}: ${values.join(", ")})`);
  }
  return 0;
}

/** Keeps the verdict in the pipeline state when the folder has one (compare alone never creates it). */
function recordVerdict(c: Comparison, current: string, baseline: string): void {
  if (!existsSync(statePath("."))) return;
  try {
    const change = c.metrics.find((m) => m.key === c.primary)?.change ?? null;
    recordStage(".", "compare", { run: current, baseline, verdict: c.verdict, primary: c.primary, change });
  } catch (err) {
    if (!(err instanceof PipelineStateError)) throw err;
    console.error(`warning: the verdict was not recorded: ${err.message}`);
  }
}

/** argv: the words after `kiln compare`. Exit code: 0 not degraded, 1 degraded, 2 bad input. */
export async function compareCommand(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, (k) => k === "threshold" || k === "set_baseline");
  if (options.has("help")) {
    console.log(COMPARE_HELP);
    return 0;
  }
  for (const key of options.keys()) {
    if (!OPTIONS.includes(key)) throw new KilnError(`unknown option '${key}' for kiln compare. Run 'kiln compare --help'.`, 2);
  }
  const json = options.has("json");
  const setTo = options.get("set_baseline");
  if (setTo !== undefined) {
    const run = typeof setTo === "string" ? setTo : positionals[0];
    if (run === undefined || positionals.length > (typeof setTo === "string" ? 0 : 1)) {
      throw new KilnError("--set-baseline takes exactly one RUN (a run directory, a run name or a metrics.json). Example: kiln compare --set-baseline runs/classify/train2", 2);
    }
    return setBaselineCommand(run, json);
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new KilnError(`kiln compare takes CURRENT [BASELINE], got ${positionals.length} paths. Run 'kiln compare --help'.`, 2);
  }
  const pick = options.has("final") ? "final" : "best";
  const current = locate(positionals[0]);
  let baseline: string;
  if (positionals.length === 2) baseline = locate(positionals[1]);
  else {
    const recorded = readPipelineState(".").baseline;
    if (!recorded) throw new KilnError(`no baseline is recorded in ${STATE_FILE}. Fix: kiln compare --set-baseline RUN, or give it: kiln compare ${positionals[0]} BASELINE.`, 2);
    baseline = fromStored(".", recorded.run);
  }
  const comparison = compareMetrics(loadMetrics(current, pick), loadMetrics(baseline, pick), { thresholdPoints: thresholdOf(options.get("threshold")) });
  console.log(json ? JSON.stringify(comparison, null, 2) : formatComparison(comparison, useColor()));
  recordVerdict(comparison, current, baseline);
  return comparison.verdict === "degraded" ? 1 : 0;
}
