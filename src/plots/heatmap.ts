// A matrix as a heatmap: class names on both axes, the values in the cells
// when they fit, an optional colour bar. Sized by the class count: cells
// shrink as classes grow, labels thin out and are cut short so 100 classes
// still draw quickly and legibly. The cells are one embedded image (png.ts
// says why), so the cost does not grow with the number of cells.
import { el, group, text, type Markup } from "./svg.js";
import { CHAR_WIDTH } from "./line-chart.js";
import { encodePngRgb } from "./png.js";
import { niceTicks } from "./ticks.js";

export interface HeatmapSpec {
  title: string;
  /** Row labels (the y axis, top to bottom) and column labels (x axis); usually the same class names. */
  rowLabels: readonly string[];
  colLabels: readonly string[];
  values: readonly (readonly number[])[];
  xLabel?: string;
  yLabel?: string;
  /** The value of the darkest colour; the largest value by default. */
  vmax?: number;
  /** How a cell's value reads: integers as is, fractions to 2 decimals, by default. */
  format?: (v: number) => string;
  colorBar?: boolean;
  /** Unique within a document: the colour bar's gradient id. */
  id?: string;
}

/** Where things go; exported so tests can sample cell centres. */
export interface HeatmapLayout {
  width: number;
  height: number;
  /** Top-left corner of the matrix, relative to the panel. */
  left: number;
  top: number;
  cell: number;
  labelSize: number;
  /** Draw every stride-th label. */
  stride: number;
  maxChars: number;
}

/** matplotlib's "Blues": lightness falls monotonically, so darker always means more. */
const BLUES: readonly (readonly [number, number, number])[] = [
  [247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214],
  [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107],
];

/** The colour of t in [0, 1] (clamped) as [r, g, b]. */
export function bluesRgb(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (BLUES.length - 1);
  const i = Math.min(BLUES.length - 2, Math.floor(x));
  const f = x - i;
  const mix = (c: number): number => Math.round(BLUES[i][c] + (BLUES[i + 1][c] - BLUES[i][c]) * f);
  return [mix(0), mix(1), mix(2)];
}

/** The colour of t in [0, 1] (clamped) as #rrggbb. */
export function blues(t: number): string {
  return `#${bluesRgb(t).map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** One pixel per cell, as a PNG data URI, to be scaled up without smoothing. */
function cellImage(values: readonly (readonly number[])[], cols: number, scale: number): string {
  const rows = values.length;
  const rgb = new Uint8Array(rows * cols * 3);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) rgb.set(bluesRgb((values[r][c] ?? 0) * scale), (r * cols + c) * 3);
  }
  return `data:image/png;base64,${encodePngRgb(cols, rows, rgb).toString("base64")}`;
}

const ellipsize = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`);

export function heatmapLayout(rows: number, cols: number, labels: readonly string[], colorBar = false): HeatmapLayout {
  const n = Math.max(rows, cols, 1);
  // ~720 px of matrix, cells 6–80 px; past 200 classes cells go below 6 px to keep the image bounded
  const cell = Math.max(Math.min(80, Math.floor(720 / n)), Math.min(6, Math.floor(1200 / n)), 1);
  const labelSize = Math.min(12, Math.max(7, cell * 0.8));
  const stride = Math.max(1, Math.ceil((labelSize * 1.15) / cell));
  const maxChars = Math.min(16, Math.max(1, ...labels.map((l) => l.length)));
  const labelSpace = maxChars * labelSize * CHAR_WIDTH + 8;
  const left = 28 + labelSpace;
  const top = 34;
  const right = colorBar ? 70 : 16;
  return {
    width: left + cols * cell + right,
    height: top + rows * cell + labelSpace + 28,
    left,
    top,
    cell,
    labelSize,
    stride,
    maxChars,
  };
}

const defaultFormat = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));

