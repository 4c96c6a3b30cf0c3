// COCO bbox evaluation that reproduces pycocotools' COCOeval exactly (default
// parameters), on typed arrays: `kiln eval` and the detection metrics use it.
export { cocoEvaluate, resultOf, runCocoEval, type CocoEvalOptions, type CocoEvalState } from "./evaluate.js";
export { readCocoFiles, readJsonFile } from "./load.js";
export { validateGroundTruth, validateResults } from "./validate.js";
export { FP, IGNORED, TP } from "./evaluate-img.js";
export { rankByScore } from "./accumulate.js";
export { A, AREA_LABELS, M, R, T, AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS, linspace } from "./params.js";
export { pyFixed, summaryLine, summaryLines } from "./summarize.js";
export type { Prepared } from "./prepare.js";
export type { CocoAnnotation, CocoCategory, CocoEvalResult, CocoGroundTruth, CocoImage, CocoResult, CocoStats } from "./types.js";
