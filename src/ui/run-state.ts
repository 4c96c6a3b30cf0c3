// One run directory as the dashboard keeps it in memory. Growing files
// (results.csv, the event files) are followed by their new bytes; the small
// files kiln replaces atomically (run.json, args.yaml, metrics.json) are read
// again only when their size, time or inode changed. `poll()` says what changed.
import { readdirSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { RunRecord } from "../runs/liveness.js";
import { readObject, readRecord, type FileProblem, type RunFiles } from "../runs/read-run.js";
import { summarizeRun, type RunSummary } from "../runs/summary.js";
import { LineTail } from "./tail.js";
import { EventFileTail } from "./tfevents.js";

/** The per-step training loss kiln writes to its event files. */
export const STEP_LOSS_TAG = "train/batch_loss";

export interface RunDelta {
  id: string;
  /** results.csv rows added (whole rows only); `header` when it was read for the first time or again. */
  header: string[] | null;
  rows: number[][];
  /** The index of the first of `rows` among all rows: a client that holds fewer has missed some. */
  rowsFrom: number;
  /** [step, loss] points added to the per-step loss. */
  steps: [number, number][];
  /** The index of the first of `steps` among all points. */
  stepsFrom: number;
  /** The series built so far are void (a file was rewritten): the client starts over from `header`/`rows`/`steps`. */
  resetResults: boolean;
  resetSteps: boolean;
  /** Which of the small files changed. */
  changed: ("record" | "config" | "metrics" | "files")[];
}

type SmallFile = "record" | "config" | "metrics";
const SMALL_FILES: Record<SmallFile, string> = { record: "run.json", config: "args.yaml", metrics: "metrics.json" };
const EVENTS_PREFIX = "events.out.tfevents.";

const signature = (s: Stats | null): string => (s ? `${s.ino}:${s.size}:${s.mtimeMs}` : "absent");
const statOrNull = (p: string): Stats | null => {
  try {
    return statSync(p);
  } catch {
    return null;
  }
};

export class RunState {
  header: string[] | null = null;
  rows: number[][] = [];
  readonly steps: { step: number[]; value: number[] } = { step: [], value: [] };
  config: Record<string, unknown> | null = null;
  record: RunRecord | null = null;
  metrics: Record<string, unknown> | null = null;
  private resultsProblem: FileProblem | null = null;
  private readonly problems: Record<SmallFile, FileProblem[]> = { record: [], config: [], metrics: [] };
  private readonly signatures: Record<SmallFile, string> = { record: "", config: "", metrics: "" };
  private readonly resultsTail: LineTail;
  private readonly eventTails = new Map<string, EventFileTail>();
  private fileNames = "";

  constructor(readonly id: string, readonly dir: string) {
    this.resultsTail = new LineTail(join(dir, "results.csv"));
  }

  /** Reads what changed since the last poll (the first poll reads everything). */
  poll(): RunDelta {
    const delta = emptyDelta(this.id);
    for (const kind of Object.keys(SMALL_FILES) as SmallFile[]) {
      const path = join(this.dir, SMALL_FILES[kind]);
      const sig = signature(statOrNull(path));
      if (sig === this.signatures[kind]) continue;
      this.signatures[kind] = sig;
      this.problems[kind] = [];
      if (kind === "record") this.record = readRecord(path, this.problems.record);
      else if (kind === "config") this.config = readObject(path, this.problems.config, (t) => parseYaml(t));
      else this.metrics = readObject(path, this.problems.metrics, JSON.parse);
      delta.changed.push(kind);
    }
    this.pollResults(delta);
    delta.stepsFrom = this.steps.step.length;
    let names: string[] = [];
    try {
      names = readdirSync(this.dir).sort();
    } catch {
      // The folder went away: nothing more to follow.
    }
    const joined = names.join("\n");
    if (joined !== this.fileNames) {
      this.fileNames = joined;
      delta.changed.push("files");
    }
    this.pollEvents(names.filter((n) => n.startsWith(EVENTS_PREFIX)), delta);
    return delta;
  }

  private pollResults(delta: RunDelta): void {
    delta.rowsFrom = this.rows.length;
    const got = this.resultsTail.read();
    if (got === null) return;
    if (got.reset) {
      this.header = null;
      this.rows = [];
      this.resultsProblem = null;
      delta.resetResults = true;
    }
    delta.rowsFrom = this.rows.length;
    for (const line of got.lines) {
      const cells = line.split(",").map((c) => c.trim());
      if (this.header === null) {
        this.header = cells;
        delta.header = cells;
        continue;
      }
      const row = cells.map(Number);
      if (row.length !== this.header.length || row.some((v) => Number.isNaN(v))) {
        this.resultsProblem ??= { file: join(this.dir, "results.csv"), message: "a row does not match the header or holds a non-number" };
        continue;
      }
      this.rows.push(row);
      delta.rows.push(row);
    }
    if (delta.resetResults && delta.header === null) delta.header = this.header;
  }

  private pollEvents(files: string[], delta: RunDelta): void {
    for (const name of files) {
      let tail = this.eventTails.get(name);
      if (!tail) {
        tail = new EventFileTail(join(this.dir, name));
        this.eventTails.set(name, tail);
      }
      const got = tail.read();
      if (got.reset && !delta.resetSteps) {
        // A rewritten event file: rebuild the step series from every file, from their starts.
        this.steps.step.length = 0;
        this.steps.value.length = 0;
        this.eventTails.clear();
        delta.resetSteps = true;
        delta.steps = [];
        delta.stepsFrom = 0;
        this.pollEvents(files, delta);
        return;
      }
      for (const s of got.scalars) {
        if (s.tag !== STEP_LOSS_TAG || !Number.isFinite(s.value)) continue;
        this.steps.step.push(s.step);
        this.steps.value.push(s.value);
        delta.steps.push([s.step, s.value]);
      }
    }
  }

  /** What src/runs reads from a run directory, from memory. */
  files(): RunFiles {
    return {
      dir: this.dir,
      name: this.dir.split(/[\\/]/).at(-1) ?? this.id,
      config: this.config,
      record: this.record,
      metrics: this.metrics,
      results: this.header && !this.resultsProblem ? { header: this.header, rows: this.rows } : null,
      problems: [...this.problems.record, ...this.problems.config, ...this.problems.metrics, ...(this.resultsProblem ? [this.resultsProblem] : [])],
    };
  }

  summary(nowMs = Date.now()): RunSummary & { id: string } {
    return { id: this.id, ...summarizeRun(this.files(), nowMs) };
  }
}

export const isEmptyDelta = (d: RunDelta): boolean =>
  d.rows.length === 0 && d.steps.length === 0 && d.header === null && !d.resetResults && !d.resetSteps && d.changed.length === 0;

export const emptyDelta = (id: string): RunDelta => ({ id, header: null, rows: [], rowsFrom: 0, steps: [], stepsFrom: 0, resetResults: false, resetSteps: false, changed: [] });
