// Random affine (Ultralytics' RandomPerspective with degrees, shear and perspective 0): scale
// about the input's centre, then place that centre at a random point near the output's centre.
// The output may be smaller than the input (mosaic: 2·imgsz in, imgsz out, the border −imgsz/2).
// Boxes map by their 4 corners, are clipped to the output, and kept only if still box-like.
import type { Rng } from "../../engine/rng.js";
import type { RawImage } from "../types.js";
import { PAD, type Box } from "./letterbox.js";

/** x' = m0·x + m1·y + m2, y' = m3·x + m4·y + m5, in continuous pixel coordinates (pixel i spans [i, i+1)). */
export type Affine = [number, number, number, number, number, number];

/** M = T·S·C: centre the input at the origin, scale by `scale`, move the origin to (tx, ty) of the output. */
export function affineMatrix(scale: number, tx: number, ty: number, inWidth: number, inHeight: number): Affine {
  return [scale, 0, tx - scale * inWidth / 2, 0, scale, ty - scale * inHeight / 2];
}

/**
 * Draws Ultralytics' parameters: scale uniform in 1 ± scale, the centre's destination uniform in
 * (0.5 ± translate) of the output size.
 */
export function randomAffine(opts: { translate: number; scale: number }, inWidth: number, inHeight: number, outWidth: number, outHeight: number, rng: Rng): { matrix: Affine; scale: number } {
  const scale = 1 - opts.scale + rng.uniform() * 2 * opts.scale;
  const tx = (0.5 - opts.translate + rng.uniform() * 2 * opts.translate) * outWidth;
  const ty = (0.5 - opts.translate + rng.uniform() * 2 * opts.translate) * outHeight;
  return { matrix: affineMatrix(scale, tx, ty, inWidth, inHeight), scale };
}

const isIdentity = (m: Affine): boolean => m[0] === 1 && m[1] === 0 && m[2] === 0 && m[3] === 0 && m[4] === 1 && m[5] === 0;

/**
 * cv2.warpAffine (bilinear, constant grey border) into `out` (outWidth × outHeight × 3), sampling
 * at pixel centres so that pixels and boxes move by the same map.
 */
export function warpAffine(src: RawImage, m: Affine, outWidth: number, outHeight: number, out: Uint8Array): void {
  if (src.channels !== 3) throw new Error("warpAffine: needs 3 channels");
  const { width: w, height: h, data } = src;
  if (isIdentity(m) && w === outWidth && h === outHeight) {
    out.set(data.subarray(0, w * h * 3));
    return;
  }
  const det = m[0] * m[4] - m[1] * m[3];
  const [a, b, c] = [m[4] / det, -m[1] / det, (m[1] * m[5] - m[2] * m[4]) / det];
  const [d, e, f] = [-m[3] / det, m[0] / det, (m[2] * m[3] - m[0] * m[5]) / det];
  const px = (xi: number, yi: number, k: number): number => (xi >= 0 && yi >= 0 && xi < w && yi < h ? data[(yi * w + xi) * 3 + k] : PAD);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const cy = y + 0.5;
    for (let x = 0; x < outWidth; x++, o += 3) {
      const cx = x + 0.5;
      const sx = a * cx + b * cy + c - 0.5; // source pixel-centre coordinates
      const sy = d * cx + e * cy + f - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) {
        out[o] = out[o + 1] = out[o + 2] = PAD;
        continue;
      }
      const wx = sx - x0;
      const wy = sy - y0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        const i00 = (y0 * w + x0) * 3;
        const i10 = i00 + w * 3;
        for (let k = 0; k < 3; k++) {
          const top = data[i00 + k] + (data[i00 + 3 + k] - data[i00 + k]) * wx;
          const bottom = data[i10 + k] + (data[i10 + 3 + k] - data[i10 + k]) * wx;
          out[o + k] = Math.round(top + (bottom - top) * wy);
        }
      } else {
        for (let k = 0; k < 3; k++) {
          const top = px(x0, y0, k) + (px(x0 + 1, y0, k) - px(x0, y0, k)) * wx;
          const bottom = px(x0, y0 + 1, k) + (px(x0 + 1, y0 + 1, k) - px(x0, y0 + 1, k)) * wx;
          out[o + k] = Math.round(top + (bottom - top) * wy);
        }
      }
    }
  }
}

/**
 * Ultralytics' box_candidates: `before` is the box before the transform scaled by the affine's
 * scale, `after` the transformed, clipped box. Kept: both sides over 2 px, more than 10% of the
 * area left, aspect under 100.
 */
export function boxCandidate(before: Box, after: Box, scale: number): boolean {
  const eps = 1e-16;
  const w1 = (before.x2 - before.x1) * scale;
  const h1 = (before.y2 - before.y1) * scale;
  const w2 = after.x2 - after.x1;
  const h2 = after.y2 - after.y1;
  const aspect = Math.max(w2 / (h2 + eps), h2 / (w2 + eps));
  return w2 > 2 && h2 > 2 && (w2 * h2) / (w1 * h1 + eps) > 0.1 && aspect < 100;
}

/** Boxes through `m` (the bounding box of their 4 corners), clipped to the output, filtered by boxCandidate. */
export function transformBoxes(boxes: readonly Box[], m: Affine, scale: number, outWidth: number, outHeight: number): Box[] {
  const kept: Box[] = [];
  for (const b of boxes) {
    const xs = [b.x1, b.x2, b.x1, b.x2].map((x, i) => m[0] * x + m[1] * (i < 2 ? b.y1 : b.y2) + m[2]);
    const ys = [b.x1, b.x2, b.x1, b.x2].map((x, i) => m[3] * x + m[4] * (i < 2 ? b.y1 : b.y2) + m[5]);
    const after: Box = {
      cls: b.cls,
      x1: clamp(Math.min(...xs), outWidth), y1: clamp(Math.min(...ys), outHeight),
      x2: clamp(Math.max(...xs), outWidth), y2: clamp(Math.max(...ys), outHeight),
    };
    if (boxCandidate(b, after, scale)) kept.push(after);
  }
  return kept;
}

const clamp = (v: number, hi: number): number => (v < 0 ? 0 : v > hi ? hi : v);
