// Index the ground truth and the detections by (category, image) "cell" into
// flat typed arrays, the way COCOeval._prepare groups them into _gts/_dts:
// cell = k * I + i, k the category's rank by id, i the image's rank by id.
// A cell's GT stay in file order; its detections are sorted by score,
// descending, ties in file order (numpy's stable mergesort), and cut to the
// best 100, as computeIoU and evaluateImg both do.
import { MAX_KEPT } from "./params.js";
import type { CocoGroundTruth, CocoResult } from "./types.js";

export interface Prepared {
  /** Categories (ascending id) and images (ascending id). */
  K: number;
  I: number;
  categoryIds: number[];
  categoryNames: string[];
  /** GT of cell c are gtStart[c] .. gtStart[c + 1] - 1. */
  gtStart: Int32Array;
  /** x, y, w, h per GT. */
  gtBox: Float64Array;
  gtArea: Float64Array;
  gtCrowd: Uint8Array;
  /** pycocotools stores the matched GT's id and reads 0 as "no match": a match to id 0 counts as unmatched. */
  gtIdZero: Uint8Array;
  /** Kept detections of cell c are dtStart[c] .. dtStart[c + 1] - 1, best score first. */
  dtStart: Int32Array;
  dtBox: Float64Array;
  dtScore: Float64Array;
  /** w * h of the box (a result's own `area` is overwritten by loadRes). */
  dtArea: Float64Array;
  /** Position within its cell (0 = best score): the maxDets cut. */
  dtRank: Uint8Array;
  /** Detections whose category is not listed in the ground truth. */
  dropped: number;
}

function rankMap(ids: readonly number[]): { sorted: number[]; index: Map<number, number> } {
  const sorted = [...ids].sort((a, b) => a - b);
  const index = new Map<number, number>();
  sorted.forEach((id, i) => index.set(id, i));
  return { sorted, index };
}

/** Counting sort of entries into cells, file order kept; returns the cell starts and the entries in cell order. */
function bucket(cells: Int32Array, nCells: number): { start: Int32Array; order: Int32Array } {
  const start = new Int32Array(nCells + 1);
  let n = 0;
  for (let j = 0; j < cells.length; j++) {
    if (cells[j] >= 0) {
      start[cells[j] + 1]++;
      n++;
    }
  }
  for (let c = 0; c < nCells; c++) start[c + 1] += start[c];
  const next = start.slice(0, nCells);
  const order = new Int32Array(n);
  for (let j = 0; j < cells.length; j++) if (cells[j] >= 0) order[next[cells[j]]++] = j;
  return { start, order };
}

export function prepare(gt: CocoGroundTruth, dt: readonly CocoResult[]): Prepared {
  const cats = rankMap(gt.categories.map((c) => c.id));
  const names = new Map(gt.categories.map((c) => [c.id, c.name ?? String(c.id)]));
  const imgs = rankMap(gt.images.map((im) => im.id));
  const K = cats.sorted.length;
  const I = imgs.sorted.length;
  const nCells = K * I;
  const cellOf = (imageId: number, categoryId: number): number => {
    const k = cats.index.get(categoryId);
    const i = imgs.index.get(imageId);
    return k === undefined || i === undefined ? -1 : k * I + i;
  };

  // ground truth: annotations of unlisted categories are left out, like getAnnIds(catIds=...)
  const anns = gt.annotations;
  const gtCells = new Int32Array(anns.length);
  for (let j = 0; j < anns.length; j++) gtCells[j] = cellOf(anns[j].image_id, anns[j].category_id);
  const g = bucket(gtCells, nCells);
  const nGt = g.order.length;
  const gtBox = new Float64Array(4 * nGt);
  const gtArea = new Float64Array(nGt);
  const gtCrowd = new Uint8Array(nGt);
  const gtIdZero = new Uint8Array(nGt);
  for (let n = 0; n < nGt; n++) {
    const a = anns[g.order[n]];
    const b = a.bbox;
    gtBox[4 * n] = b[0];
    gtBox[4 * n + 1] = b[1];
    gtBox[4 * n + 2] = b[2];
    gtBox[4 * n + 3] = b[3];
    gtArea[n] = a.area;
    gtCrowd[n] = a.iscrowd ? 1 : 0;
    gtIdZero[n] = a.id === 0 ? 1 : 0;
  }

  // detections: bucket, sort each cell by score (ties by file order), keep the best MAX_KEPT
  const dtCells = new Int32Array(dt.length);
  const scores = new Float64Array(dt.length);
  for (let j = 0; j < dt.length; j++) {
    dtCells[j] = cellOf(dt[j].image_id, dt[j].category_id);
    scores[j] = dt[j].score;
  }
  const d = bucket(dtCells, nCells);
  const byScore = (a: number, b: number): number => scores[b] - scores[a] || a - b;
  const dtStart = new Int32Array(nCells + 1);
  for (let c = 0; c < nCells; c++) {
    const s = d.start[c];
    const e = d.start[c + 1];
    if (e - s > 1) d.order.subarray(s, e).sort(byScore);
    dtStart[c + 1] = dtStart[c] + Math.min(e - s, MAX_KEPT);
  }
  const nDt = dtStart[nCells];
  const dtBox = new Float64Array(4 * nDt);
  const dtScore = new Float64Array(nDt);
  const dtArea = new Float64Array(nDt);
  const dtRank = new Uint8Array(nDt);
  for (let c = 0; c < nCells; c++) {
    const s = d.start[c];
    for (let r = 0, n = dtStart[c]; n < dtStart[c + 1]; r++, n++) {
      const j = d.order[s + r];
      const b = dt[j].bbox;
      dtBox[4 * n] = b[0];
      dtBox[4 * n + 1] = b[1];
      dtBox[4 * n + 2] = b[2];
      dtBox[4 * n + 3] = b[3];
      dtScore[n] = scores[j];
      dtArea[n] = b[2] * b[3];
      dtRank[n] = r;
    }
  }
  return {
    K, I, categoryIds: cats.sorted, categoryNames: cats.sorted.map((id) => names.get(id) ?? String(id)),
    gtStart: g.start, gtBox, gtArea, gtCrowd, gtIdZero,
    dtStart, dtBox, dtScore, dtArea, dtRank, dropped: dt.length - d.order.length,
  };
}
