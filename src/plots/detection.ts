// The detection plots Ultralytics writes after validation: the
// precision-recall curve at IoU .50, precision, recall and F1 against
// confidence (a thin line per class, the mean over classes thick), and the
// confusion matrix with its background class. Drawn as SVG here (a fixed 0..1
// square chart whose lines can differ in width, which the line-chart grid
// does not offer) and rasterised with sharp.
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import type { DetectionMetrics } from "../metrics/detection/index.js";
import { smooth } from "../metrics/detection/index.js";
import { confusionSvg } from "./confusion.js";
import { CHAR_WIDTH, PALETTE } from "./line-chart.js";
import { svgToPng } from "./render.js";
import { el, group, svgDocument, text, type Markup } from "./svg.js";
import { niceTicks } from "./ticks.js";

interface Curve {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  color: string;
  width: number;
  /** Shown in the legend when set. */
  label?: string;
}

interface CurveChart {
  title: string;
  xLabel: string;
  yLabel: string;
  curves: Curve[];
}

/** Ultralytics names every class only up to 20; past that, the classes are grey and unlabelled. */
const MAX_LABELLED = 20;
const MEAN_COLOR = "#0000ff";
const PLOT = 440; // the square plot area, px
const LEGEND_SIZE = 11;
const LEGEND_ROW = 16;

/** A path through the finite points; points that land on the previous pixel are skipped (1000-point curves). */
function pathData(c: Curve, sx: (v: number) => number, sy: (v: number) => number): string {
  let d = "";
  let pen = false;
  let lastX = NaN;
  let lastY = NaN;
  const n = Math.min(c.x.length, c.y.length);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(c.x[i]) || !Number.isFinite(c.y[i])) {
      pen = false;
      continue;
    }
    const x = Math.round(sx(c.x[i]) * 2) / 2;
    const y = Math.round(sy(c.y[i]) * 2) / 2;
    if (pen && x === lastX && y === lastY && i < n - 1) continue;
    d += `${pen ? "L" : "M"}${x} ${y}`;
    pen = true;
    lastX = x;
    lastY = y;
  }
  return d;
}

function curveChartSvg(spec: CurveChart): Markup {
  const labelled = spec.curves.filter((c) => c.label !== undefined);
  const longest = Math.max(0, ...labelled.map((c) => c.label?.length ?? 0));
  const legendWidth = labelled.length ? 40 + longest * LEGEND_SIZE * CHAR_WIDTH : 0;
  const left = 64;
  const top = 40;
  const width = left + PLOT + 24 + legendWidth;
  const height = Math.max(top + PLOT + 50, top + labelled.length * LEGEND_ROW + 20);
  const ticks = niceTicks(0, 1, 5);
  const sx = (v: number): number => left + v * PLOT;
  const sy = (v: number): number => top + (1 - v) * PLOT;
  const out: Markup[] = [text(left + PLOT / 2, 24, spec.title, { "font-size": 14, "font-weight": "bold", "text-anchor": "middle" })];
  ticks.values.forEach((v, i) => {
    out.push(el("line", { x1: sx(v), y1: top, x2: sx(v), y2: top + PLOT, stroke: "#e5e5e5" }));
    out.push(el("line", { x1: left, y1: sy(v), x2: left + PLOT, y2: sy(v), stroke: "#e5e5e5" }));
    out.push(text(sx(v), top + PLOT + 14, ticks.labels[i], { "font-size": 10, "text-anchor": "middle", class: "tick-x" }));
    out.push(text(left - 5, sy(v) + 3.5, ticks.labels[i], { "font-size": 10, "text-anchor": "end", class: "tick-y" }));
  });
  out.push(text(left + PLOT / 2, top + PLOT + 36, spec.xLabel, { "font-size": 12, "text-anchor": "middle" }));
  const ylx = 18;
  const yly = top + PLOT / 2;
  out.push(text(ylx, yly, spec.yLabel, { "font-size": 12, "text-anchor": "middle", transform: `rotate(-90 ${ylx} ${yly})` }));
  // the curves, clipped to the plot (a precision of 1 sits on the frame)
  out.push(el("clipPath", { id: "plot" }, el("rect", { x: left - 2, y: top - 2, width: PLOT + 4, height: PLOT + 4 })));
  const lines = spec.curves.map((c) => {
    const d = pathData(c, sx, sy);
    return d ? el("path", { d, fill: "none", stroke: c.color, "stroke-width": c.width, "stroke-linejoin": "round" }) : ("" as Markup);
  });
  out.push(el("g", { "clip-path": "url(#plot)" }, group(lines)));
  out.push(el("rect", { x: left, y: top, width: PLOT, height: PLOT, fill: "none", stroke: "#444" }));
  labelled.forEach((c, i) => {
    const x = left + PLOT + 24;
    const y = top + 8 + i * LEGEND_ROW;
    out.push(el("line", { x1: x, y1: y - 4, x2: x + 22, y2: y - 4, stroke: c.color, "stroke-width": Math.max(2, c.width) }));
    out.push(text(x + 28, y, c.label ?? "", { "font-size": LEGEND_SIZE, class: "legend" }));
  });
  return svgDocument(width, height, group(out));
}

