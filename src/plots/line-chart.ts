// A grid of line-chart panels: each with a title, a legend, nice ticks, axis
// labels and any number of series. Non-finite y values break a line (a metric
// not measured that epoch), and a point with no neighbour gets a dot so that
// the first epoch of a run is visible.
import { el, group, svgDocument, text, type Markup } from "./svg.js";
import { niceTicks } from "./ticks.js";

export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
  /** CSS colour; the panel's palette by default. */
  color?: string;
  dashed?: boolean;
}

export interface LinePanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Keep x ticks whole (epochs). */
  integerX?: boolean;
}

export interface GridOptions {
  /** Panels per row; by default all in one row up to 4, else two rows. */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

/** matplotlib's tab10: distinct and familiar to anyone who has read training plots. */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];

const TITLE_SIZE = 14;
const LABEL_SIZE = 12;
const TICK_SIZE = 10;
const LEGEND_SIZE = 11;
const LEGEND_ROW = 16;
/** Average advance of a DejaVu Sans character, in ems: enough to lay out a legend. */
export const CHAR_WIDTH = 0.6;

function finiteRange(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Legend entries packed into rows that fit `width`. */
function legendRows(series: readonly Series[], width: number): { s: Series; i: number; w: number }[][] {
  const rows: { s: Series; i: number; w: number }[][] = [[]];
  let used = 0;
  series.forEach((s, i) => {
    const w = 22 + s.name.length * LEGEND_SIZE * CHAR_WIDTH + 12;
    if (used + w > width && rows[rows.length - 1].length > 0) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1].push({ s, i, w });
    used += w;
  });
  return rows;
}

function seriesMarkup(s: Series, color: string, sx: (v: number) => number, sy: (v: number) => number, dots: boolean): Markup {
  let d = "";
  const singles: Markup[] = [];
  const n = Math.min(s.x.length, s.y.length);
  let run = 0; // points in the current unbroken run
  for (let i = 0; i <= n; i++) {
    const ok = i < n && Number.isFinite(s.x[i]) && Number.isFinite(s.y[i]);
    if (ok) {
      d += `${run === 0 ? "M" : "L"}${sx(s.x[i]).toFixed(1)} ${sy(s.y[i]).toFixed(1)}`;
      run++;
    } else {
      if (run === 1 || (dots && run > 0)) {
        for (let j = i - run; j < i; j++) singles.push(el("circle", { cx: sx(s.x[j]), cy: sy(s.y[j]), r: 2.5, fill: color }));
      }
      run = 0;
    }
  }
  const path = d
    ? el("path", {
        d,
        fill: "none",
        stroke: color,
        "stroke-width": 1.6,
        "stroke-linejoin": "round",
        "stroke-dasharray": s.dashed ? "5 3" : undefined,
      })
    : ("" as Markup);
  return group([path, ...singles]);
}

/** One panel drawn in the box (x0, y0, w, h). */
export function linePanel(p: LinePanel, x0: number, y0: number, w: number, h: number): Markup {
  const out: Markup[] = [];
  out.push(text(x0 + w / 2, y0 + 20, p.title, { "font-size": TITLE_SIZE, "font-weight": "bold", "text-anchor": "middle" }));

  const rows = legendRows(p.series, w - 20);
  rows.forEach((row, r) => {
    const total = row.reduce((a, e) => a + e.w, 0);
    let x = x0 + (w - total) / 2;
    const y = y0 + 38 + r * LEGEND_ROW;
    for (const { s, i, w: ew } of row) {
      const color = s.color ?? PALETTE[i % PALETTE.length];
      out.push(el("line", { x1: x, y1: y - 4, x2: x + 18, y2: y - 4, stroke: color, "stroke-width": 2.5, "stroke-dasharray": s.dashed ? "5 3" : undefined }));
      out.push(text(x + 22, y, s.name, { "font-size": LEGEND_SIZE, class: "legend" }));
      x += ew;
    }
  });

  const left = x0 + 62;
  const right = x0 + w - 14;
  const top = y0 + 30 + rows.length * LEGEND_ROW + 6;
  const bottom = y0 + h - 42;
  const [xlo, xhi] = finiteRange(p.series.flatMap((s) => s.x));
  const [ylo, yhi] = finiteRange(p.series.flatMap((s) => s.y));
  const xt = niceTicks(xlo, xhi, Math.max(2, Math.floor((right - left) / 70)), p.integerX);
  const yt = niceTicks(ylo, yhi, Math.max(2, Math.floor((bottom - top) / 45)));
  const sx = (v: number): number => left + ((v - xt.min) / (xt.max - xt.min)) * (right - left);
  const sy = (v: number): number => bottom - ((v - yt.min) / (yt.max - yt.min)) * (bottom - top);

  const grid: Markup[] = [];
  xt.values.forEach((v, i) => {
    const x = sx(v);
    grid.push(el("line", { x1: x, y1: top, x2: x, y2: bottom, stroke: "#e5e5e5" }));
    grid.push(text(x, bottom + 14, xt.labels[i], { "font-size": TICK_SIZE, "text-anchor": "middle", class: "tick-x" }));
  });
  yt.values.forEach((v, i) => {
    const y = sy(v);
    grid.push(el("line", { x1: left, y1: y, x2: right, y2: y, stroke: "#e5e5e5" }));
    grid.push(text(left - 5, y + 3.5, yt.labels[i], { "font-size": TICK_SIZE, "text-anchor": "end", class: "tick-y" }));
  });
  out.push(...grid);
  out.push(el("rect", { x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#444" }));
  out.push(text((left + right) / 2, y0 + h - 10, p.xLabel, { "font-size": LABEL_SIZE, "text-anchor": "middle" }));
  const ylx = x0 + 14;
  const yly = (top + bottom) / 2;
  out.push(text(ylx, yly, p.yLabel, { "font-size": LABEL_SIZE, "text-anchor": "middle", transform: `rotate(-90 ${ylx} ${yly.toFixed(1)})` }));

  const pointCount = Math.max(0, ...p.series.map((s) => s.x.length));
  p.series.forEach((s, i) => out.push(seriesMarkup(s, s.color ?? PALETTE[i % PALETTE.length], sx, sy, pointCount <= 30)));
  return group(out);
}

/** The grid as a whole SVG document, with its size. */
export function lineChartGrid(panels: readonly LinePanel[], options: GridOptions = {}): { svg: Markup; width: number; height: number } {
  const n = Math.max(1, panels.length);
  const columns = options.columns ?? (n <= 4 ? n : Math.ceil(n / 2));
  const pw = options.panelWidth ?? 380;
  const ph = options.panelHeight ?? 300;
  const width = columns * pw;
  const height = Math.ceil(n / columns) * ph;
  const body = panels.map((p, i) => linePanel(p, (i % columns) * pw, Math.floor(i / columns) * ph, pw, ph));
  return { svg: svgDocument(width, height, group(body)), width, height };
}
