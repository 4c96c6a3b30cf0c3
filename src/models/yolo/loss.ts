// The YOLOv8 detection loss, Ultralytics' v8DetectionLoss, as one
// differentiable op over the raw head maps. The forward pass assigns targets
// (TaskAlignedAssigner, not differentiated, as under PyTorch's no_grad),
// computes the three losses and, in the same pass, their analytic gradient
// with respect to each map; backward scales that gradient by gradOut.
//
//   cls = Σ BCE-with-logits(class logits, target scores) / tss
//   box = Σ_fg (1 − CIoU(pred, target)) · w / tss          (grid units, w = the anchor's target score)
//   dfl = Σ_fg mean over sides of [CE(left bin)·wl + CE(right bin)·wr] · w / tss
//   loss = (7.5·box + 0.5·cls + 1.5·dfl) · batch size,  tss = max(Σ target scores, 1)
//
// The bulk passes go through the engine's kernels: BCE and sigmoid over every
// anchor × class logit, and the softmax of the box distributions the assigner
// ranks (float32). The losses and gradients of foreground anchors are float64
// TypeScript over typed arrays.
import { isGradEnabled, record } from "../../engine/autograd.js";
import { kernels } from "../../engine/backend.js";
import { fromData } from "../../engine/create.js";
import { Unary } from "../../engine/kernels.js";
import { empty, type Tensor } from "../../engine/tensor.js";
import { makeAnchors, type Anchors } from "./anchors.js";
import { assignImage, type AnchorPredictions, type AssignerOptions, type ImageObjects } from "./assigner.js";
import { ciouGrad } from "./boxes.js";
import { dflDecode, type MapLike } from "./decode.js";

/** The objects of a batch, as the detection loader yields them (Ultralytics' batch_idx, cls, bboxes). */
export interface DetectionTargets {
  size: number;
  /** The input size; the boxes are scaled by the maps' size (first map × first stride), as Ultralytics does. */
  imgsz: number;
  batchIndex: Int32Array;
  cls: Int32Array;
  /** 4 per object: cx, cy, w, h normalised to the input image. */
  boxes: Float32Array;
}

export interface LossGains {
  box: number;
  cls: number;
  dfl: number;
}

export interface DetectionLossOptions {
  nc: number;
  strides: readonly number[];
  /** DFL bins per box side. Default 16. */
  regMax?: number;
  /** Default Ultralytics' box 7.5, cls 0.5, dfl 1.5. */
  gains?: LossGains;
  /** Assigner's top-k. Default 10, as v8DetectionLoss. */
  topk?: number;
  /**
   * Reuse this assignment (from an earlier call on the same batch) instead of
   * assigning: the targets become constants of the maps, as the analytic
   * gradient treats them — what a finite-difference check needs.
   */
  frozenAssignment?: BatchAssignment;
  /**
   * Data-parallel training: these images are one rank's slice of a global batch
   * of `globalBatch`; `sumOverRanks` adds a number over the ranks (an
   * all-reduce every rank reaches). The loss is normalised as one process with
   * the whole batch would (global target-score sum and batch size), so the
   * ranks' losses, and their gradients, add up to that process's.
   */
  shard?: { globalBatch: number; sumOverRanks: (value: number) => number };
}

/** Per anchor of every image ([B·A], image-major): the assigner's answer. */
export interface BatchAssignment {
  fg: Uint8Array;
  gtIndex: Int32Array;
  /** Target score of the anchor's class (the row's only non-zero entry); 0 for background. */
  score: Float64Array;
  /** The class of the anchor's object (0 for background). */
  label: Int32Array;
  anchors: number;
}

export interface DetectionLossResult {
  /** The value backward differentiates: (box + cls + dfl) · batch size. */
  loss: number;
  /** Per-image-mean components after gains (Ultralytics' loss_items). */
  items: LossGains;
  assignment: BatchAssignment;
  targetScoresSum: number;
}