/** Mean over the rows that hold numbers (classes with instances), point by point. */
function meanRows(rows: readonly (readonly number[])[], n: number): Float64Array {
  const used = rows.filter((r) => r.some(Number.isFinite));
  const mean = new Float64Array(n);
  if (used.length === 0) return mean.fill(NaN);
  for (const r of used) for (let i = 0; i < n; i++) mean[i] += r[i];
  for (let i = 0; i < n; i++) mean[i] /= used.length;
  return mean;
}

/** Per-class curves: coloured and named up to 20 classes, grey past that. */
function classCurves(x: ArrayLike<number>, rows: readonly (readonly number[])[], labels: readonly string[]): Curve[] {
  const named = rows.length <= MAX_LABELLED;
  const curves: Curve[] = [];
  rows.forEach((y, c) => {
    if (!y.some(Number.isFinite)) return; // a class with no instances has no curve (nor legend entry)
    curves.push(named ? { x, y, color: PALETTE[c % PALETTE.length], width: 1, label: labels[c] } : { x, y, color: "#9a9a9a", width: 1 });
  });
  return curves;
}

export function prCurveSvg(metrics: DetectionMetrics, classes: readonly string[]): Markup {
  const { recall, precision } = metrics.prCurve;
  const labels = classes.map((name, c) => `${name} ${Number.isFinite(metrics.perClass[c]?.ap50) ? metrics.perClass[c].ap50.toFixed(3) : "-"}`);
  const mean = meanRows(precision, recall.length);
  return curveChartSvg({
    title: "Precision-Recall Curve (IoU 0.50)",
    xLabel: "Recall",
    yLabel: "Precision",
    curves: [...classCurves(recall, precision, labels), { x: recall, y: mean, color: MEAN_COLOR, width: 3, label: `all classes ${metrics.mAP50.toFixed(3)} mAP@0.5` }],
  });
}

/** Precision, recall or F1 against confidence; the mean is smoothed as Ultralytics draws it. */
export function confidenceCurveSvg(metrics: DetectionMetrics, classes: readonly string[], which: "precision" | "recall" | "f1"): Markup {
  const x = metrics.curves.confidence;
  const rows = metrics.curves[which];
  const mean = smooth(meanRows(rows, x.length), 0.05);
  let best = 0;
  for (let i = 1; i < mean.length; i++) if (mean[i] > mean[best]) best = i;
  const name = which === "f1" ? "F1" : which === "precision" ? "Precision" : "Recall";
  const meanLabel = Number.isFinite(mean[best]) ? `all classes ${mean[best].toFixed(2)} at ${x[best].toFixed(3)}` : "all classes -";
  return curveChartSvg({
    title: `${name}-Confidence Curve`,
    xLabel: "Confidence",
    yLabel: name,
    curves: [...classCurves(x, rows, classes), { x, y: mean, color: MEAN_COLOR, width: 3, label: meanLabel }],
  });
}

/** confusion[pred][true] drawn as the other confusion plots are: [true][pred], each true class's row normalised. */
export function detectionConfusionSvg(metrics: DetectionMetrics, classes: readonly string[]): Markup {
  const m = metrics.confusion;
  const transposed = m.map((_, t) => m.map((row) => row[t]));
  return confusionSvg([...classes, "background"], transposed);
}

/** Writes BoxPR_curve.png, BoxF1_curve.png, BoxP_curve.png, BoxR_curve.png and confusion_matrix.png to runDir, atomically. */
export async function writeDetectionPlots(runDir: string, metrics: DetectionMetrics, classes: readonly string[]): Promise<void> {
  const plots: [string, Markup][] = [
    ["BoxPR_curve.png", prCurveSvg(metrics, classes)],
    ["BoxF1_curve.png", confidenceCurveSvg(metrics, classes, "f1")],
    ["BoxP_curve.png", confidenceCurveSvg(metrics, classes, "precision")],
    ["BoxR_curve.png", confidenceCurveSvg(metrics, classes, "recall")],
    ["confusion_matrix.png", detectionConfusionSvg(metrics, classes)],
  ];
  for (const [name, svg] of plots) await writeFileAtomic(join(runDir, name), await svgToPng(svg));
}
