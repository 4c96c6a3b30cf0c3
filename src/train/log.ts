// Everything a run prints goes to the terminal and, plain, to the run's
// train.log (so `tail -f` follows a run started elsewhere). Progress bars
// redraw one line on a terminal only; NO_COLOR turns colour off.
import { appendFileSync } from "node:fs";

// eslint-disable-next-line no-control-regex -- matching terminal escape codes is the point
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export class RunLog {
  private file: string | null = null;
  private barShown = false;
  readonly tty: boolean;
  private readonly color: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.tty = out.isTTY === true;
    this.color = this.tty && process.env.NO_COLOR === undefined;
  }

  /** Starts copying lines into `path` (train.log). */
  attach(path: string): void {
    this.file = path;
  }

  line(text = ""): void {
    this.clearBar();
    this.out.write(`${text}\n`);
    if (this.file) appendFileSync(this.file, `${text.replace(ANSI, "")}\n`);
  }

  warn(text: string): void {
    this.line(`${this.color ? "\x1b[33m" : ""}warning: ${text}${this.color ? "\x1b[0m" : ""}`);
  }

  /** Redraws the progress line on a terminal (not written to train.log). */
  bar(text: string): void {
    if (!this.tty) return;
    this.out.write(`\r\x1b[2K${text}`);
    this.barShown = true;
  }

  private clearBar(): void {
    if (this.barShown) this.out.write("\r\x1b[2K");
    this.barShown = false;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A box of lines (title on top), as the summary and results boxes are drawn. */
export function box(title: string, rows: string[]): string {
  const width = Math.max(title.length, ...rows.map((r) => r.length)) + 2;
  return [`┌─ ${title} ${"─".repeat(Math.max(0, width - title.length - 2))}┐`, ...rows.map((r) => `│ ${r.padEnd(width)}│`), `└${"─".repeat(width + 1)}┘`].join("\n");
}
