// confusion_matrix.png: counts beside the row-normalised matrix (each row
// sums to 1: the recall of each class on the diagonal), as Ultralytics shows.
import { heatmap } from "./heatmap.js";
import { group, svgDocument, type Markup } from "./svg.js";

/** matrix[true][pred] as two heatmap panels in one SVG document. */
export function confusionSvg(classes: readonly string[], matrix: readonly (readonly number[])[]): Markup {
  if (matrix.length !== classes.length || matrix.some((r) => r.length !== classes.length)) {
    throw new RangeError(`confusion matrix must be ${classes.length}×${classes.length} to match the class names`);
  }
  const normalized = matrix.map((row) => {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (sum > 0 ? v / sum : 0));
  });
  const common = { rowLabels: classes, colLabels: classes, xLabel: "Predicted", yLabel: "True", colorBar: true };
  const counts = heatmap({ ...common, title: "Confusion matrix (counts)", values: matrix, format: (v) => String(Math.round(v)), id: "counts" });
  const norm = heatmap({ ...common, title: "Confusion matrix (normalised)", values: normalized, vmax: 1, format: (v) => (v === 0 ? "0" : v.toFixed(2)), id: "normalized" }, counts.width);
  return svgDocument(counts.width + norm.width, Math.max(counts.height, norm.height), group([counts.markup, norm.markup]));
}
