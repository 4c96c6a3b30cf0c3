// results.png from results.csv-style rows. Which columns share a panel is a
// table (PanelSpec), so detection can add "val/mAP50" panels without code.
import { lineChartGrid, type LinePanel, type Series } from "./line-chart.js";
import type { Markup } from "./svg.js";

export interface PanelSpec {
  title: string;
  yLabel: string;
  /** Columns drawn in this panel: exact names (in this order) or a pattern (in column order). */
  keys: readonly string[] | RegExp;
}

/** The classification trainer's columns. */
export const CLASSIFY_PANELS: readonly PanelSpec[] = [
  { title: "Loss", yLabel: "loss", keys: ["train/loss", "val/loss"] },
  { title: "Accuracy", yLabel: "accuracy", keys: ["train/acc", "val/acc", "val/top5"] },
  { title: "F1", yLabel: "macro F1", keys: ["val/f1"] },
  { title: "Learning rate", yLabel: "learning rate", keys: /^lr\// },
];

/** Column names in first-seen order across the rows. */
function columns(rows: readonly Record<string, number>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k in r) seen.add(k);
  return [...seen];
}

/** Panels with at least one finite value; x is the "epoch" column, else the row number from 1. */
export function resultsPanels(rows: readonly Record<string, number>[], specs: readonly PanelSpec[] = CLASSIFY_PANELS): LinePanel[] {
  const all = columns(rows);
  const x = rows.map((r, i) => (Number.isFinite(r.epoch) ? r.epoch : i + 1));
  const panels: LinePanel[] = [];
  for (const spec of specs) {
    const keys = Array.isArray(spec.keys) ? spec.keys.filter((k) => all.includes(k)) : all.filter((k) => (spec.keys as RegExp).test(k));
    const series: Series[] = keys
      .map((key) => ({ name: key, x, y: rows.map((r) => (typeof r[key] === "number" ? r[key] : NaN)) }))
      .filter((s) => s.y.some(Number.isFinite));
    if (series.length > 0) panels.push({ title: spec.title, xLabel: "epoch", yLabel: spec.yLabel, series, integerX: true });
  }
  return panels;
}

/** The results figure as SVG (null when no panel has data). */
export function resultsSvg(rows: readonly Record<string, number>[], specs: readonly PanelSpec[] = CLASSIFY_PANELS): Markup | null {
  const panels = resultsPanels(rows, specs);
  return panels.length === 0 ? null : lineChartGrid(panels).svg;
}
