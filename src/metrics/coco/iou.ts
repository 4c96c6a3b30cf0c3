// Box IoU with pycocotools' own floating-point steps (maskApi.c, bbIou), so
// that IoUs sitting exactly on a threshold compare the same way. Boxes are
// [x, y, w, h] and never clipped. For a crowd GT the union is the detection's
// area alone: a detection inside a crowd region scores 1.

/**
 * IoU of detections dtFrom..dtFrom+D-1 against GT gtFrom..gtFrom+G-1, into
 * out[d * G + g].
 */
export function boxIou(
  dtBox: Float64Array, dtFrom: number, D: number,
  gtBox: Float64Array, gtCrowd: Uint8Array, gtFrom: number, G: number,
  out: Float64Array,
): void {
  for (let g = 0; g < G; g++) {
    const go = 4 * (gtFrom + g);
    const gx = gtBox[go];
    const gy = gtBox[go + 1];
    const gw = gtBox[go + 2];
    const gh = gtBox[go + 3];
    const ga = gw * gh;
    const crowd = gtCrowd[gtFrom + g] !== 0;
    for (let d = 0; d < D; d++) {
      const o = 4 * (dtFrom + d);
      const dx = dtBox[o];
      const dy = dtBox[o + 1];
      const dw = dtBox[o + 2];
      const dh = dtBox[o + 3];
      out[d * G + g] = 0;
      const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
      if (w <= 0) continue;
      const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
      if (h <= 0) continue;
      const i = w * h;
      const da = dw * dh;
      out[d * G + g] = i / (crowd ? da : da + ga - i);
    }
  }
}
