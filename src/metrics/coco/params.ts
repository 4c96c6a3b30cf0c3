// pycocotools' default bbox parameters (COCOeval.Params.setDetParams). The
// thresholds are built the way np.linspace builds them, because the tests
// compare against values one ulp away from the decimals (0.8999999999999999,
// 0.35000000000000003): start + i * step, with the last set to stop.

/** np.linspace(start, stop, n) with endpoint=True, bit for bit. */
export function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

/** .50:.05:.95 — np.linspace(.5, 0.95, 10). */
export const IOU_THRESHOLDS = linspace(0.5, 0.95, 10);
/** 0:.01:1 — np.linspace(.0, 1.00, 101). */
export const RECALL_THRESHOLDS = linspace(0, 1, 101);
/** maxDets per image and category, ascending; the last is also the cap kept per image and category. */
export const MAX_DETS = [1, 10, 100] as const;
/** [lo, hi] of the GT `area` field, both ends inclusive. */
export const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0, 1e5 ** 2],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e5 ** 2],
];
export const AREA_LABELS = ["all", "small", "medium", "large"] as const;
export type AreaLabel = (typeof AREA_LABELS)[number];

export const T = IOU_THRESHOLDS.length;
export const R = RECALL_THRESHOLDS.length;
export const A = AREA_RANGES.length;
export const M = MAX_DETS.length;
/** Detections kept per image and category (pycocotools' maxDets[-1]). */
export const MAX_KEPT = MAX_DETS[M - 1];
/** np.spacing(1): keeps precision's denominator non-zero. */
export const EPS = 2.220446049250313e-16;
