// COCOeval(iouType='bbox') with default parameters, end to end: validate,
// index by (category, image), match per image, accumulate, summarize.
import { accumulate, type Accumulated } from "./accumulate.js";
import { evaluateImages, type ImageEval } from "./evaluate-img.js";
import { A, M, R, T } from "./params.js";
import { prepare, type Prepared } from "./prepare.js";
import { ALL_THRESHOLDS, categoryAp, summarizeStats, THRESHOLD_50 } from "./summarize.js";
import type { CocoEvalResult, CocoGroundTruth, CocoResult } from "./types.js";
import { validateGroundTruth, validateResults } from "./validate.js";

export interface CocoEvalOptions {
  /** Names of the inputs in error messages (file paths when read from files). */
  gtSource?: string;
  dtSource?: string;
}

/** Every stage's output, for callers that need more than the summary (per-detection matches). */
export interface CocoEvalState extends Accumulated {
  prepared: Prepared;
  images: ImageEval;
}

/** Runs the evaluation and keeps the intermediate arrays. */
export function runCocoEval(gt: CocoGroundTruth, dt: readonly CocoResult[], options: CocoEvalOptions = {}): CocoEvalState {
  const gtSource = options.gtSource ?? "the ground truth";
  validateGroundTruth(gt, gtSource);
  validateResults(dt, options.dtSource ?? "the detections", gt, gtSource);
  const prepared = prepare(gt, dt);
  const images = evaluateImages(prepared);
  return { prepared, images, ...accumulate(prepared, images) };
}

/** The result pycocotools' COCOeval gives for these inputs: stats, per-category AP, eval['precision'], eval['recall']. */
export function cocoEvaluate(gt: CocoGroundTruth, dt: readonly CocoResult[], options: CocoEvalOptions = {}): CocoEvalResult {
  return resultOf(runCocoEval(gt, dt, options));
}

/** The summary of a finished evaluation. */
export function resultOf(s: CocoEvalState): CocoEvalResult {
  const { K, categoryIds, categoryNames } = s.prepared;
  const perCategoryAp: Record<string, number> = {};
  const perCategoryAp50: Record<string, number> = {};
  categoryIds.forEach((id, k) => {
    perCategoryAp[String(id)] = categoryAp(s.precision, K, k, ALL_THRESHOLDS);
    perCategoryAp50[String(id)] = categoryAp(s.precision, K, k, THRESHOLD_50);
  });
  return {
    stats: summarizeStats(s.precision, s.recall, K),
    perCategoryAp,
    perCategoryAp50,
    precision: s.precision,
    precisionShape: [T, R, K, A, M],
    recall: s.recall,
    categories: categoryIds.map((id, k) => ({ id, name: categoryNames[k] })),
    droppedDetections: s.prepared.dropped,
  };
}
