// The detection task's evaluation contract: what the validator hands in (per
// image, boxes in pixels) and the metrics it gets back (results.csv columns,
// metrics.json, plots).

export type Xyxy = [number, number, number, number];

export interface DetImageEval {
  /** Ground truth, [x1, y1, x2, y2] in pixels; a crowd region is neither hit nor missed (COCO's iscrowd). */
  gt: { cls: number; box: Xyxy; crowd?: boolean }[];
  /** Detections after NMS, [x1, y1, x2, y2] in pixels. */
  dt: { cls: number; box: Xyxy; score: number }[];
  width: number;
  height: number;
}

export interface DetClassMetrics {
  name: string;
  /** Images with at least one (non-crowd) object of the class. */
  images: number;
  /** Non-crowd objects of the class. */
  instances: number;
  /** At the confidence of the highest mean F1. NaN for a class with no instances (nothing to measure). */
  precision: number;
  recall: number;
  /** COCO AP at IoU .50 and .50:.95 (area all, 100 detections); NaN with no instances. */
  ap50: number;
  ap50_95: number;
}

export interface DetectionMetrics {
  /** Means over the classes with instances, at the confidence of the highest (smoothed) mean F1, as Ultralytics reports. */
  precision: number;
  recall: number;
  /** COCO's AP50 and AP (stats[1], stats[0]); 0 when there are no instances at all. */
  mAP50: number;
  mAP50_95: number;
  /** 0.1 * mAP50 + 0.9 * mAP50_95 (Ultralytics' fitness). */
  fitness: number;
  /** One entry per class, in class order. */
  perClass: DetClassMetrics[];
  /** Against confidence (1000 points over 0..1), per class (rows NaN for a class with no instances). */
  curves: { confidence: Float64Array; precision: number[][]; recall: number[][]; f1: number[][] };
  /** COCO's precision at IoU .50 at the 101 recall thresholds, per class (NaN with no instances). */
  prCurve: { recall: Float64Array; precision: number[][] };
  /**
   * Ultralytics' detection confusion matrix at conf > 0.25 and IoU > 0.45:
   * confusion[predicted][true], (nc + 1) x (nc + 1), background last (row nc:
   * missed objects; column nc: detections of nothing).
   */
  confusion: number[][];
}
