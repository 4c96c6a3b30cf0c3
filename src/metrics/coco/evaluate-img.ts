// COCOeval.evaluateImg for every (category, image) cell and area range: the
// greedy matching of each IoU threshold, reduced to one status per
// (detection, area range, threshold). GT are visited non-ignored first, then
// ignored, each group in file order; a detection takes the free GT of highest
// IoU (>= the threshold, the later GT on a tie), never trading a regular
// candidate for an ignored one; crowd GT may be taken again and again.
import { boxIou } from "./iou.js";
import { A, AREA_RANGES, IOU_THRESHOLDS, T } from "./params.js";
import type { Prepared } from "./prepare.js";

/** A detection's status at one area range and IoU threshold. */
export const FP = 0;
export const TP = 1;
/** Matched to an ignored GT, or unmatched and outside the area range: neither TP nor FP. */
export const IGNORED = 2;

export interface ImageEval {
  /** status[(d * A + a) * T + t] for kept detection d. */
  status: Uint8Array;
  /** Non-ignored GT per category and area range: npig[k * A + a]. */
  npig: Int32Array;
}

/** pycocotools caps the threshold below 1 so that an IoU of 1 still needs ">=". */
const THRESHOLDS = Float64Array.from(IOU_THRESHOLDS, (t) => Math.min(t, 1 - 1e-10));

export function evaluateImages(p: Prepared): ImageEval {
  const { K, I, gtStart, dtStart, gtArea, gtCrowd, gtIdZero, dtArea } = p;
  const status = new Uint8Array(dtStart[K * I] * A * T);
  const npig = new Int32Array(K * A);
  let ious = new Float64Array(256);
  let order = new Int32Array(16); // GT of the cell in visiting order
  let ignored = new Uint8Array(16); // by visiting position
  let taken = new Uint8Array(16);
  let bestIou = new Float64Array(128); // per detection of the cell: its highest IoU with any GT

  for (let k = 0; k < K; k++) {
    for (let i = 0; i < I; i++) {
      const c = k * I + i;
      const gs = gtStart[c];
      const G = gtStart[c + 1] - gs;
      const ds = dtStart[c];
      const D = dtStart[c + 1] - ds;
      if (G === 0 && D === 0) continue;
      if (G > order.length) {
        order = new Int32Array(2 * G);
        ignored = new Uint8Array(2 * G);
        taken = new Uint8Array(2 * G);
      }
      if (D * G > ious.length) ious = new Float64Array(2 * D * G);
      if (D > bestIou.length) bestIou = new Float64Array(2 * D);
      if (D > 0 && G > 0) {
        boxIou(p.dtBox, ds, D, p.gtBox, gtCrowd, gs, G, ious);
        for (let d = 0; d < D; d++) {
          let b = 0;
          for (let g = 0; g < G; g++) if (ious[d * G + g] > b) b = ious[d * G + g];
          bestIou[d] = b;
        }
      }

      for (let a = 0; a < A; a++) {
        const lo = AREA_RANGES[a][0];
        const hi = AREA_RANGES[a][1];
        // non-ignored GT first, then ignored, each in file order (a stable argsort of the flags)
        let n = 0;
        for (let g = 0; g < G; g++) {
          const ar = gtArea[gs + g];
          if (!gtCrowd[gs + g] && ar >= lo && ar <= hi) {
            order[n] = g;
            ignored[n++] = 0;
          }
        }
        npig[k * A + a] += n;
        for (let g = 0; g < G; g++) {
          const ar = gtArea[gs + g];
          if (gtCrowd[gs + g] || ar < lo || ar > hi) {
            order[n] = g;
            ignored[n++] = 1;
          }
        }
        for (let t = 0; t < T; t++) {
          const thr = THRESHOLDS[t];
          taken.fill(0, 0, G);
          for (let d = 0; d < D; d++) {
            let best = thr;
            let m = -1;
            const row = d * G;
            // no GT reaches the threshold: unmatched without visiting them
            for (let j = bestIou[d] < thr ? G : 0; j < G; j++) {
              const g = order[j];
              if (taken[j] && !gtCrowd[gs + g]) continue;
              if (m > -1 && !ignored[m] && ignored[j]) break;
              const v = ious[row + g];
              if (v < best) continue;
              best = v;
              m = j;
            }
            const outside = dtArea[ds + d] < lo || dtArea[ds + d] > hi;
            let s: number;
            if (m === -1) s = outside ? IGNORED : FP;
            else {
              taken[m] = 1;
              if (ignored[m]) s = IGNORED;
              else if (gtIdZero[gs + order[m]]) s = outside ? IGNORED : FP;
              else s = TP;
            }
            status[((ds + d) * A + a) * T + t] = s;
          }
        }
      }
    }
  }
  return { status, npig };
}
