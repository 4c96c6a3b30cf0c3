// Non-maximum suppression as Ultralytics' non_max_suppression in its
// single-label mode, and scale_boxes to map boxes back through the
// letterbox. Per image: best class per anchor, confidence filter (> conf),
// sort by score, keep the maxNms best, class-aware by offsetting each box by
// cls × 7680 (max_wh) so boxes of different classes never overlap, greedy
// suppression of IoU > iou (torchvision's nms), then the first maxDet.
import { boxIou } from "./boxes.js";

export interface Detection {
  /** x1, y1, x2, y2 in the pixels of the image the boxes refer to. */
  box: [number, number, number, number];
  score: number;
  cls: number;
}

export interface NmsOptions {
  /** Classes per row (the rows are [x1, y1, x2, y2, p_0 … p_{nc-1}]); decodeDetections' rows carry it. */
  nc?: number;
  /** Confidence threshold: keep scores above it. Default 0.25. */
  conf?: number;
  /** IoU threshold: suppress overlaps above it. Default 0.7. */
  iou?: number;
  /** Detections kept per image. Default 300. */
  maxDet?: number;
  /** Suppress only within a class (default) or across classes (agnostic). */
  classAware?: boolean;
  /** Boxes passed to suppression at most, best first. Default 30000. */
  maxNms?: number;
}

/** Ultralytics' max_wh: the class offset that keeps classes apart. */
const MAX_WH = 7680;

/** One image's detections from its decoded rows (decodeDetections' output for that image). */
export function nms(pred: Float32Array & { readonly nc?: number }, options: NmsOptions = {}): Detection[] {
  const nc = options.nc ?? pred.nc;
  if (nc === undefined || !(nc >= 1)) throw new Error("kiln: nms: the number of classes is unknown: pass options.nc, or rows from decodeDetections");
  const conf = options.conf ?? 0.25, iou = options.iou ?? 0.7, maxDet = options.maxDet ?? 300;
  const classAware = options.classAware ?? true, maxNms = options.maxNms ?? 30000;
  const width = 4 + nc;
  if (pred.length % width !== 0) throw new Error(`kiln: nms: ${pred.length} values are not rows of 4 + ${nc}`);
  const rows = pred.length / width;

  // Best class per anchor, confidence filter.
  const kept: number[] = [];
  const score = new Float32Array(rows);
  const cls = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * width + 4;
    let best = 0;
    for (let c = 1; c < nc; c++) if (pred[o + c] > pred[o + best]) best = c;
    score[r] = pred[o + best];
    cls[r] = best;
    if (score[r] > conf) kept.push(r);
  }
  // By score, best first (ties: lower anchor first); at most maxNms.
  kept.sort((a, b) => score[b] - score[a] || a - b);
  if (kept.length > maxNms) kept.length = maxNms;

  // Greedy suppression on class-offset boxes.
  const n = kept.length;
  const boxes = new Float64Array(4 * n);
  kept.forEach((r, i) => {
    const off = classAware ? cls[r] * MAX_WH : 0;
    for (let k = 0; k < 4; k++) boxes[4 * i + k] = pred[r * width + k] + off;
  });
  const suppressed = new Uint8Array(n);
  const out: Detection[] = [];
  for (let i = 0; i < n && out.length < maxDet; i++) {
    if (suppressed[i]) continue;
    const r = kept[i];
    const o = r * width;
    out.push({ box: [pred[o], pred[o + 1], pred[o + 2], pred[o + 3]], score: score[r], cls: cls[r] });
    for (let j = i + 1; j < n; j++) if (!suppressed[j] && boxIou(boxes, 4 * i, boxes, 4 * j) > iou) suppressed[j] = 1;
  }
  return out;
}

/** How an image was letterboxed into the network input: input = original × scale + pad. */
export interface Letterbox {
  scale: number;
  padX: number;
  padY: number;
}

/**
 * Maps detections from input pixels back to the original image of size
 * width × height (scale_boxes: remove the padding, divide by the scale,
 * clip to the image). Returns new detections.
 */
export function scaleBoxes(dets: readonly Detection[], letterbox: Letterbox, width: number, height: number): Detection[] {
  const { scale, padX, padY } = letterbox;
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  return dets.map((d) => ({
    ...d,
    box: [
      clip((d.box[0] - padX) / scale, width),
      clip((d.box[1] - padY) / scale, height),
      clip((d.box[2] - padX) / scale, width),
      clip((d.box[3] - padY) / scale, height),
    ],
  }));
}