export const DEFAULT_GAINS: Readonly<LossGains> = { box: 7.5, cls: 0.5, dfl: 1.5 };

/** Objects of each image in batch order, boxes scaled to pixels and converted to xyxy (Ultralytics' preprocess). */
function groupObjects(t: DetectionTargets, batch: number, nc: number, imgW: number, imgH: number): ImageObjects[] {
  const n = t.batchIndex.length;
  if (t.cls.length !== n || t.boxes.length !== 4 * n) {
    throw new Error(`kiln: detectionLoss: ${n} batch indices, ${t.cls.length} classes and ${t.boxes.length / 4} boxes`);
  }
  const counts = new Int32Array(batch);
  for (let i = 0; i < n; i++) {
    const b = t.batchIndex[i], c = t.cls[i];
    if (!(b >= 0 && b < batch)) throw new Error(`kiln: detectionLoss: object ${i} belongs to image ${b}, the batch has ${batch}`);
    if (!(c >= 0 && c < nc)) throw new Error(`kiln: detectionLoss: object ${i} has class ${c}, the model has ${nc}`);
    counts[b]++;
  }
  const images = Array.from(counts, (k) => ({ n: 0, boxes: new Float64Array(4 * k), cls: new Int32Array(k) }));
  for (let i = 0; i < n; i++) {
    const img = images[t.batchIndex[i]];
    const o = 4 * img.n;
    const cx = t.boxes[4 * i] * imgW, cy = t.boxes[4 * i + 1] * imgH;
    const dw = (t.boxes[4 * i + 2] * imgW) / 2, dh = (t.boxes[4 * i + 3] * imgH) / 2;
    img.boxes[o] = cx - dw;
    img.boxes[o + 1] = cy - dh;
    img.boxes[o + 2] = cx + dw;
    img.boxes[o + 3] = cy + dh;
    img.cls[img.n++] = t.cls[i];
  }
  return images;
}

let predScratch = { boxes: new Float64Array(0), decoded: new Uint8Array(0), probs: new Float32Array(0) };

/**
 * The detached predictions of one image for the assigner. The box
 * distributions of the whole image go through the softmax kernel at once
 * (the assigner asks for most anchors when objects are large); each box is
 * then the expectation over the probabilities, taken when first asked for.
 */
class ImagePredictions implements AnchorPredictions {
  private image = 0;
  private readonly boxes: Float64Array;
  private readonly decoded: Uint8Array;
  /** Per level, the softmax of the image's box logits, [4, regMax, h·w]. */
  private readonly probs: Float32Array[];

  constructor(private readonly maps: readonly MapLike[], private readonly anchors: Anchors, private readonly regMax: number,
    private readonly no: number) {
    // Scratch kept between steps (half a megabyte of probabilities at 320 px: not garbage each step).
    const n = anchors.count;
    if (predScratch.decoded.length < n || predScratch.probs.length < 4 * regMax * n) {
      predScratch = { boxes: new Float64Array(4 * n), decoded: new Uint8Array(n), probs: new Float32Array(4 * regMax * n) };
    }
    this.boxes = predScratch.boxes;
    this.decoded = predScratch.decoded;
    this.probs = anchors.levels.map((l) => predScratch.probs.subarray(4 * regMax * l.start, 4 * regMax * (l.start + l.h * l.w)));
  }

  reset(image: number): void {
    this.image = image;
    this.decoded.fill(0, 0, this.anchors.count);
    this.anchors.levels.forEach((l, li) => {
      const hw = l.h * l.w;
      const from = image * this.no * hw;
      kernels().softmax(4, this.regMax, hw, this.maps[li].data.subarray(from, from + 4 * this.regMax * hw), this.probs[li], false);
    });
  }

