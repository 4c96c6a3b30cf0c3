// Ultralytics' TaskAlignedAssigner for one image, over typed arrays: which
// anchors learn which object, and with what target score. Not differentiated
// (PyTorch runs it under no_grad). The steps, as utils/tal.py:
//  1. candidates of an object: anchors whose centre lies strictly inside its box (margin 1e-9);
//  2. align metric = score(object's class)^alpha × max(CIoU(object, predicted box), 0)^beta
//     on candidates, 0 elsewhere;
//  3. top-k anchors per object by that metric over all anchors; the candidates among them are
//     its positives. torch.topk's order among equal metrics is unspecified; here the lowest
//     anchor index wins. Only objects with fewer than k positive metrics reach the ties (at 0),
//     and an anchor they add gets a target score of 0 — unless another object claims it too,
//     when step 4 may hand it to a third one: there Ultralytics itself varies with torch.topk;
//  4. an anchor positive for several objects goes to the object it overlaps most, over all
//     objects (first on ties);
//  5. target score = metric × (object's best overlap over its positives) / (its best metric + eps).
import type { Anchors } from "./anchors.js";
import { ciou } from "./boxes.js";

export interface AssignerOptions {
  topk: number;
  alpha: number;
  beta: number;
  eps: number;
}

/** What the loss passes in as the current predictions of one image (detached). */
export interface AnchorPredictions {
  /** The predicted box of an anchor, xyxy in input pixels, written into out[0..4). */
  box(anchor: number, out: Float64Array): void;
  /** The predicted probability (sigmoid) of class `cls` at an anchor. */
  score(anchor: number, cls: number): number;
}

/** One image's objects: `n` boxes xyxy in input pixels. */
export interface ImageObjects {
  n: number;
  boxes: Float64Array;
  cls: Int32Array;
}

/** The assignment of one image's anchors (views into the batch's arrays). */
export interface Assignment {
  /** 1 where the anchor is foreground. */
  fg: Uint8Array;
  /** The object an anchor learns (0 for background, as Ultralytics' argmax over zeros). */
  gtIndex: Int32Array;
  /** Its target score for the object's class (the one non-zero entry of target_scores' row); 0 for background. */
  score: Float64Array;
}

// Scratch reused across calls (the assigner runs once per image per step).
let scratchSize = 0;
let claims = new Int32Array(0);
let claimGt = new Int32Array(0);
let skip = new Uint8Array(0);
let candIndex = new Int32Array(0);
let candMetric = new Float64Array(0);
let metricOf = new Float64Array(0);
let topScratch = new Int32Array(0);

function reserve(anchors: number): void {
  if (scratchSize >= anchors) return;
  scratchSize = anchors;
  claims = new Int32Array(anchors);
  claimGt = new Int32Array(anchors);
  skip = new Uint8Array(anchors);
  candIndex = new Int32Array(anchors);
  candMetric = new Float64Array(anchors);
  metricOf = new Float64Array(anchors);
}

const MARGIN = 1e-9;

/** Is anchor a's centre strictly inside object g's box (select_candidates_in_gts)? */
function inside(anchors: Anchors, a: number, gt: ImageObjects, g: number): boolean {
  const s = anchors.strides[a];
  const x = anchors.points[2 * a] * s, y = anchors.points[2 * a + 1] * s;
  const o = 4 * g;
  return Math.min(x - gt.boxes[o], y - gt.boxes[o + 1], gt.boxes[o + 2] - x, gt.boxes[o + 3] - y) > MARGIN;
}

/** An object counts when its xyxy coordinates sum above 0 (Ultralytics' mask_gt). */
function validObject(gt: ImageObjects, g: number): boolean {
  const o = 4 * g;
  return gt.boxes[o] + gt.boxes[o + 1] + gt.boxes[o + 2] + gt.boxes[o + 3] > 0;
}

/** Work state for one image. */
class ImageAssigner {
  private readonly box = new Float64Array(4);

  constructor(
    private readonly anchors: Anchors,
    private readonly pred: AnchorPredictions,
    private readonly gt: ImageObjects,
    private readonly o: AssignerOptions,
  ) {}

  /** max(CIoU(object g, predicted box of a), 0) if a is a candidate of g, else 0 (get_box_metrics' overlaps). */
  overlap(g: number, a: number): number {
    if (!validObject(this.gt, g) || !inside(this.anchors, a, this.gt, g)) return 0;
    this.pred.box(a, this.box);
    const v = ciou(this.gt.boxes, 4 * g, this.box, 0);
    return v > 0 ? v : 0;
  }

  /** The align metric of (g, a) from its overlap (0 off the candidates, where the overlap is 0 too). */
  metric(g: number, a: number, overlap: number): number {
    if (overlap === 0) return 0; // score^alpha × 0
    const s = this.pred.score(a, this.gt.cls[g]);
    // torch's pow(x, 0.5) is sqrt
    const sa = this.o.alpha === 0.5 ? Math.sqrt(s) : Math.pow(s, this.o.alpha);
    return sa * Math.pow(overlap, this.o.beta);
  }

