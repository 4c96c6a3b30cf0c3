// experiment_log.json in a run directory: the run's config, a summary of its
// results, its weights and the notes people add (`kiln runs note`). The config
// and results are refreshed at each note; the notes are only ever appended.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { readRunFiles } from "./read-run.js";
import { bestSnapshot, summarizeRun } from "./summary.js";

export interface Note { time: string; text: string }

export interface ExperimentLog {
  run: string;
  name: string;
  task: string;
  config: Record<string, unknown> | null;
  results: {
    status: string;
    epochs: number | null;
    best_epoch: number | null;
    best: Record<string, number> | null;
    final: Record<string, number> | null;
  };
  weights: { best: string | null; last: string | null };
  notes: Note[];
  updated_at: string;
}

export const EXPERIMENT_LOG = "experiment_log.json";

/** The notes of a run (empty when it has no log); a malformed log is an error (exit 2), never silently replaced. */
export function readNotes(runDir: string): Note[] {
  const path = join(runDir, EXPERIMENT_LOG);
  if (!existsSync(path)) return [];
  let log: unknown;
  try {
    log = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new KilnError(`${path} is not valid JSON (${(err as Error).message}). Fix: repair it, or move it away to start a new log (its notes would be lost).`, 2);
  }
  const notes = (log as { notes?: unknown } | null)?.notes;
  if (!Array.isArray(notes) || notes.some((n) => typeof n?.text !== "string" || typeof n?.time !== "string")) {
    throw new KilnError(`${path} has no valid "notes" list ([{"time": …, "text": …}]). Fix: repair it, or move it away to start a new log.`, 2);
  }
  return notes as Note[];
}

/** Appends a note to the run's experiment_log.json (created when missing), atomically. */
export function appendNote(runDir: string, text: string, now = new Date()): ExperimentLog {
  if (text.trim() === "") throw new KilnError("the note is empty. Fix: kiln runs note RUN \"what you want to remember\".", 2);
  const notes = readNotes(runDir);
  const files = readRunFiles(runDir);
  const summary = summarizeRun(files, now.getTime());
  const best = bestSnapshot(files, "best");
  const final = bestSnapshot(files, "final");
  const weight = (name: string): string | null => (existsSync(join(runDir, "weights", name)) ? join(runDir, "weights", name) : null);
  const log: ExperimentLog = {
    run: runDir,
    name: summary.name,
    task: summary.task,
    config: files.config,
    results: { status: summary.statusLabel, epochs: summary.epochsDone, best_epoch: best?.epoch ?? null, best: best?.values ?? null, final: final?.values ?? null },
    weights: { best: weight("best.safetensors"), last: weight("last.safetensors") },
    notes: [...notes, { time: now.toISOString(), text: text.trim() }],
    updated_at: now.toISOString(),
  };
  writeFileAtomicSync(join(runDir, EXPERIMENT_LOG), `${JSON.stringify(log, null, 2)}\n`);
  return log;
}
