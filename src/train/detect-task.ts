// The detection task: YOLOv8's loss (task-aligned assignment, CIoU, DFL,
// BCE) while training; on the val split the val losses, then NMS and the
// COCO-exact metrics (precision, recall, mAP50, mAP50-95, per class).
// Fitness: 0.1·mAP50 + 0.9·mAP50-95, as Ultralytics.
import { noGrad, tensor, tidy, type Tensor } from "../engine/index.js";
import type { DetBatch } from "../data/detect/types.js";
import type { DetLoaderBatch } from "../data/detect/loader.js";
import { evaluateDetections, type DetImageEval, type DetectionMetrics } from "../metrics/detection/index.js";
import { decodeDetections } from "../models/yolo/decode.js";
import { detectionLoss } from "../models/yolo/loss.js";
import { nms, scaleBoxes } from "../models/yolo/nms.js";
import type { YOLOv8 } from "../models/index.js";
import type { AnyModule } from "../nn/index.js";
import { writeDetectionPlots } from "../plots/detection.js";
import { writeResultsPlot, type PanelSpec } from "../plots/index.js";
import { snapshotBatch, writeBatchImages, type BatchImages } from "../plots/boxes.js";
import { epochMeans, type EpochStats, type Evaluation, type StepResult, type TrainTask } from "./task.js";

export interface DetectTaskOptions {
  classes: string[];
  imgsz: number;
  gains: { box: number; cls: number; dfl: number };
  /** NMS of validation: conf (0.001), iou (0.7), max_det (300). */
  nms: { conf: number; iou: number; maxDet: number };
  val: { length: number; epoch(epoch: number, start?: number): AsyncIterableIterator<DetBatch> };
  /** ranks > 1: sums a number over the ranks (the loss's normaliser is the global batch's). */
  sumOverRanks?: (value: number) => number;
  /** ranks > 1: the val loader yields this rank's part of each batch; the images' detections are gathered. */
  gatherRanks?: <T>(value: T) => T[];
}

/** What validation measured: the metrics, and the first batch drawn with labels and predictions. */
export interface DetectEvaluation { metrics: DetectionMetrics; first: BatchImages | null }

const LOSS_ITEMS = ["box_loss", "cls_loss", "dfl_loss"] as const;

