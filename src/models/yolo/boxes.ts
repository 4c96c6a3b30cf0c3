// Box geometry over flat arrays (4 numbers per box, read at an offset): the
// xywh/xyxy conversions, plain IoU (torchvision's, for NMS) and CIoU as
// Ultralytics' bbox_iou(xywh=False, CIoU=True, eps=1e-7), whose gradient the
// detection loss needs. The arithmetic follows PyTorch's order so that
// float64 results match a float64 PyTorch run to the last bits.

const EPS = 1e-7;
const V_SCALE = 4 / Math.PI ** 2;

/** (cx, cy, w, h) → (x1, y1, x2, y2) for every box of `src`, into `dst` (a new array by default). */
export function xywhToXyxy(src: ArrayLike<number>, dst: Float64Array | Float32Array = new Float64Array(src.length)): Float64Array | Float32Array {
  for (let i = 0; i + 3 < src.length; i += 4) {
    const cx = src[i], cy = src[i + 1], dw = src[i + 2] / 2, dh = src[i + 3] / 2;
    dst[i] = cx - dw;
    dst[i + 1] = cy - dh;
    dst[i + 2] = cx + dw;
    dst[i + 3] = cy + dh;
  }
  return dst;
}

/** (x1, y1, x2, y2) → (cx, cy, w, h) for every box of `src`, into `dst` (a new array by default). */
export function xyxyToXywh(src: ArrayLike<number>, dst: Float64Array | Float32Array = new Float64Array(src.length)): Float64Array | Float32Array {
  for (let i = 0; i + 3 < src.length; i += 4) {
    const x1 = src[i], y1 = src[i + 1], x2 = src[i + 2], y2 = src[i + 3];
    dst[i] = (x1 + x2) / 2;
    dst[i + 1] = (y1 + y2) / 2;
    dst[i + 2] = x2 - x1;
    dst[i + 3] = y2 - y1;
  }
  return dst;
}

/** IoU of the xyxy boxes a[i..i+4) and b[j..j+4) as torchvision's box_iou (no epsilon). */
export function boxIou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const iw = Math.min(a[i + 2], b[j + 2]) - Math.max(a[i], b[j]);
  const ih = Math.min(a[i + 3], b[j + 3]) - Math.max(a[i + 1], b[j + 1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const areaA = (a[i + 2] - a[i]) * (a[i + 3] - a[i + 1]);
  const areaB = (b[j + 2] - b[j]) * (b[j + 3] - b[j + 1]);
  return inter / (areaA + areaB - inter);
}

/** Complete IoU of the xyxy boxes a[i..i+4) (box1) and b[j..j+4) (box2). */
export function ciou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  return ciouGrad(a, i, b, j, null);
}

/**
 * CIoU of box1 = a[i..i+4) and box2 = b[j..j+4), and, when `grad` is given,
 * its gradient with respect to box1's (x1, y1, x2, y2) in grad[0..4) — as
 * PyTorch's autograd computes it: CIoU's alpha is a constant (no_grad),
 * clamp passes the gradient at 0, min/max split it on ties.
 */
export function ciouGrad(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, grad: Float64Array | null): number {
  const ax1 = a[i], ay1 = a[i + 1], ax2 = a[i + 2], ay2 = a[i + 3];
  const bx1 = b[j], by1 = b[j + 1], bx2 = b[j + 2], by2 = b[j + 3];
  const w1 = ax2 - ax1, h1 = ay2 - ay1 + EPS;
  const w2 = bx2 - bx1, h2 = by2 - by1 + EPS;
  const ix = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const iy = Math.min(ay2, by2) - Math.max(ay1, by1);
  const iwc = ix > 0 ? ix : 0, ihc = iy > 0 ? iy : 0;
  const inter = iwc * ihc;
  const union = w1 * h1 + w2 * h2 - inter + EPS;
  const iou = inter / union;
  const cw = Math.max(ax2, bx2) - Math.min(ax1, bx1);
  const ch = Math.max(ay2, by2) - Math.min(ay1, by1);
  const c2 = cw * cw + ch * ch + EPS;
  const dx = bx1 + bx2 - ax1 - ax2, dy = by1 + by2 - ay1 - ay2;
  const rho2 = (dx * dx + dy * dy) / 4;
  const r1 = w1 / h1;
  const theta = Math.atan(w2 / h2) - Math.atan(r1);
  const v = V_SCALE * theta * theta;
  const alpha = v / (v - iou + (1 + EPS));
  const value = iou - (rho2 / c2 + v * alpha);
  if (grad === null) return value;

  // d(min(p, q))/dp: 1 when p is the smaller, 1/2 on a tie; likewise for max.
  const minD = (p: number, q: number): number => (p < q ? 1 : p === q ? 0.5 : 0);
  const maxD = (p: number, q: number): number => (p > q ? 1 : p === q ? 0.5 : 0);
  // The intersection's sides, through the clamp (its gradient passes at exactly 0, as torch.clamp's).
  const gx = ix >= 0 ? ihc : 0, gy = iy >= 0 ? iwc : 0;
  const dInter = [-gx * maxD(ax1, bx1), -gy * maxD(ay1, by1), gx * minD(ax2, bx2), gy * minD(ay2, by2)];
  const dUnion = [-h1 - dInter[0], -w1 - dInter[1], h1 - dInter[2], w1 - dInter[3]];
  // Enclosing box diagonal c2 and centre distance rho2.
  const dc2 = [-2 * cw * minD(ax1, bx1), -2 * ch * minD(ay1, by1), 2 * cw * maxD(ax2, bx2), 2 * ch * maxD(ay2, by2)];
  const dRho2 = [-dx / 2, -dy / 2, -dx / 2, -dy / 2];
  // v through atan(w1 / h1): d/dw1 = 1/h1, d/dh1 = -w1/h1², times 1 / (1 + r1²).
  const f = (-2 * V_SCALE * theta) / (1 + r1 * r1);
  const dv = [-f / h1, (f * w1) / (h1 * h1), f / h1, (-f * w1) / (h1 * h1)];
  for (let k = 0; k < 4; k++) {
    const dIou = (dInter[k] - iou * dUnion[k]) / union;
    const dRatio = dRho2[k] / c2 - (rho2 * dc2[k]) / (c2 * c2);
    grad[k] = dIou - dRatio - alpha * dv[k];
  }
  return value;
}
