// `kiln val`: a checkpoint's metrics on a split of a dataset, with the
// checkpoint's own image size, channels, normalisation and class list.
import { KilnError } from "../errors.js";
import { loadClassificationDataset } from "../data/load.js";
import { DataLoader } from "../data/loader.js";
import type { SplitName } from "../data/types.js";
import { modelFromCheckpoint } from "./checkpoint.js";
import { loadAnyCheckpoint } from "../models/weights-checkpoint.js";
import type { ClassificationMetrics } from "./metrics.js";
import { evaluateClassifier } from "./classify-task.js";
import { validateDetector, type DetectValResult } from "./detect-validate.js";

export interface ValOptions {
  /** A kiln checkpoint (weights/best.safetensors). */
  model: string;
  /** The dataset (default: the one the checkpoint was trained on). */
  data?: string;
  split?: "val" | "test";
  batch?: number;
}

export interface ValResult extends ClassificationMetrics {
  task: "classify";
  model: string;
  data: string;
  split: SplitName;
}

export async function validateCheckpoint(options: ValOptions): Promise<ValResult | DetectValResult> {
  const ckpt = loadAnyCheckpoint(options.model);
  if (ckpt.model.task === "detect") return validateDetector(ckpt, options);
  const config = ckpt.training.config as { data?: string; seed?: number; val_ratio?: number; batch?: number };
  const data = options.data ?? config.data ?? "synthetic";
  const split = options.split ?? "val";
  // The checkpoint's seed and ratio give the same val split the training run held out.
  const ds = await loadClassificationDataset(data, { seed: config.seed ?? 0, valRatio: config.val_ratio ?? 0.2, fraction: 1 });
  const samples = ds.splits[split];
  if (!samples || samples.length === 0) {
    throw new KilnError(`the dataset ${data} has no ${split} split${split === "test" ? " (a test/ folder)" : ""}. Fix: use --split val${split === "test" ? "" : " with a dataset that has val images"}.`);
  }
  const classes = ckpt.model.classes;
  if (ds.classes.length !== classes.length || ds.classes.some((c, i) => c !== classes[i])) {
    throw new KilnError(`the dataset ${data} has classes [${ds.classes.join(", ")}], the model ${options.model} was trained on [${classes.join(", ")}]. Fix: evaluate on data with the same classes.`);
  }
  // Fused for inference (BN folded, activation in the conv kernel, weights packed once), as Ultralytics' val/predict do.
  const model = modelFromCheckpoint(ckpt, options.model).fuse();
  const loader = new DataLoader(samples, {
    batch: options.batch ?? config.batch ?? 32, imgsz: ckpt.model.imgsz, channels: ckpt.model.channels, shuffle: false, seed: 0, dropLast: false,
    augment: null, normalize: ckpt.model.normalize, cache: false, prefetch: 2,
  });
  const metrics = await evaluateClassifier(model, loader, classes, ckpt.model.imgsz);
  return { task: "classify", ...metrics, model: options.model, data, split };
}
