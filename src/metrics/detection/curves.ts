// Precision, recall and F1 against confidence, per class, the way
// Ultralytics' ap_per_class draws them: detections by score, cumulative TP and
// FP, recall and precision read at 1000 confidences (np.interp over -conf),
// and P and R taken where the smoothed mean F1 over the classes peaks.
// A detection's TP/FP comes from COCO's matching at IoU .50 (area all, the
// best 100 per image and class), so these agree with the mAP beside them; a
// detection matched to a crowd region counts as neither.
import { A, IGNORED, linspace, M, R, rankByScore, T, TP, type CocoEvalState } from "../coco/index.js";
import { argmax, interp, smooth } from "./interp.js";

export const CONFIDENCE_POINTS = 1000;
const EPS = 1e-16;

export interface ConfidenceCurves {
  confidence: Float64Array;
  precision: number[][];
  recall: number[][];
  f1: number[][];
  /** Non-crowd GT per class. */
  instances: number[];
  /** Index of the confidence where the smoothed mean F1 (over classes with instances) is highest. */
  best: number;
}

/** One class's curves from its detections' scores (descending) and TP flags. */
function classCurves(conf: number[], tp: boolean[], instances: number, x: Float64Array): { p: number[]; r: number[] } {
  const n = conf.length;
  if (n === 0) return { p: new Array<number>(x.length).fill(0), r: new Array<number>(x.length).fill(0) };
  const negConf = new Float64Array(n);
  const recall = new Float64Array(n);
  const precision = new Float64Array(n);
  let tpc = 0;
  let fpc = 0;
  for (let j = 0; j < n; j++) {
    if (tp[j]) tpc++;
    else fpc++;
    negConf[j] = -conf[j];
    recall[j] = tpc / (instances + EPS);
    precision[j] = tpc / (tpc + fpc);
  }
  const p = Array.from(x, (v) => interp(-v, negConf, precision, 1));
  const r = Array.from(x, (v) => interp(-v, negConf, recall, 0));
  return { p, r };
}

export function confidenceCurves(s: CocoEvalState): ConfidenceCurves {
  const { K, I, dtStart, dtScore } = s.prepared;
  const x = linspace(0, 1, CONFIDENCE_POINTS);
  const nan = (): number[] => new Array<number>(CONFIDENCE_POINTS).fill(NaN);
  const out: ConfidenceCurves = { confidence: x, precision: [], recall: [], f1: [], instances: [], best: 0 };
  const meanF1 = new Float64Array(CONFIDENCE_POINTS);
  let counted = 0;
  for (let k = 0; k < K; k++) {
    const instances = s.images.npig[k * A]; // area range 0: all
    out.instances.push(instances);
    if (instances === 0) {
      out.precision.push(nan());
      out.recall.push(nan());
      out.f1.push(nan());
      continue;
    }
    const conf: number[] = [];
    const tp: boolean[] = [];
    for (const d of rankByScore(dtScore, dtStart[k * I], dtStart[(k + 1) * I])) {
      const status = s.images.status[d * A * T]; // area all, IoU .50: (d * A + 0) * T + 0
      if (status === IGNORED) continue;
      conf.push(dtScore[d]);
      tp.push(status === TP);
    }
    const { p, r } = classCurves(conf, tp, instances, x);
    const f1 = p.map((pv, i) => (2 * pv * r[i]) / (pv + r[i] + EPS));
    out.precision.push(p);
    out.recall.push(r);
    out.f1.push(f1);
    for (let i = 0; i < CONFIDENCE_POINTS; i++) meanF1[i] += f1[i];
    counted++;
  }
  if (counted > 0) {
    for (let i = 0; i < CONFIDENCE_POINTS; i++) meanF1[i] /= counted;
    out.best = argmax(smooth(meanF1, 0.1));
  }
  return out;
}

/** COCO's precision at IoU .50 (area all, 100 detections) at the 101 recall thresholds; NaN where undefined. */
export function prCurveAt50(s: CocoEvalState, k: number): number[] {
  const K = s.prepared.K;
  return Array.from({ length: R }, (_, r) => {
    const v = s.precision[((r * K + k) * A + 0) * M + (M - 1)]; // t = 0
    return v === -1 ? NaN : v;
  });
}
