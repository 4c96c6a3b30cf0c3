// Plain aligned text tables for terminals and CI logs. Colour is optional
// and added after padding, so escape codes never upset the alignment; the
// caller decides (useColor) and logs stay free of escape codes.

export type Color = "green" | "red" | "yellow" | "dim";
export type Cell = string | { text: string; color?: Color };
export interface Column { header: string; align?: "left" | "right" }

const CODES: Record<Color, string> = { green: "32", red: "31", yellow: "33", dim: "2" };

/** Colour on a terminal only, and never with NO_COLOR set (as the training log does). */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  return stream.isTTY === true && process.env.NO_COLOR === undefined;
}

export function paint(text: string, color: Color | undefined, enabled: boolean): string {
  return enabled && color ? `\x1b[${CODES[color]}m${text}\x1b[0m` : text;
}

const textOf = (c: Cell): string => (typeof c === "string" ? c : c.text);

/** Columns separated by two spaces; trailing spaces trimmed. */
export function formatTable(columns: Column[], rows: Cell[][], color = false): string {
  const widths = columns.map((col, i) => Math.max(col.header.length, ...rows.map((r) => textOf(r[i] ?? "").length)));
  const line = (cells: Cell[]): string => columns
    .map((col, i) => {
      const cell = cells[i] ?? "";
      const text = textOf(cell);
      const padded = col.align === "right" ? text.padStart(widths[i]) : text.padEnd(widths[i]);
      return paint(padded, typeof cell === "string" ? undefined : cell.color, color);
    })
    .join("  ")
    .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join("\n");
}
