// TensorBoard tracker: each run directory is its own logdir, so
// `tensorboard --logdir runs` lists every run. A resumed run adds a new event
// file beside the old ones; TensorBoard reads them all, in name order.

import type { TrackedRun, TrackedStatus, Tracker } from "../tracker.js";
import { EventFileWriter, type EventFileWriterOptions } from "./event-writer.js";
import { scalarsEvent, textEvent } from "./event.js";

export { EventFileWriter, frameRecord, type EventFileWriterOptions } from "./event-writer.js";
export { crc32c, maskCrc, maskedCrc32c } from "./crc32c.js";

export interface TensorBoardOptions {
  /** Where the one warning goes when the event file cannot be written; default process.emitWarning. */
  warn?: (message: string) => void;
  writer?: EventFileWriterOptions;
}

export class TensorBoardTracker implements Tracker {
  readonly name = "tensorboard";
  private writer: EventFileWriter | null = null;
  private failed = false;
  private readonly warn: (message: string) => void;

  constructor(private readonly options: TensorBoardOptions = {}) {
    this.warn = options.warn ?? ((m) => process.emitWarning(m, { code: "KILN_TENSORBOARD" }));
  }

  /** The event file written so far, or null (tests, `kiln runs`). */
  get eventFile(): string | null {
    return this.writer?.path ?? null;
  }

  start(run: TrackedRun): void {
    this.writer = new EventFileWriter(run.runDir, this.options.writer);
    // The config once per run, as the text plugin's markdown: a resumed run already has it.
    if (!run.resumed && Object.keys(run.params).length > 0) {
      this.guard(() => this.writer?.write(textEvent(run.startedAt / 1000, 0, "args", paramsTable(run.params))));
    }
  }

  logScalars(kind: "epoch" | "step", step: number, scalars: Record<string, number>, timeMs?: number): void {
    if (Object.keys(scalars).length === 0) return;
    this.guard(() => {
      this.writer?.write(scalarsEvent((timeMs ?? Date.now()) / 1000, step, scalars));
      if (kind === "epoch") this.writer?.flush(); // an epoch's curves show up in TensorBoard at once
    });
  }

  logArtifact(_path: string, _artifactDir?: string): void {
    // TensorBoard has no artifact store; the files stay in the run directory.
  }

  async end(_status: TrackedStatus, _endedAt: number): Promise<void> {
    this.guard(() => this.writer?.close());
    this.writer = null;
  }

  /** A tracker never stops training: the first disk error warns once and turns logging off. */
  private guard(write: () => void): void {
    if (this.failed || !this.writer) return;
    try {
      write();
    } catch (err) {
      this.failed = true;
      const writer = this.writer;
      this.writer = null;
      try {
        writer.close();
      } catch {
        // already reported below
      }
      this.warn(
        `kiln: TensorBoard logging stopped (${(err as Error).message}); ` +
          "results.csv in the run directory still has every epoch.",
      );
    }
  }
}

function paramsTable(params: TrackedRun["params"]): string {
  const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
  const rows = Object.entries(params).map(([k, v]) => `| ${cell(k)} | ${cell(v === null ? "null" : String(v))} |`);
  return ["| key | value |", "| --- | --- |", ...rows].join("\n");
}
