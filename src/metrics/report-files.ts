// Per-run report files, shaped like scikit-learn's output so a user's Python
// scripts read them unchanged: classification_report.json as
// classification_report(output_dict=True), confusion_matrix.json with the raw
// counts and the row-normalised matrix. Written atomically: the dashboard and
// `kiln runs` may read them while training rewrites them every epoch.
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomic.js";
import { normalizeRows, type AverageMetrics, type ClassificationReport } from "./classification.js";

/** sklearn's per-row dictionary (its key "f1-score", not "f1"). */
export interface SklearnRow {
  precision: number;
  recall: number;
  "f1-score": number;
  support: number;
}

const row = (m: AverageMetrics): SklearnRow => ({
  precision: m.precision,
  recall: m.recall,
  "f1-score": m.f1,
  support: m.support,
});

/**
 * classification_report(output_dict=True)'s dictionary: one key per class
 * name, then "accuracy", "macro avg", "weighted avg". sklearn writes "micro
 * avg" instead of "accuracy" when a label appears in neither targets nor
 * predictions; for single-label data the two hold the same number, so kiln
 * always writes "accuracy". As in sklearn, a class named like a summary key
 * is overwritten by it.
 */
export function sklearnReportDict(report: ClassificationReport): Record<string, SklearnRow | number> {
  const out: Record<string, SklearnRow | number> = {};
  for (const m of report.perClass) out[m.name] = row(m);
  out["accuracy"] = report.accuracy;
  out["macro avg"] = row(report.macro);
  out["weighted avg"] = row(report.weighted);
  return out;
}

/** What confusion_matrix.json holds. */
export interface ConfusionFile {
  classes: string[];
  /** matrix[true][pred], counts. */
  matrix: number[][];
  /** Each row divided by its sum (0 for a class with no samples). */
  normalized: number[][];
}

/** Writes classification_report.json and confusion_matrix.json into runDir. */
export function writeClassificationReport(runDir: string, report: ClassificationReport): void {
  writeFileAtomicSync(
    join(runDir, "classification_report.json"),
    `${JSON.stringify(sklearnReportDict(report), null, 2)}\n`,
  );
  const confusion: ConfusionFile = {
    classes: report.classes,
    matrix: report.confusion,
    normalized: normalizeRows(report.confusion),
  };
  writeFileAtomicSync(join(runDir, "confusion_matrix.json"), `${JSON.stringify(confusion)}\n`);
}