  box(a: number, out: Float64Array): void {
    const o = 4 * a;
    if (!this.decoded[a]) {
      const li = this.anchors.level[a];
      const l = this.anchors.levels[li];
      const hw = l.h * l.w, p = this.probs[li], i = a - l.start, R = this.regMax;
      const ax = this.anchors.points[2 * a], ay = this.anchors.points[2 * a + 1], s = l.stride;
      for (let k = 0; k < 4; k++) {
        let d = 0; // expected distance of side k (l, t, r, b)
        for (let j = 1; j < R; j++) d += j * p[(k * R + j) * hw + i];
        const centre = k % 2 === 0 ? ax : ay;
        this.boxes[o + k] = (k < 2 ? centre - d : centre + d) * s;
      }
      this.decoded[a] = 1;
    }
    out[0] = this.boxes[o];
    out[1] = this.boxes[o + 1];
    out[2] = this.boxes[o + 2];
    out[3] = this.boxes[o + 3];
  }

  score(a: number, cls: number): number {
    const li = this.anchors.level[a];
    const l = this.anchors.levels[li];
    const hw = l.h * l.w;
    const x = this.maps[li].data[this.image * this.no * hw + (a - l.start) + (4 * this.regMax + cls) * hw];
    return 1 / (1 + Math.exp(-x));
  }
}

// Persistent scratch for the class-loss kernels: a zero target row block and a loss block.
let zeros = new Float32Array(0);
let perElement = new Float32Array(0);
const sumShape = new Int32Array(1);
const oneShape = Int32Array.of(1);
const total = new Float32Array(1);

function reserveScratch(n: number): void {
  if (zeros.length >= n) return;
  zeros = new Float32Array(n);
  perElement = new Float32Array(n);
}

/**
 * Σ BCE(x, 0) over a block of class logits (the native kernel, summed in
 * double), and — when `grad` is given — grad = sigmoid(x), the target part
 * being subtracted by the caller.
 */
function backgroundBce(x: Float32Array, grad: Float32Array | null): number {
  const k = kernels();
  const n = x.length;
  k.bceWithLogits(x, zeros.subarray(0, n), perElement.subarray(0, n));
  sumShape[0] = n;
  k.sumTo(perElement.subarray(0, n), sumShape, total, oneShape);
  if (grad) k.unary(Unary.sigmoid, x, grad, 0, 0);
  return total[0];
}

/** TaskAlignedAssigner(topk, alpha 0.5, beta 6, eps 1e-9), as v8DetectionLoss builds it, over every image of the batch. */
function assignBatch(maps: readonly MapLike[], anchors: Anchors, images: readonly ImageObjects[], regMax: number, no: number,
  topk: number): BatchAssignment {
  const B = images.length, A = anchors.count;
  const options: AssignerOptions = { topk, alpha: 0.5, beta: 6.0, eps: 1e-9 };
  const assignment: BatchAssignment = {
    fg: new Uint8Array(B * A), gtIndex: new Int32Array(B * A), score: new Float64Array(B * A), label: new Int32Array(B * A), anchors: A,
  };
  const pred = new ImagePredictions(maps, anchors, regMax, no);
  for (let b = 0; b < B; b++) {
    if (images[b].n === 0) continue; // nothing to assign: the arrays stay background
    pred.reset(b);
    const out = {
      fg: assignment.fg.subarray(b * A, (b + 1) * A),
      gtIndex: assignment.gtIndex.subarray(b * A, (b + 1) * A),
      score: assignment.score.subarray(b * A, (b + 1) * A),
    };
    assignImage(anchors, pred, images[b], options, out);
    for (let a = 0; a < A; a++) if (out.fg[a]) assignment.label[b * A + a] = images[b].cls[out.gtIndex[a]];
  }
  return assignment;
}

function checkMaps(maps: readonly MapLike[], strides: readonly number[], no: number, nc: number, regMax: number): number {
  if (maps.length === 0 || maps.length !== strides.length) {
    throw new Error(`kiln: detectionLoss: ${maps.length} head maps for ${strides.length} strides`);
  }
  const batch = maps[0].shape[0];
  maps.forEach((m, i) => {
    if (m.shape.length !== 4 || m.shape[0] !== batch || m.shape[1] !== no) {
      throw new Error(`kiln: detectionLoss: map ${i} has shape [${m.shape.join(", ")}], expected [${batch}, ${no}, H, W] (4·${regMax} box + ${nc} class channels)`);
    }
  });
  return batch;
}

