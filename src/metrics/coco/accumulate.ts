// COCOeval.accumulate: per category, area range and maxDets, the detections
// of all images ranked by score, then per IoU threshold the precision at the
// 101 recall thresholds (after the envelope) and the final recall.
//
// A category's kept detections are contiguous in image-id order, each image's
// best first: exactly pycocotools' concatenation. One stable sort per category
// (score descending, ties in that order) serves every area range and maxDets;
// a maxDets cut only filters by rank within the image. Ignored detections are
// skipped: in pycocotools they repeat the previous recall and precision,
// which changes neither the envelope nor what searchsorted reads.
import { FP, IGNORED, TP, type ImageEval } from "./evaluate-img.js";
import { A, EPS, M, MAX_DETS, R, RECALL_THRESHOLDS, T } from "./params.js";
import type { Prepared } from "./prepare.js";

// the branch-free counting below relies on these values
if (TP !== 1 || FP !== 0) throw new Error("accumulate: TP must be 1 and FP 0");

export interface Accumulated {
  /** [T, R, K, A, M] in C order; -1 where the category has no non-ignored GT. */
  precision: Float64Array;
  /** [T, K, A, M] in C order. */
  recall: Float64Array;
}

/** Indices from..to-1 sorted by score, descending; ties keep their order. */
export function rankByScore(score: Float64Array, from: number, to: number): Int32Array {
  const order = new Int32Array(to - from);
  for (let j = 0; j < order.length; j++) order[j] = from + j;
  order.sort((a, b) => score[b] - score[a] || a - b);
  return order;
}

/** precision and recall of (k, a) at maxDets index `from` copied to index `to`. */
function copyCut(precision: Float64Array, recall: Float64Array, K: number, k: number, a: number, from: number, to: number): void {
  for (let t = 0; t < T; t++) {
    const base = ((t * K + k) * A + a) * M;
    recall[base + to] = recall[base + from];
    for (let r = 0; r < R; r++) {
      const at = (((t * R + r) * K + k) * A + a) * M;
      precision[at + to] = precision[at + from];
    }
  }
}

export function accumulate(p: Prepared, e: ImageEval): Accumulated {
  const { K, I } = p;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  let rc = new Float64Array(64);
  let pr = new Float64Array(64);

  let status = new Uint8Array(64 * A * T);
  let rank = new Uint8Array(64);
  for (let k = 0; k < K; k++) {
    const order = rankByScore(p.dtScore, p.dtStart[k * I], p.dtStart[(k + 1) * I]);
    const nd = order.length;
    if (nd > rc.length) {
      rc = new Float64Array(nd);
      pr = new Float64Array(nd);
      status = new Uint8Array(nd * A * T);
      rank = new Uint8Array(nd);
    }
    // the category's statuses in ranked order, so that the passes below read memory in sequence
    let maxRank = -1;
    for (let j = 0; j < nd; j++) {
      const d = order[j];
      rank[j] = p.dtRank[d];
      if (rank[j] > maxRank) maxRank = rank[j];
      status.set(e.status.subarray(d * A * T, (d + 1) * A * T), j * A * T);
    }
    for (let a = 0; a < A; a++) {
      const npig = e.npig[k * A + a];
      if (npig === 0) continue;
      for (let m = M - 1; m >= 0; m--) {
        const maxDet = MAX_DETS[m];
        if (m < M - 1 && maxRank < maxDet) {
          // no image has more than maxDet detections of the category: the same as the larger cut
          copyCut(precision, recall, K, k, a, m + 1, m);
          continue;
        }
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          let n = 0;
          for (let j = 0, at = a * T + t; j < nd; j++, at += A * T) {
            if (rank[j] >= maxDet) continue;
            const s = status[at];
            if (s === IGNORED) continue;
            tp += s; // TP is 1 and FP 0: no branch to mispredict on a coin flip
            fp += 1 - s;
            rc[n] = tp / npig;
            pr[n] = tp / (fp + tp + EPS);
            n++;
          }
          recall[((t * K + k) * A + a) * M + m] = n > 0 ? rc[n - 1] : 0;
          for (let j = n - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          // np.searchsorted(rc, recThrs, side='left'): the first j with rc[j] >= r; none: 0
          let j = 0;
          for (let r = 0; r < R; r++) {
            while (j < n && rc[j] < RECALL_THRESHOLDS[r]) j++;
            precision[(((t * R + r) * K + k) * A + a) * M + m] = j < n ? pr[j] : 0;
          }
        }
      }
    }
  }
  return { precision, recall };
}
