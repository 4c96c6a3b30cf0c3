// `kiln val` with a detector checkpoint: the split of the dataset it was
// trained on (or another with the same classes), letterboxed as in training's
// validation, the val losses, NMS and the COCO-exact metrics; the plots and
// metrics.json of the evaluation go to runs/detect/val (val2, …) with --save.
import { loadDetectionDataset } from "../data/detect/load.js";
import { DetectionLoader } from "../data/detect/loader.js";
import type { SplitName } from "../data/types.js";
import { KilnError } from "../errors.js";
import type { DetectionMetrics } from "../metrics/detection/index.js";
import { detectorFromCheckpoint, type Checkpoint } from "./checkpoint.js";
import { DetectTask } from "./detect-task.js";

export interface DetectValResult {
  task: "detect";
  model: string;
  data: string;
  split: SplitName;
  images: number;
  mAP50: number;
  mAP50_95: number;
  precision: number;
  recall: number;
  fitness: number;
  values: Record<string, number>;
  perClass: DetectionMetrics["perClass"];
}

export async function validateDetector(ckpt: Checkpoint, o: { model: string; data?: string; split?: "val" | "test"; batch?: number }): Promise<DetectValResult> {
  const config = ckpt.training.config as { data?: string; seed?: number; val_ratio?: number; batch?: number; conf?: number; iou?: number; max_det?: number; box?: number; cls?: number; dfl?: number };
  const data = o.data ?? config.data ?? "synthetic";
  const split = o.split ?? "val";
  const ds = await loadDetectionDataset(data, { seed: config.seed ?? 0, valRatio: config.val_ratio ?? 0.2, fraction: 1 });
  const samples = ds.splits[split];
  if (!samples || samples.length === 0) throw new KilnError(`the dataset ${data} has no ${split} split. Fix: use --split val, or a dataset with ${split} images.`);
  const classes = ckpt.model.classes;
  if (ds.classes.length !== classes.length || ds.classes.some((c, i) => c !== classes[i])) {
    throw new KilnError(`the dataset ${data} has classes [${ds.classes.join(", ")}], the model ${o.model} was trained on [${classes.join(", ")}]. Fix: evaluate on data with the same classes.`);
  }
  // Fused for inference (BN folded, activation in the conv kernel, weights packed once), as Ultralytics' val/predict do.
  const model = detectorFromCheckpoint(ckpt, o.model).fuse();
  const loader = new DetectionLoader(samples, { batch: o.batch ?? config.batch ?? 16, imgsz: ckpt.model.imgsz, shuffle: false, seed: 0, dropLast: false, augment: null });
  const task = new DetectTask({
    classes, imgsz: ckpt.model.imgsz, gains: { box: config.box ?? 7.5, cls: config.cls ?? 0.5, dfl: config.dfl ?? 1.5 },
    nms: { conf: config.conf ?? 0.001, iou: config.iou ?? 0.7, maxDet: config.max_det ?? 300 }, val: loader,
  });
  const e = await task.evaluate(model);
  const m = e.detail.metrics;
  return {
    task: "detect", model: o.model, data, split, images: samples.length, mAP50: m.mAP50, mAP50_95: m.mAP50_95, precision: m.precision,
    recall: m.recall, fitness: m.fitness, values: e.values, perClass: m.perClass,
  };
}