/**
 * The loss, its items and the assignment; with `grads` (one array per map,
 * same size), also the gradient of the loss with respect to each map.
 */
export function computeDetectionLoss(maps: readonly MapLike[], targets: DetectionTargets, options: DetectionLossOptions,
  grads: readonly Float32Array[] | null = null): DetectionLossResult {
  const nc = options.nc, regMax = options.regMax ?? 16, gains = options.gains ?? DEFAULT_GAINS;
  const no = 4 * regMax + nc;
  const B = checkMaps(maps, options.strides, no, nc, regMax);
  if (targets.size !== B) throw new Error(`kiln: detectionLoss: the batch holds ${targets.size} images, the maps ${B}`);
  const anchors = makeAnchors(maps.map((m) => [m.shape[2], m.shape[3]] as const), options.strides);
  const A = anchors.count;
  const imgH = maps[0].shape[2] * options.strides[0], imgW = maps[0].shape[3] * options.strides[0];
  const images = groupObjects(targets, B, nc, imgW, imgH);

  // 1. Assign, image by image.
  const assignment = options.frozenAssignment ?? assignBatch(maps, anchors, images, regMax, no, options.topk ?? 10);
  if (assignment.anchors !== A || assignment.fg.length !== B * A) throw new Error("kiln: detectionLoss: the frozen assignment is for another batch");
  let scoreSum = 0;
  for (let i = 0; i < B * A; i++) if (assignment.fg[i]) scoreSum += assignment.score[i];
  const tss = Math.max(options.shard ? options.shard.sumOverRanks(scoreSum) : scoreSum, 1);
  const scale = options.shard?.globalBatch ?? B; // the batch size the loss is multiplied by

  // 2. Class loss: BCE against 0 everywhere (kernels), then the targets of foreground anchors.
  let clsSum = 0;
  const clsScale = (gains.cls * scale) / tss;
  reserveScratch(nc * Math.max(...anchors.levels.map((l) => l.h * l.w)));
  for (let li = 0; li < maps.length; li++) {
    const { h, w, start } = anchors.levels[li];
    const hw = h * w;
    const data = maps[li].data;
    for (let b = 0; b < B; b++) {
      const from = (b * no + 4 * regMax) * hw, to = from + nc * hw;
      const g = grads ? grads[li].subarray(from, to) : null;
      clsSum += backgroundBce(data.subarray(from, to), g);
      for (let i = 0; i < hw; i++) {
        const a = b * A + start + i;
        const t = assignment.score[a];
        if (!assignment.fg[a] || t === 0) continue;
        const at = assignment.label[a] * hw + i;
        clsSum -= data[from + at] * t;
        if (g) g[at] -= t;
      }
      if (g) kernels().unary(Unary.affine, g, g, clsScale, 0);
      if (grads) grads[li].fill(0, b * no * hw, from); // box channels: only foreground anchors get a gradient
    }
  }

  // 3. Box (CIoU) and DFL losses over foreground anchors, in grid units.
  let boxSum = 0, dflSum = 0;
  const probs = new Float64Array(4 * regMax), lse = new Float64Array(4), dist = new Float64Array(4);
  const pbox = new Float64Array(4), tbox = new Float64Array(4), dC = new Float64Array(4);
  const dDist = new Float64Array(4), tl = new Int32Array(4), wl = new Float64Array(4);
  const maxTarget = regMax - 1 - 0.01;
  for (let b = 0; b < B; b++) {
    for (let a = 0; a < A; a++) {
      const weight = assignment.score[b * A + a];
      if (!assignment.fg[b * A + a] || weight === 0) continue; // a zero weight contributes nothing, nor its gradient
      const li = anchors.level[a];
      const l = anchors.levels[li];
      const hw = l.h * l.w;
      const base = b * no * hw + (a - l.start);
      const data = maps[li].data;
      dflDecode(data, base, hw, regMax, dist, probs, lse);
      const ax = anchors.points[2 * a], ay = anchors.points[2 * a + 1], s = l.stride;
      pbox[0] = ax - dist[0];
      pbox[1] = ay - dist[1];
      pbox[2] = ax + dist[2];
      pbox[3] = ay + dist[3];
      const gt = images[b];
      const go = 4 * assignment.gtIndex[b * A + a];
      for (let k = 0; k < 4; k++) tbox[k] = gt.boxes[go + k] / s;
      const c = ciouGrad(pbox, 0, tbox, 0, grads ? dC : null);
      boxSum += (1 - c) * weight;

      // DFL: the target distance between two bins, cross-entropy to each weighted by proximity.
      const ltrb = [ax - tbox[0], ay - tbox[1], tbox[2] - ax, tbox[3] - ay];
      let side = 0;
      for (let k = 0; k < 4; k++) {
        const t = Math.min(Math.max(ltrb[k], 0), maxTarget);
        tl[k] = Math.floor(t);
        wl[k] = tl[k] + 1 - t;
        const z = base + k * regMax * hw;
        side += (lse[k] - data[z + tl[k] * hw]) * wl[k] + (lse[k] - data[z + (tl[k] + 1) * hw]) * (1 - wl[k]);
      }
      dflSum += (side / 4) * weight;

      if (!grads) continue;
      const cb = (gains.box * scale * weight) / tss, cd = (gains.dfl * scale * weight) / tss / 4;
      dDist[0] = cb * dC[0];
      dDist[1] = cb * dC[1];
      dDist[2] = -cb * dC[2];
      dDist[3] = -cb * dC[3];
      const gmap = grads[li];
      for (let k = 0; k < 4; k++) {
        for (let j = 0; j < regMax; j++) {
          const p = probs[k * regMax + j];
          let gz = p * (j - dist[k]) * dDist[k] + cd * p;
          if (j === tl[k]) gz -= cd * wl[k];
          else if (j === tl[k] + 1) gz -= cd * (1 - wl[k]);
          gmap[base + (k * regMax + j) * hw] = gz;
        }
      }
    }
  }

  const items = { box: (boxSum / tss) * gains.box, cls: (clsSum / tss) * gains.cls, dfl: (dflSum / tss) * gains.dfl };
  return { loss: (items.box + items.cls + items.dfl) * scale, items, assignment, targetScoresSum: tss };
}

/**
 * The detection loss of the raw head maps (YOLOv8's forward output) for a
 * batch's objects, as one differentiable op: `loss` is what backward uses
 * (the weighted sum × batch size), `items` the three components as
 * Ultralytics logs them (after gains, per image).
 */
export function detectionLoss(maps: Tensor[], batch: DetectionTargets, options: DetectionLossOptions): { loss: Tensor; items: LossGains } {
  const wantGrad = isGradEnabled() && maps.some((m) => m.requiresGrad);
  const grads = wantGrad ? maps.map((m) => empty(m.shape)) : null;
  const r = computeDetectionLoss(maps, batch, options, grads ? grads.map((g) => g.data) : null);
  const loss = fromData(Float32Array.of(r.loss), []);
  if (grads) {
    record("detectionLoss", loss, maps, (gradOut) => {
      const s = gradOut.data[0];
      return grads.map((g) => {
        if (s === 1) return g.detach(); // the usual seed: hand over the gradient itself
        const scaled = empty(g.shape);
        kernels().unary(Unary.affine, g.data, scaled.data, s, 0);
        return scaled;
      });
    }, grads);
    for (const g of grads) g.dispose(); // the node holds its own references
  }
  return { loss, items: r.items };
}
