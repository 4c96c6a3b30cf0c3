// Plots of a run: SVG drawings (shared with the dashboard) rasterised to the
// run directory's PNG files. Called every epoch, so both stay cheap.
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import { confusionSvg } from "./confusion.js";
import { svgToPng } from "./render.js";
import { CLASSIFY_PANELS, resultsSvg, type PanelSpec } from "./results.js";

/** Writes runDir/results.png from results.csv-style rows; nothing when no panel has data. Returns whether it wrote. */
export async function writeResultsPlot(
  runDir: string,
  rows: readonly Record<string, number>[],
  panels: readonly PanelSpec[] = CLASSIFY_PANELS,
): Promise<boolean> {
  const svg = resultsSvg(rows, panels);
  if (svg === null) return false;
  await writeFileAtomic(join(runDir, "results.png"), await svgToPng(svg));
  return true;
}

/** Writes runDir/confusion_matrix.png: counts and row-normalised, matrix[true][pred]. */
export async function writeConfusionPlot(
  runDir: string,
  classes: readonly string[],
  matrix: readonly (readonly number[])[],
): Promise<void> {
  await writeFileAtomic(join(runDir, "confusion_matrix.png"), await svgToPng(confusionSvg(classes, matrix)));
}

export { confusionSvg } from "./confusion.js";
export { blues, heatmap, heatmapLayout, type HeatmapLayout, type HeatmapSpec } from "./heatmap.js";
export { linePanel, lineChartGrid, PALETTE, type GridOptions, type LinePanel, type Series } from "./line-chart.js";
export { svgToPng } from "./render.js";
export { CLASSIFY_PANELS, resultsPanels, resultsSvg, type PanelSpec } from "./results.js";
export { el, escapeXml, FONT_FAMILY, group, svgDocument, text, textNode, type Attrs, type Markup } from "./svg.js";
export { niceTicks, tickLabels, type Ticks } from "./ticks.js";
