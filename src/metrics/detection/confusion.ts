// Ultralytics' detection confusion matrix (ConfusionMatrix.process_batch):
// per image, detections above conf 0.25 are matched to GT of any class with
// IoU above 0.45, each detection and each GT at most once, highest IoU first.
// matrix[predicted][true]; the last row counts missed objects, the last
// column detections of nothing. Crowd regions are left out: they are not
// objects a detector should find or miss.
import type { DetImageEval, Xyxy } from "./types.js";

export const CONFUSION_CONF = 0.25;
export const CONFUSION_IOU = 0.45;

/** torchvision/Ultralytics box_iou with its eps. */
function iouXyxy(a: Xyxy, b: Xyxy): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (areaA + areaB - inter + 1e-7);
}

/** Adds one image to `matrix` ((nc + 1) x (nc + 1)). */
export function addToConfusion(matrix: number[][], image: DetImageEval, nc: number): void {
  const gt = image.gt.filter((g) => !g.crowd);
  const dt = image.dt.filter((d) => d.score > CONFUSION_CONF);
  // candidate pairs above the IoU threshold, best first; ties keep (gt, det) order
  const pairs: { g: number; d: number; iou: number }[] = [];
  for (let g = 0; g < gt.length; g++) {
    for (let d = 0; d < dt.length; d++) {
      const iou = iouXyxy(gt[g].box, dt[d].box);
      if (iou > CONFUSION_IOU) pairs.push({ g, d, iou });
    }
  }
  pairs.sort((a, b) => b.iou - a.iou);
  const gtMatch = new Int32Array(gt.length).fill(-1);
  const dtMatched = new Uint8Array(dt.length);
  // Ultralytics keeps the best pair per detection, then the best of those per GT
  const bestPerDet = new Map<number, (typeof pairs)[number]>();
  for (const p of pairs) if (!bestPerDet.has(p.d)) bestPerDet.set(p.d, p);
  const kept = [...bestPerDet.values()].sort((a, b) => b.iou - a.iou);
  for (const p of kept) {
    if (gtMatch[p.g] !== -1) continue;
    gtMatch[p.g] = p.d;
    dtMatched[p.d] = 1;
  }
  gt.forEach((g, i) => {
    if (gtMatch[i] === -1) matrix[nc][g.cls]++;
    else matrix[dt[gtMatch[i]].cls][g.cls]++;
  });
  dt.forEach((d, j) => {
    if (!dtMatched[j]) matrix[d.cls][nc]++;
  });
}

export function confusionMatrix(images: readonly DetImageEval[], nc: number): number[][] {
  const matrix = Array.from({ length: nc + 1 }, () => new Array<number>(nc + 1).fill(0));
  for (const im of images) addToConfusion(matrix, im, nc);
  return matrix;
}