  /** Candidates of g in anchor order, with their metrics, into candIndex/candMetric; returns the count. */
  candidates(g: number): number {
    const { anchors, gt } = this;
    const o = 4 * g;
    let n = 0;
    for (const l of anchors.levels) {
      // A loose index range around the box; `inside` decides exactly.
      const s = l.stride;
      const x0 = Math.max(0, Math.floor(gt.boxes[o] / s - 0.5));
      const x1 = Math.min(l.w - 1, Math.ceil(gt.boxes[o + 2] / s - 0.5));
      const y0 = Math.max(0, Math.floor(gt.boxes[o + 1] / s - 0.5));
      const y1 = Math.min(l.h - 1, Math.ceil(gt.boxes[o + 3] / s - 0.5));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const a = l.start + y * l.w + x;
          if (!inside(anchors, a, gt, g)) continue;
          this.pred.box(a, this.box);
          const v = ciou(gt.boxes, o, this.box, 0);
          candIndex[n] = a;
          candMetric[n] = this.metric(g, a, v > 0 ? v : 0);
          n++;
        }
      }
    }
    return n;
  }

  /** Adds g's positives (step 3) to the claims. */
  claimTopk(g: number): void {
    const n = this.candidates(g);
    const k = this.o.topk;
    // The k largest positive metrics, sorted, ties to the lower anchor index (candidates come in index order).
    const top = topScratch.length >= k ? topScratch : (topScratch = new Int32Array(k));
    let len = 0;
    for (let c = 0; c < n; c++) {
      const m = candMetric[c];
      if (!(m > 0) || (len === k && !(m > candMetric[top[k - 1]]))) continue;
      let p = len < k ? len++ : k - 1; // when full, the last one drops out
      for (; p > 0 && candMetric[top[p - 1]] < m; p--) top[p] = top[p - 1];
      top[p] = c;
    }
    for (let t = 0; t < len; t++) this.claim(g, candIndex[top[t]]);
    // Fewer than k: the rest of torch's top-k are metric-0 anchors, lowest index first; the candidates among them count.
    let rest = k - len;
    if (rest === 0) return;
    for (let t = 0; t < len; t++) skip[candIndex[top[t]]] = 1;
    for (let a = 0; a < this.anchors.count && rest > 0; a++) {
      if (skip[a]) continue;
      rest--;
      if (inside(this.anchors, a, this.gt, g)) this.claim(g, a);
    }
    for (let t = 0; t < len; t++) skip[candIndex[top[t]]] = 0;
  }

  claim(g: number, a: number): void {
    if (claims[a]++ === 0) claimGt[a] = g;
  }

  /** Step 4: the object an anchor claimed by several keeps. */
  resolve(a: number): number {
    if (claims[a] === 1) return claimGt[a];
    let best = 0, bestOverlap = -1;
    for (let g = 0; g < this.gt.n; g++) {
      const v = this.overlap(g, a);
      if (v > bestOverlap) {
        bestOverlap = v;
        best = g;
      }
    }
    return best;
  }
}

/**
 * Assigns one image's anchors; `out` receives the foreground mask, the
 * object index and the target score per anchor (every entry written).
 */
export function assignImage(anchors: Anchors, pred: AnchorPredictions, gt: ImageObjects, options: AssignerOptions, out: Assignment): void {
  const A = anchors.count;
  out.fg.fill(0, 0, A);
  out.gtIndex.fill(0, 0, A);
  out.score.fill(0, 0, A);
  if (gt.n === 0) return;
  reserve(A);
  const work = new ImageAssigner(anchors, pred, gt, options);
  for (let g = 0; g < gt.n; g++) if (validObject(gt, g)) work.claimTopk(g);

  // Resolve claims; per object, its best metric and best overlap over its final positives.
  const bestMetric = new Float64Array(gt.n);
  const bestOverlap = new Float64Array(gt.n);
  for (let a = 0; a < A; a++) {
    if (claims[a] === 0) continue;
    const g = work.resolve(a);
    claims[a] = 0;
    const ov = work.overlap(g, a);
    const m = work.metric(g, a, ov);
    out.fg[a] = 1;
    out.gtIndex[a] = g;
    metricOf[a] = m;
    if (m > bestMetric[g]) bestMetric[g] = m;
    if (ov > bestOverlap[g]) bestOverlap[g] = ov;
  }
  for (let a = 0; a < A; a++) {
    if (!out.fg[a]) continue;
    const g = out.gtIndex[a];
    out.score[a] = (metricOf[a] * bestOverlap[g]) / (bestMetric[g] + options.eps);
  }
}
