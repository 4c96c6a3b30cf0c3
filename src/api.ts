// kiln's library API: train, val and predict with typed options and results.
// The CLI is a thin layer over these.
import { resolveTrainConfig, type TrainOptions } from "./config/index.js";
import { runTraining, type RunHooks, type TrainResult } from "./train/run.js";
import { validateCheckpoint, type ValOptions, type ValResult } from "./train/validate.js";
import type { DetectValResult } from "./train/detect-validate.js";
import { predictImages, type PredictOptions, type PredictResult } from "./train/predict.js";

export type { TrainOptions, TrainConfig } from "./config/index.js";
export type { TrainResult, RunHooks } from "./train/run.js";
export type { ValOptions, ValResult } from "./train/validate.js";
export type { DetectValResult } from "./train/detect-validate.js";
export type { PredictOptions, PredictResult, Prediction } from "./train/predict.js";

/** Trains a classifier; options not given take the schema's defaults (see `kiln train --help`). */
export async function train(options: TrainOptions = {}, hooks: RunHooks = {}): Promise<TrainResult> {
  return runTraining(resolveTrainConfig({ overrides: options }), { explicit: Object.keys(options), ...hooks });
}

/** Evaluates a checkpoint on a dataset split: accuracy, top-5, loss, per-class P/R/F1, macro F1, worst classes. */
export async function val(options: ValOptions): Promise<ValResult | DetectValResult> {
  return validateCheckpoint(options);
}

/** Top-k labels with probabilities for an image file or every image in a folder. */
export async function predict(options: PredictOptions): Promise<PredictResult> {
  return predictImages(options);
}
