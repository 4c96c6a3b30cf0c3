// A comparison as text: a table per metric and the verdict line.
import { formatTable, paint, type Cell, type Color } from "../runs/table.js";
import type { Comparison, MetricChange } from "./compare.js";

const value = (v: number | null): string => (v === null ? "-" : v.toFixed(4));
const signed = (v: number, digits: number): string => `${v > 0 ? "+" : v < 0 ? "" : " "}${v.toFixed(digits)}`;
const ASSESSMENT_COLOR: Record<string, Color> = { better: "green", worse: "red" };

function describeSide(label: string, s: Comparison["current"]): string {
  const where = s.source ?? s.file ?? label;
  const epoch = s.kind === "report" ? "kiln val report" : s.epoch === null ? s.kind : `${s.kind} epoch ${s.epoch}`;
  return `${label.padEnd(9)}${where} (${epoch})`;
}

function row(m: MetricChange): Cell[] {
  return [
    m.primary ? `${m.label} *` : m.label,
    value(m.baseline), value(m.current),
    m.change === null ? "-" : signed(m.change, 4),
    m.changePct === null ? "-" : `${signed(m.changePct, 2)}%`,
    m.arrow === null ? "" : { text: `${m.arrow} ${m.assessment}`, color: m.assessment ? ASSESSMENT_COLOR[m.assessment] : undefined },
  ];
}

const points = (p: number): string => `${Number(p.toFixed(4))} point${p === 1 ? "" : "s"}`;

/** "degraded: val accuracy -2.30 points (threshold 1 point)". */
export function verdictLine(c: Comparison): string {
  const m = c.metrics.find((x) => x.key === c.primary) as MetricChange;
  const moved = `${m.label} ${signed(((m.change ?? 0) * 100), 2).trim()} points`;
  const why = c.verdict === "unchanged" ? `within ±${points(c.thresholdPoints)}` : `beyond the ${points(c.thresholdPoints)} threshold`;
  return `${c.verdict}: ${moved} (${why})`;
}

export function formatComparison(c: Comparison, color = false): string {
  const table = formatTable(
    [{ header: "metric" }, { header: "baseline", align: "right" }, { header: "current", align: "right" }, { header: "change", align: "right" }, { header: "change %", align: "right" }, { header: "" }],
    c.metrics.map(row),
    color,
  );
  const verdictColor: Color | undefined = c.verdict === "improved" ? "green" : c.verdict === "degraded" ? "red" : undefined;
  const verdict = verdictLine(c);
  return [
    describeSide("current", c.current),
    describeSide("baseline", c.baseline),
    "",
    table,
    "",
    `verdict  ${paint(verdict, verdictColor, color)}`,
    "(* the metric the verdict is decided on)",
  ].join("\n");
}