/** results.png for detection: Ultralytics' panels (losses, P/R, mAPs) and the learning rates. */
export const DETECT_PANELS: PanelSpec[] = [
  { title: "Box loss", yLabel: "loss", keys: ["train/box_loss", "val/box_loss"] },
  { title: "Class loss", yLabel: "loss", keys: ["train/cls_loss", "val/cls_loss"] },
  { title: "DFL loss", yLabel: "loss", keys: ["train/dfl_loss", "val/dfl_loss"] },
  { title: "Precision and recall", yLabel: "value", keys: ["metrics/precision(B)", "metrics/recall(B)"] },
  { title: "mAP", yLabel: "mAP", keys: ["metrics/mAP50(B)", "metrics/mAP50-95(B)"] },
  { title: "Learning rate", yLabel: "learning rate", keys: /^lr\// },
];

export class DetectTask implements TrainTask<DetBatch, DetectEvaluation> {
  readonly kind = "detect";
  readonly fitnessName = "fitness (0.1·mAP50 + 0.9·mAP50-95)";

  constructor(private readonly o: DetectTaskOptions) {}

  private forward(model: AnyModule, b: DetBatch): Tensor[] {
    return (model as YOLOv8).forward(tensor(b.images, [b.size, 3, b.imgsz, b.imgsz]));
  }

  private modelLoss(maps: Tensor[], b: DetBatch, model: AnyModule, shard?: { globalBatch: number; sumOverRanks: (value: number) => number }): ReturnType<typeof detectionLoss> {
    const head = (model as YOLOv8).detect;
    return detectionLoss(maps, b, { nc: this.o.classes.length, strides: head.strides, regMax: head.regMax, gains: this.o.gains, shard });
  }

  inspect(model: AnyModule, b: DetBatch): { input: number[]; output: string } {
    const nc = this.o.classes.length;
    const shapes = noGrad(() => tidy(() => {
      const wasTraining = model.training;
      model.eval();
      const maps = this.forward(model, b);
      model.train(wasTraining);
      return maps.map((m) => [...m.shape]);
    }));
    const strides = (model as YOLOv8).detect.strides;
    shapes.forEach((s, i) => {
      const side = b.imgsz / strides[i];
      if (s.length !== 4 || s[0] !== b.size || s[1] !== 64 + nc || s[2] !== side || s[3] !== side) {
        throw new Error(`kiln: detection map ${i} is [${s.join(", ")}], expected [${b.size}, ${64 + nc}, ${side}, ${side}]`);
      }
    });
    return { input: [b.size, 3, b.imgsz, b.imgsz], output: `${shapes.length} maps ${shapes.map((s) => `[${s.join(", ")}]`).join(" ")}` };
  }

  step(model: AnyModule, b: DetBatch & { globalSize?: number }): StepResult {
    // ranks > 1: this rank's slice, its loss normalised over the global batch (a collective in the loss).
    const sum = this.o.sumOverRanks;
    const shard = sum && b.globalSize !== undefined ? { globalBatch: b.globalSize, sumOverRanks: sum } : undefined;
    const { loss, items } = this.modelLoss(this.forward(model, b), b, model, shard);
    const value = loss.item();
    return { loss, value, items: Number.isFinite(value) ? { box_loss: items.box, cls_loss: items.cls, dfl_loss: items.dfl } : {}, ...(shard ? { globalShare: true } : {}) };
  }

  trainValues(stats: EpochStats): Record<string, number> {
    const m = epochMeans(stats);
    return Object.fromEntries(LOSS_ITEMS.map((k) => [`train/${k}`, m[k] ?? NaN]));
  }

  async evaluate(model: AnyModule, limit = Infinity): Promise<Evaluation<DetectEvaluation>> {
    const wasTraining = model.training;
    model.eval();
    // Per batch, the images this process evaluated (ranks > 1: its part of the batch), in batch order.
    const perBatch: DetImageEval[][] = [];
    const sums: Record<string, number> = { box_loss: 0, cls_loss: 0, dfl_loss: 0 };
    let seen = 0;
    let first: BatchImages | null = null;
    for await (const b of this.o.val.epoch(0) as AsyncIterableIterator<DetBatch & { globalSize?: number }>) {
      const sum = this.o.sumOverRanks;
      const shard = sum && b.globalSize !== undefined ? { globalBatch: b.globalSize, sumOverRanks: sum } : undefined;
      const images: DetImageEval[] = [];
      if (b.size === 0) {
        shard?.sumOverRanks(0); // an empty part of a small last batch: still one of the loss's all-reduces
      } else {
        noGrad(() => tidy(() => {
          const maps = this.forward(model, b);
          // ranks > 1: the items are this rank's share of the whole batch's means (normalised over it).
          const { items } = this.modelLoss(maps, b, model, shard);
          const weight = shard ? shard.globalBatch : b.size;
          sums.box_loss += items.box * weight;
          sums.cls_loss += items.cls * weight;
          sums.dfl_loss += items.dfl * weight;
          const decoded = decodeDetections(maps, (model as YOLOv8).detect.strides, this.o.classes.length, b.imgsz);
          for (let i = 0; i < b.size; i++) {
            const shape = b.shapes[i];
            const dets = nms(decoded[i], { conf: this.o.nms.conf, iou: this.o.nms.iou, maxDet: this.o.nms.maxDet });
            const scaled = scaleBoxes(dets, shape, shape.width, shape.height);
            images.push({ width: shape.width, height: shape.height, gt: groundTruth(b, i), dt: scaled.map((d) => ({ cls: d.cls, box: d.box, score: d.score })) });
          }
          first ??= snapshotBatch(b, images.map((im) => im.dt));
        }));
      }
      perBatch.push(images);
      seen += b.size;
      if (perBatch.length >= limit) break;
    }
    model.train(wasTraining);
    const whole = this.o.gatherRanks ? gatherSplit(this.o.gatherRanks, perBatch, sums, seen) : { images: perBatch.flat(), sums, seen };
    const metrics = evaluateDetections(whole.images, this.o.classes);
    const values: Record<string, number> = {
      "metrics/precision(B)": metrics.precision, "metrics/recall(B)": metrics.recall,
      "metrics/mAP50(B)": metrics.mAP50, "metrics/mAP50-95(B)": metrics.mAP50_95,
    };
    for (const k of LOSS_ITEMS) values[`val/${k}`] = whole.seen ? whole.sums[k] / whole.seen : NaN;
    return { values, fitness: metrics.fitness, detail: { metrics, first } };
  }

  loss(values: Record<string, number>, split: "train" | "val"): number {
    return LOSS_ITEMS.reduce((s, k) => s + values[`${split}/${k}`], 0);
  }

  progress(stats: EpochStats): string {
    const m = epochMeans(stats);
    return `box ${(m.box_loss ?? NaN).toFixed(3)} cls ${(m.cls_loss ?? NaN).toFixed(3)} dfl ${(m.dfl_loss ?? NaN).toFixed(3)}`;
  }

  describe(v: Record<string, number>): string {
    return `train box ${v["train/box_loss"].toFixed(3)} cls ${v["train/cls_loss"].toFixed(3)} dfl ${v["train/dfl_loss"].toFixed(3)} | ` +
      `val P ${v["metrics/precision(B)"].toFixed(3)} R ${v["metrics/recall(B)"].toFixed(3)} mAP50 ${v["metrics/mAP50(B)"].toFixed(4)} mAP50-95 ${v["metrics/mAP50-95(B)"].toFixed(4)}`;
  }

  summarize(v: Record<string, number>): string {
    return `mAP50 ${v["metrics/mAP50(B)"].toFixed(4)}, mAP50-95 ${v["metrics/mAP50-95(B)"].toFixed(4)}, ` +
      `precision ${v["metrics/precision(B)"].toFixed(4)}, recall ${v["metrics/recall(B)"].toFixed(4)}`;
  }

  metricsJson(d: DetectEvaluation): Record<string, unknown> {
    const m = d.metrics;
    return {
      mAP50: m.mAP50, "mAP50-95": m.mAP50_95, precision: m.precision, recall: m.recall, per_class: m.perClass,
      val: { mAP50: m.mAP50, mAP50_95: m.mAP50_95, precision: m.precision, recall: m.recall, fitness: m.fitness },
    };
  }

  writeReports(): void {
    // metrics.json holds the detection report (per_class); the curves are plots.
  }

  async drawPlots(runDir: string, rows: readonly Record<string, number>[], d: DetectEvaluation): Promise<void> {
    await writeResultsPlot(runDir, rows, DETECT_PANELS);
    await writeDetectionPlots(runDir, d.metrics, this.o.classes);
    if (d.first) await writeBatchImages(runDir, "val_batch0", d.first, this.o.classes);
  }
}

/**
 * ranks > 1: the whole split from every rank's parts. Each rank sends its
 * images batch by batch; batch i's images are rank 0's part then rank 1's…,
 * which is the order one process evaluates them in, so the COCO evaluation
 * (its sort of detections by score included) sees exactly the same input.
 * Every rank gets the same result (the fitness decides best/early stopping).
 */
function gatherSplit(gather: <T>(value: T) => T[], perBatch: DetImageEval[][], sums: Record<string, number>, seen: number): { images: DetImageEval[]; sums: Record<string, number>; seen: number } {
  const parts = gather({ perBatch, sums, seen });
  const images: DetImageEval[] = [];
  for (let i = 0; i < perBatch.length; i++) for (const p of parts) images.push(...p.perBatch[i]);
  const total: Record<string, number> = { box_loss: 0, cls_loss: 0, dfl_loss: 0 };
  for (const p of parts) for (const k of LOSS_ITEMS) total[k] += p.sums[k];
  return { images, sums: total, seen: parts.reduce((n, p) => n + p.seen, 0) };
}

/** Image i's objects in its original pixels (xyxy), and the crowd regions COCO evaluation ignores detections on. */
function groundTruth(b: DetBatch & Partial<Pick<DetLoaderBatch, "crowd">>, i: number): DetImageEval["gt"] {
  const s = b.shapes[i];
  const gt: DetImageEval["gt"] = [];
  const add = (t: { batchIndex: Int32Array; cls: Int32Array; boxes: Float32Array }, crowd: boolean): void => {
    for (let k = 0; k < t.cls.length; k++) {
      if (t.batchIndex[k] !== i) continue;
      const [cx, cy, w, h] = [t.boxes[4 * k], t.boxes[4 * k + 1], t.boxes[4 * k + 2], t.boxes[4 * k + 3]].map((v) => v * b.imgsz);
      const back = (x: number, pad: number): number => (x - pad) / s.scale;
      gt.push({ cls: t.cls[k], box: [back(cx - w / 2, s.padX), back(cy - h / 2, s.padY), back(cx + w / 2, s.padX), back(cy + h / 2, s.padY)], ...(crowd ? { crowd } : {}) });
    }
  };
  add(b, false);
  if (b.crowd) add(b.crowd, true);
  return gt;
}
