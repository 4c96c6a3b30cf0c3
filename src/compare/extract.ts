// Metric values out of a parsed metrics file, as a pure function. Accepts the
// metrics.json a training run writes (the best epoch's values, from its
// history) and the report `kiln val --json` prints (top-level values).
import { KilnError } from "../errors.js";
import type { Task } from "./metric-specs.js";

export type MetricValues = Record<string, number>;

export interface MetricSnapshot {
  task: Task;
  values: MetricValues;
  /** The 1-based epoch the values come from, when the file says. */
  epoch: number | null;
  /** best: the epoch of weights/best; final: the last epoch; report: a `kiln val` report. */
  kind: "best" | "final" | "report";
}

export type EpochPick = "best" | "final";

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const finite = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

// Detection files name their metrics in several dialects (kiln's, Ultralytics' results columns).
const DETECT_ALIASES: Record<string, string[]> = {
  mAP50_95: ["mAP50_95", "map50_95", "mAP50-95", "metrics/mAP50-95(B)"],
  mAP50: ["mAP50", "map50", "metrics/mAP50(B)"],
  precision: ["precision", "metrics/precision(B)"],
  recall: ["recall", "metrics/recall(B)"],
  loss: ["loss"],
};

/** A detection run's val loss in its history: the three components (results.csv's val/*_loss), summed. */
function detectHistoryLoss(values: Json): number | undefined {
  const parts = ["val/box_loss", "val/cls_loss", "val/dfl_loss"].map((k) => finite(values[k]));
  return parts.every((v) => v !== undefined) ? parts.reduce((a, b) => a! + b!, 0) : undefined;
}

// history records of kiln train (src/train/trainer.ts EpochRecord: `values` by results.csv column) → metric keys.
const HISTORY_FIELDS: Record<string, string> = { accuracy: "val/acc", top5: "val/top5", macroF1: "val/f1", loss: "val/loss" };

function pickValues(source: Json, fields: Record<string, string[]>): MetricValues {
  const values: MetricValues = {};
  for (const [key, names] of Object.entries(fields)) {
    for (const name of names) {
      const v = finite(source[name]);
      if (v !== undefined) {
        values[key] = v;
        break;
      }
    }
  }
  return values;
}

function taskOf(json: Json, file: string): Task {
  if (json.task !== undefined) {
    if (json.task === "classify" || json.task === "detect") return json.task;
    throw new KilnError(`${file}: unknown task ${JSON.stringify(json.task)}. Allowed: classify or detect.`, 2);
  }
  const val = isObject(json.val) ? json.val : {};
  const hasDetect = DETECT_ALIASES.mAP50_95.some((k) => k in val || k in json);
  return hasDetect ? "detect" : "classify";
}

function classifySnapshot(json: Json, file: string, pick: EpochPick): MetricSnapshot {
  const history = Array.isArray(json.history) ? json.history.filter(isObject) : [];
  const bestEpoch = finite(json.best_epoch);
  const record = pick === "best" ? history.find((h) => bestEpoch !== undefined && h.epoch === bestEpoch - 1) : history.at(-1);
  if (record) {
    const fields = Object.fromEntries(Object.entries(HISTORY_FIELDS).map(([k, f]) => [k, [f]]));
    const epoch = finite(record.epoch);
    return { task: "classify", values: pickValues(isObject(record.values) ? record.values : record, fields), epoch: epoch === undefined ? null : epoch + 1, kind: pick };
  }
  // No history: the top-level val block (last epoch) or a `kiln val` report.
  const source = isObject(json.val) ? json.val : json;
  const values = pickValues(source, { accuracy: ["accuracy"], top5: ["top5"], macroF1: ["macroF1"], loss: ["loss"] });
  if (values.accuracy === undefined) {
    throw new KilnError(`${file} has no val accuracy. Fix: give a run directory or the metrics.json kiln train writes, or the output of 'kiln val --json'.`, 2);
  }
  return { task: "classify", values, epoch: finite(json.epoch) ?? null, kind: isObject(json.val) ? "final" : "report" };
}

function detectSnapshot(json: Json, file: string, pick: EpochPick): MetricSnapshot {
  // A run's metrics.json: the chosen epoch's values from its history (results.csv's column names).
  const history = Array.isArray(json.history) ? json.history.filter(isObject) : [];
  const bestEpoch = finite(json.best_epoch);
  const record = pick === "best" ? history.find((h) => bestEpoch !== undefined && h.epoch === bestEpoch - 1) : history.at(-1);
  if (record && isObject(record.values)) {
    const values = pickValues(record.values, DETECT_ALIASES);
    const loss = detectHistoryLoss(record.values);
    if (loss !== undefined) values.loss = loss;
    const epoch = finite(record.epoch);
    if (values.mAP50_95 !== undefined) return { task: "detect", values, epoch: epoch === undefined ? null : epoch + 1, kind: pick };
  }
  const source = isObject(json.val) ? { ...json, ...json.val } : json;
  const values = pickValues(source, DETECT_ALIASES);
  if (values.mAP50_95 === undefined) {
    throw new KilnError(`${file} has no mAP50-95. Fix: give the metrics.json of a detection run or the output of 'kiln val --json'.`, 2);
  }
  return { task: "detect", values, epoch: finite(json.epoch) ?? null, kind: isObject(json.val) ? "final" : "report" };
}

/** The metrics in a parsed metrics file; `file` names it in errors (exit code 2). */
export function snapshotFromJson(json: unknown, file: string, pick: EpochPick = "best"): MetricSnapshot {
  if (!isObject(json)) throw new KilnError(`${file} is not a metrics object (it holds ${Array.isArray(json) ? "an array" : typeof json}). Fix: give the metrics.json of a run.`, 2);
  return taskOf(json, file) === "detect" ? detectSnapshot(json, file, pick) : classifySnapshot(json, file, pick);
}
