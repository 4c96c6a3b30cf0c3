// kiln.state.yaml in the working folder: what the pipeline has done (stages
// completed, the latest run and its best weights, the baseline), so the next
// command knows its defaults. Paths are stored relative to that folder when
// they lie inside it, so the folder can be moved or checked into git.
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { LineCounter, parseDocument, stringify, type Document } from "yaml";
import { z } from "zod";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { metricsFileOf } from "../compare/load.js";

export const STATE_FILE = "kiln.state.yaml";

type Scalar = string | number | boolean | null;

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const stageSchema = z.looseObject({ completed_at: z.string(), run: z.string().optional() }).catchall(scalar);
const baselineSchema = z.object({ run: z.string(), metrics: z.string(), set_at: z.string() });
// Loose: keys a newer kiln adds survive a rewrite by this one.
const stateSchema = z.looseObject({
  stages: z.record(z.string(), stageSchema).default({}),
  latest_run: z.string().optional(),
  latest_best_weights: z.string().optional(),
  baseline: baselineSchema.optional(),
});

export type StageRecord = z.infer<typeof stageSchema>;
export type BaselineRecord = z.infer<typeof baselineSchema>;
export type PipelineState = z.infer<typeof stateSchema>;
/** What a stage records besides its time: the run it used and any scalar facts (split, verdict…). */
export type StageInfo = { run?: string; completed_at?: string } & Record<string, Scalar | undefined>;

/**
 * A kiln.state.yaml that cannot be read. Warning-level: a command that only
 * wanted a default from it should print the message and carry on; the file is
 * never overwritten while it is broken.
 */
export class PipelineStateError extends KilnError {
  override name = "PipelineStateError";
  readonly level = "warning";
  constructor(message: string) {
    super(message, 2);
  }
}

export function statePath(cwd = "."): string {
  return join(cwd, STATE_FILE);
}

/** `p` (relative to cwd, or absolute) as stored: relative to cwd when inside it. */
function toStored(cwd: string, p: string): string {
  const rel = relative(resolve(cwd), resolve(cwd, p));
  if (rel === "") return ".";
  return rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? resolve(cwd, p) : rel.split(sep).join("/");
}

/** A stored path as the caller can open it: unchanged when cwd is the process's folder. */
export function fromStored(cwd: string, p: string): string {
  return isAbsolute(p) || resolve(cwd) === process.cwd() ? p : join(cwd, p);
}

function lineOf(doc: Document, counter: LineCounter, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return counter.linePos(node.range[0]).line;
  }
  return 1;
}

function malformed(file: string, line: number, what: string): PipelineStateError {
  return new PipelineStateError(`${file} line ${line}: ${what}. Fix: correct line ${line}, or delete ${file} (kiln writes it again; the recorded baseline would need 'kiln compare --set-baseline RUN').`);
}

/** The state of the pipeline in `cwd`; an empty state when there is no file. Throws PipelineStateError when it is malformed. */
export function readPipelineState(cwd = "."): PipelineState {
  const file = statePath(cwd);
  if (!existsSync(file)) return { stages: {} };
  const counter = new LineCounter();
  const doc = parseDocument(readFileSync(file, "utf8"), { lineCounter: counter });
  const err = doc.errors[0];
  if (err) throw malformed(file, err.linePos?.[0].line ?? 1, `not valid YAML (${err.message.split("\n")[0]})`);
  const raw: unknown = doc.toJS() ?? {};
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.filter((k): k is string | number => typeof k !== "symbol");
    const key = path.length ? path.join(".") : "the file";
    throw malformed(file, lineOf(doc, counter, path), `${key}: ${issue.message.replace(/^Invalid input: /, "")}`);
  }
  return parsed.data;
}

/** Writes the whole state atomically (a reader sees the old or the new file, never half of one). */
export function writePipelineState(cwd: string, state: PipelineState): void {
  const body = stringify(JSON.parse(JSON.stringify(state)) as unknown);
  writeFileAtomicSync(statePath(cwd), `# kiln pipeline state: written by kiln train, val, compare…; safe to delete.\n${body}`);
}

function update(cwd: string, change: (s: PipelineState) => void): PipelineState {
  const state = readPipelineState(cwd);
  change(state);
  writePipelineState(cwd, state);
  return state;
}

/** A stage finished (train, val, export, compare…): its time, the run it used, and any facts worth keeping. */
export function recordStage(cwd: string, stage: string, info: StageInfo = {}): PipelineState {
  return update(cwd, (s) => {
    const record: StageRecord = { completed_at: info.completed_at ?? new Date().toISOString() };
    for (const [k, v] of Object.entries(info)) if (v !== undefined && k !== "completed_at") record[k] = v;
    if (info.run !== undefined) record.run = toStored(cwd, info.run);
    s.stages = { ...s.stages, [stage]: record };
  });
}

/** A training run finished: the train stage, the latest run and the weights later commands default to. */
export function recordTrainingRun(cwd: string, runDir: string, bestWeights: string): PipelineState {
  return update(cwd, (s) => {
    const run = toStored(cwd, runDir);
    s.stages = { ...s.stages, train: { completed_at: new Date().toISOString(), run } };
    s.latest_run = run;
    s.latest_best_weights = toStored(cwd, bestWeights);
  });
}

/** Records `run` (a run directory or a metrics file, relative to cwd) as the baseline; its metrics must exist. */
export function setBaseline(cwd: string, run: string): BaselineRecord {
  const metrics = metricsFileOf(resolve(cwd, run));
  const baseline: BaselineRecord = { run: toStored(cwd, run), metrics: toStored(cwd, metrics), set_at: new Date().toISOString() };
  update(cwd, (s) => {
    s.baseline = baseline;
  });
  return baseline;
}

/**
 * The weights `kiln val` / `kiln predict` use when --model is absent: the
 * latest best weights, or null when none is recorded. A recorded file that is
 * gone is an error naming it (exit 1): silently using nothing would confuse.
 */
export function defaultModelFromState(cwd = "."): { path: string; note: string } | null {
  const state = readPipelineState(cwd);
  if (!state.latest_best_weights) return null;
  const path = fromStored(cwd, state.latest_best_weights);
  if (!existsSync(path)) {
    throw new KilnError(`${statePath(cwd)} names the latest best weights ${path}, which no longer exist. Fix: pass --model WEIGHTS, or train again.`);
  }
  return { path, note: `using the latest best weights ${path} (from ${STATE_FILE})` };
}
