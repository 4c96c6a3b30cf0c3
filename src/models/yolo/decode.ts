// From the raw head maps to boxes and class probabilities: Ultralytics'
// Detect inference path (DFL expectation over regMax bins → ltrb distances
// → xyxy around the anchor, × stride; class sigmoid). dflDecode, the same
// decoding of one cell in float64, serves the loss.
import { kernels } from "../../engine/backend.js";
import { Unary } from "../../engine/kernels.js";
import { makeAnchors } from "./anchors.js";

/** A head map's values and shape [B, 4·regMax + nc, H, W] (a Tensor is one). */
export interface MapLike {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/**
 * Softmax over each side's regMax bins at one cell, whose first box logit is
 * data[base] and whose channels are `hw` apart. Writes the four expected
 * distances (l, t, r, b, in grid units) into dist; when given, the
 * probabilities (side-major, 4·regMax) into probs and each side's
 * log-sum-exp into lse. Float64 throughout.
 */
export function dflDecode(data: Float32Array, base: number, hw: number, regMax: number, dist: Float64Array,
  probs: Float64Array | null = null, lse: Float64Array | null = null): void {
  for (let s = 0; s < 4; s++) {
    const first = base + s * regMax * hw;
    let max = -Infinity;
    for (let j = 0; j < regMax; j++) max = Math.max(max, data[first + j * hw]);
    let sum = 0, weighted = 0;
    for (let j = 0; j < regMax; j++) {
      const e = Math.exp(data[first + j * hw] - max);
      if (probs) probs[s * regMax + j] = e;
      sum += e;
      weighted += j * e;
    }
    dist[s] = weighted / sum;
    if (probs) for (let j = 0; j < regMax; j++) probs[s * regMax + j] /= sum;
    if (lse) lse[s] = max + Math.log(sum);
  }
}

/** Maps as MapLike, or bare data arrays whose shapes follow from imgsz and the strides. */
function shapesOf(maps: readonly (MapLike | Float32Array)[], strides: readonly number[], channels: number, imgsz: number | readonly [number, number]): MapLike[] {
  const [ih, iw] = typeof imgsz === "number" ? [imgsz, imgsz] : imgsz;
  return maps.map((m, i) => {
    if (!(m instanceof Float32Array)) return m;
    const h = Math.floor(ih / strides[i]), w = Math.floor(iw / strides[i]);
    const b = m.length / (channels * h * w);
    if (!Number.isInteger(b)) throw new Error(`kiln: decodeDetections: map ${i} has ${m.length} values, not a multiple of ${channels}×${h}×${w}`);
    return { data: m, shape: [b, channels, h, w] };
  });
}

/** One image's decoded rows [anchors, 4 + nc], carrying its row layout (so nms needs no nc). */
export type DecodedImage = Float32Array & { readonly nc: number; readonly anchors: number };

/**
 * Per image, a Float32Array [A, 4 + nc]: each anchor's box (x1, y1, x2, y2 in
 * input pixels) then its class probabilities (sigmoid), anchors in
 * make_anchors order (levels by stride, cells row-major).
 */
export function decodeDetections(maps: readonly (MapLike | Float32Array)[], strides: readonly number[], nc: number,
  imgsz: number | readonly [number, number], regMax = 16): DecodedImage[] {
  const no = 4 * regMax + nc;
  const views = shapesOf(maps, strides, no, imgsz);
  if (views.length !== strides.length) throw new Error(`kiln: decodeDetections: ${views.length} maps for ${strides.length} strides`);
  const batch = views[0].shape[0];
  views.forEach((m, i) => {
    if (m.shape.length !== 4 || m.shape[0] !== batch || m.shape[1] !== no) {
      throw new Error(`kiln: decodeDetections: map ${i} has shape [${m.shape.join(", ")}], expected [${batch}, ${no}, H, W] (4·${regMax} box + ${nc} class channels)`);
    }
  });
  const anchors = makeAnchors(views.map((m) => [m.shape[2], m.shape[3]] as const), strides);
  const k = kernels();
  const out: DecodedImage[] = [];
  for (let b = 0; b < batch; b++) {
    const rows = new Float32Array(anchors.count * (4 + nc));
    views.forEach((m, li) => {
      const { h, w, stride, start } = anchors.levels[li];
      const hw = h * w;
      const box = b * no * hw, cls = box + 4 * regMax * hw;
      // The softmax and sigmoid passes in the kernels; the expectation and the transpose to rows here.
      const probs = new Float32Array(4 * regMax * hw), scores = new Float32Array(nc * hw);
      k.softmax(4, regMax, hw, m.data.subarray(box, cls), probs, false);
      k.unary(Unary.sigmoid, m.data.subarray(cls, cls + nc * hw), scores, 0, 0);
      for (let i = 0; i < hw; i++) {
        const a = start + i;
        const ax = anchors.points[2 * a], ay = anchors.points[2 * a + 1];
        const r = a * (4 + nc);
        for (let side = 0; side < 4; side++) {
          let d = 0;
          for (let j = 1; j < regMax; j++) d += j * probs[(side * regMax + j) * hw + i];
          const centre = side % 2 === 0 ? ax : ay;
          rows[r + side] = (side < 2 ? centre - d : centre + d) * stride;
        }
        for (let c = 0; c < nc; c++) rows[r + 4 + c] = scores[c * hw + i];
      }
    });
    out.push(Object.assign(rows, { nc, anchors: anchors.count }));
  }
  return out;
}
