// COCOeval.summarize: the 12 summary numbers, the lines it prints, and the
// per-category AP. A mean leaves out entries of -1; with nothing left it is -1.
import { A, AREA_LABELS, IOU_THRESHOLDS, M, MAX_DETS, R, T, type AreaLabel } from "./params.js";
import type { CocoStats } from "./types.js";

interface SummaryLine {
  ap: boolean;
  /** One IoU threshold, or all of them. */
  iouThr?: number;
  area: AreaLabel;
  maxDets: number;
}

/** The 12 entries of _summarizeDets, in its order. */
export const SUMMARY_LINES: readonly SummaryLine[] = [
  { ap: true, area: "all", maxDets: 100 },
  { ap: true, iouThr: 0.5, area: "all", maxDets: 100 },
  { ap: true, iouThr: 0.75, area: "all", maxDets: 100 },
  { ap: true, area: "small", maxDets: 100 },
  { ap: true, area: "medium", maxDets: 100 },
  { ap: true, area: "large", maxDets: 100 },
  { ap: false, area: "all", maxDets: 1 },
  { ap: false, area: "all", maxDets: 10 },
  { ap: false, area: "all", maxDets: 100 },
  { ap: false, area: "small", maxDets: 100 },
  { ap: false, area: "medium", maxDets: 100 },
  { ap: false, area: "large", maxDets: 100 },
];

/** The thresholds a line averages over: all, or those equal to iouThr (np.where(iouThr == p.iouThrs)). */
function thresholdIndices(iouThr: number | undefined): number[] {
  const out: number[] = [];
  for (let t = 0; t < T; t++) if (iouThr === undefined || IOU_THRESHOLDS[t] === iouThr) out.push(t);
  return out;
}

/**
 * numpy's pairwise summation (pairwise_sum_DOUBLE: 8 accumulators up to 128
 * values, halves above), so that means come out as np.mean's, to the last bit
 * more often than not: plain summation differs by about 1e-14.
 */
export function pairwiseSum(a: Float64Array, from: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[from + i];
    return res;
  }
  if (n <= 128) {
    const r = [a[from], a[from + 1], a[from + 2], a[from + 3], a[from + 4], a[from + 5], a[from + 6], a[from + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[from + i + j];
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[from + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, from, n2) + pairwiseSum(a, from + n2, n - n2);
}

/** np.mean(s[s > -1]) of the values picked in C order, -1 when none is left. */
function meanValid(values: Float64Array, n: number): number {
  let kept = 0;
  for (let i = 0; i < n; i++) if (values[i] > -1) values[kept++] = values[i];
  return kept === 0 ? -1 : pairwiseSum(values, 0, kept) / kept;
}

function summaryValue(line: SummaryLine, precision: Float64Array, recall: Float64Array, K: number): number {
  const a = AREA_LABELS.indexOf(line.area);
  const m = MAX_DETS.indexOf(line.maxDets as (typeof MAX_DETS)[number]);
  const ts = thresholdIndices(line.iouThr);
  const picked = new Float64Array(ts.length * (line.ap ? R : 1) * K);
  let n = 0;
  for (const t of ts) {
    if (line.ap) {
      for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) picked[n++] = precision[(((t * R + r) * K + k) * A + a) * M + m];
    } else {
      for (let k = 0; k < K; k++) picked[n++] = recall[((t * K + k) * A + a) * M + m];
    }
  }
  return meanValid(picked, n);
}

export function summarizeStats(precision: Float64Array, recall: Float64Array, K: number): CocoStats {
  return SUMMARY_LINES.map((line) => summaryValue(line, precision, recall, K)) as CocoStats;
}

/** AP of category k over the given thresholds (area all, maxDets 100); -1 when undefined. */
export function categoryAp(precision: Float64Array, K: number, k: number, thresholds: readonly number[]): number {
  const m = M - 1;
  const picked = new Float64Array(thresholds.length * R);
  let n = 0;
  for (const t of thresholds) for (let r = 0; r < R; r++) picked[n++] = precision[(((t * R + r) * K + k) * A + 0) * M + m];
  return meanValid(picked, n);
}

export const ALL_THRESHOLDS: readonly number[] = Array.from({ length: T }, (_, t) => t);
export const THRESHOLD_50: readonly number[] = thresholdIndices(0.5);

/** Python's '{:0.Nf}': like toFixed, but an exact tie rounds half to even (0.0625 -> "0.062"). */
export function pyFixed(x: number, digits: number): string {
  const scale = 10 ** digits;
  const v = Math.abs(x) * scale;
  // a true tie is a dyadic value: v is then exact, and no non-tie rounds onto n + 0.5 (scale < 2^11)
  if (v - Math.floor(v) !== 0.5) return x.toFixed(digits);
  let n = Math.floor(v);
  if (n % 2 === 1) n++;
  const s = (n / scale).toFixed(digits);
  return x < 0 && n !== 0 ? `-${s}` : s;
}

/** The line pycocotools prints: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'. */
export function summaryLine(i: number, value: number): string {
  const line = SUMMARY_LINES[i];
  const title = (line.ap ? "Average Precision" : "Average Recall").padEnd(18);
  const type = line.ap ? "(AP)" : "(AR)";
  const iou = line.iouThr === undefined
    ? `${pyFixed(IOU_THRESHOLDS[0], 2)}:${pyFixed(IOU_THRESHOLDS[T - 1], 2)}`
    : pyFixed(line.iouThr, 2);
  return ` ${title} ${type} @[ IoU=${iou.padEnd(9)} | area=${line.area.padStart(6)} | maxDets=${String(line.maxDets).padStart(3)} ] = ${pyFixed(value, 3)}`;
}

/** All 12 lines, as COCOeval.summarize() prints them. */
export function summaryLines(stats: CocoStats): string[] {
  return stats.map((v, i) => summaryLine(i, v));
}