/** The heatmap drawn with its top-left corner at (x0, y0). */
export function heatmap(spec: HeatmapSpec, x0 = 0, y0 = 0): { markup: Markup; width: number; height: number } {
  const rows = spec.values.length;
  const cols = spec.colLabels.length;
  const L = heatmapLayout(rows, cols, [...spec.rowLabels, ...spec.colLabels], spec.colorBar);
  // whole pixels, so the scaled-up cell image has sharp edges
  const mx = Math.round(x0 + L.left);
  const my = Math.round(y0 + L.top);
  let vmax = spec.vmax ?? 0;
  if (spec.vmax === undefined) for (const r of spec.values) for (const v of r) if (v > vmax) vmax = v;
  const scale = vmax > 0 ? 1 / vmax : 0;
  const format = spec.format ?? defaultFormat;
  const out: Markup[] = [];

  const width = Math.max(L.width, spec.title.length * 14 * CHAR_WIDTH + 20); // room for the title
  out.push(text(x0 + width / 2, y0 + 20, spec.title, { "font-size": 14, "font-weight": "bold", "text-anchor": "middle" }));
  if (rows > 0 && cols > 0) {
    out.push(
      el("image", {
        x: mx,
        y: my,
        width: cols * L.cell,
        height: rows * L.cell,
        preserveAspectRatio: "none",
        style: "image-rendering:optimizeSpeed;image-rendering:pixelated",
        href: cellImage(spec.values, cols, scale),
      }),
    );
  }
  const valueSize = Math.min(12, L.cell * 0.32);
  const cellText: Markup[] = [];
  if (valueSize >= 7) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = spec.values[r][c];
        const s = format(v);
        if (s.length * valueSize * CHAR_WIDTH > L.cell * 0.9) continue;
        cellText.push(
          text(mx + (c + 0.5) * L.cell, my + (r + 0.5) * L.cell + valueSize * 0.35, s, {
            "font-size": valueSize,
            "text-anchor": "middle",
            fill: v * scale > 0.5 ? "white" : "#222",
            class: "cell",
          }),
        );
      }
    }
  }
  out.push(...cellText);
  out.push(el("rect", { x: mx, y: my, width: cols * L.cell, height: rows * L.cell, fill: "none", stroke: "#444" }));

  const font = { "font-size": L.labelSize };
  for (let r = 0; r < rows; r += L.stride) {
    const y = my + (r + 0.5) * L.cell + L.labelSize * 0.35;
    out.push(text(mx - 4, y, ellipsize(spec.rowLabels[r] ?? "", L.maxChars), { ...font, "text-anchor": "end", class: "row-label" }));
  }
  for (let c = 0; c < cols; c += L.stride) {
    const x = mx + (c + 0.5) * L.cell + L.labelSize * 0.35;
    const y = my + rows * L.cell + 4;
    out.push(
      text(x, y, ellipsize(spec.colLabels[c] ?? "", L.maxChars), {
        ...font,
        "text-anchor": "end",
        transform: `rotate(-90 ${x.toFixed(1)} ${y.toFixed(1)})`,
        class: "col-label",
      }),
    );
  }
  if (spec.xLabel) {
    out.push(text(mx + (cols * L.cell) / 2, y0 + L.height - 6, spec.xLabel, { "font-size": 12, "text-anchor": "middle" }));
  }
  if (spec.yLabel) {
    const x = x0 + 12;
    const y = my + (rows * L.cell) / 2;
    out.push(text(x, y, spec.yLabel, { "font-size": 12, "text-anchor": "middle", transform: `rotate(-90 ${x} ${y.toFixed(1)})` }));
  }
  if (spec.colorBar) out.push(colorBar(mx + cols * L.cell + 14, my, Math.max(60, rows * L.cell), vmax, spec.id ?? "heatmap"));
  return { markup: group(out), width, height: L.height };
}

function colorBar(x: number, y: number, h: number, vmax: number, id: string): Markup {
  const gradientId = `${id}-bar`;
  const stops = BLUES.map((_, i) => el("stop", { offset: i / (BLUES.length - 1), "stop-color": blues(1 - i / (BLUES.length - 1)) }));
  const ticks = niceTicks(0, vmax > 0 ? vmax : 1, 5);
  const out: Markup[] = [
    el("defs", {}, el("linearGradient", { id: gradientId, x1: 0, y1: 0, x2: 0, y2: 1 }, ...stops)),
    el("rect", { x, y, width: 12, height: h, fill: `url(#${gradientId})`, stroke: "#444" }),
  ];
  ticks.values.forEach((v, i) => {
    if (v > vmax && vmax > 0) return; // the bar ends at vmax
    const ty = y + h - (v / (vmax > 0 ? vmax : 1)) * h;
    out.push(el("line", { x1: x + 12, y1: ty, x2: x + 15, y2: ty, stroke: "#444" }));
    out.push(text(x + 17, ty + 3.5, ticks.labels[i], { "font-size": 10, class: "bar-tick" }));
  });
  return group(out);
}
