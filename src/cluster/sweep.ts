// `kiln sweep sweep.yaml`: trials over config keys (a grid, or seeded random
// draws), each trial its own run directory under runs/<sweep>/trialN, run one
// after another here, or as one SLURM job array (--slurm). The sweep ends with
// a table of the trials sorted by the task's fitness metric.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { resolveTrainConfig, typeCliValue, type RawOptions, type TrainConfig } from "../config/index.js";
import { metricSpecs, primaryMetric, type Task } from "../compare/metric-specs.js";
import { Rng } from "../engine/rng.js";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { readRunFiles } from "../runs/read-run.js";
import { slurmLookup } from "../runs/scheduler.js";
import { bestSnapshot, summarizeRun } from "../runs/summary.js";
import { formatTable, type Cell } from "../runs/table.js";
import { createRunDir, writeArgsYaml } from "../train/run-dir.js";
import { JOB_SCRIPT, jobScript, KILN_JS, sbatchLines, tasksPerNode } from "./batch-script.js";
import { shellQuote } from "./launch-args.js";
import { recordSubmission, trainWordsFor } from "./submit.js";
import { sbatch } from "./slurm.js";
import { parseSlurmOptions, type SlurmOptions } from "./slurm-options.js";

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const range = z.object({ min: z.number(), max: z.number(), log: z.boolean().default(false), int: z.boolean().default(false) }).strict();
export const sweepSpecSchema = z.object({
  name: z.string().regex(/^[\w.-]+$/).optional().describe("the sweep's folder under runs/ (default sweep, sweep2, …)"),
  method: z.enum(["grid", "random"]).default("grid"),
  seed: z.number().int().default(0).describe("random: the draws' seed"),
  budget: z.number().int().min(1).optional().describe("at most this many trials (grid: the first ones; random: required)"),
  fixed: z.record(z.string(), scalar).default({}).describe("config keys every trial shares"),
  parameters: z.record(z.string(), z.union([z.array(scalar).min(1), range])).describe("key: [values] (grid or random choice), or {min, max, log, int} (random)"),
  slurm: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}).describe("the --slurm options of the job array"),
}).strict();
export type SweepSpec = z.infer<typeof sweepSpecSchema>;
export type Trial = Record<string, string | number | boolean>;

export function readSweepSpec(path: string): SweepSpec {
  if (!existsSync(path)) throw new KilnError(`${path} does not exist. Fix: give the sweep's YAML file (see 'kiln sweep --help').`, 2);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new KilnError(`${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}.`, 2);
  }
  const r = sweepSpecSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new KilnError(`${path}: ${issue.path.join(".") || "(top)"}: ${issue.message}. Fix: see 'kiln sweep --help' for the format.`, 2);
  }
  if (r.data.method === "random" && r.data.budget === undefined) throw new KilnError(`${path}: budget: a random sweep needs a budget (the number of trials).`, 2);
  if (r.data.method === "grid") {
    const bad = Object.entries(r.data.parameters).find(([, v]) => !Array.isArray(v));
    if (bad) throw new KilnError(`${path}: parameters.${bad[0]}: a grid takes a list of values. Fix: [a, b, c], or method: random for {min, max}.`, 2);
  }
  return r.data;
}

/** The trials: the grid's combinations (the last key varying fastest), or `budget` seeded draws. */
export function expandTrials(spec: SweepSpec): Trial[] {
  const keys = Object.keys(spec.parameters);
  if (spec.method === "grid") {
    let trials: Trial[] = [{}];
    for (const key of keys) {
      const values = spec.parameters[key] as (string | number | boolean)[];
      trials = trials.flatMap((t) => values.map((v) => ({ ...t, [key]: v })));
    }
    return trials.slice(0, spec.budget ?? trials.length);
  }
  const rng = new Rng(spec.seed);
  return Array.from({ length: spec.budget ?? 1 }, () => {
    const t: Trial = {};
    for (const key of keys) {
      const p = spec.parameters[key];
      if (Array.isArray(p)) t[key] = p[Math.min(p.length - 1, Math.floor(rng.uniform() * p.length))];
      else {
        const u = rng.uniform();
        let v = p.log ? Math.exp(Math.log(p.min) + u * (Math.log(p.max) - Math.log(p.min))) : p.min + u * (p.max - p.min);
        v = p.int ? Math.round(v) : Number(v.toPrecision(4));
        t[key] = v;
      }
    }
    return t;
  });
}

const wordsOf = (values: Record<string, string | number | boolean>): string[] => Object.entries(values).map(([k, v]) => `${k}=${String(v)}`);

/** Validates a trial's config as `kiln train` would (typos and bad values stop the sweep before anything runs). */
function trialConfig(spec: SweepSpec, trial: Trial): TrainConfig {
  const overrides: RawOptions = {};
  for (const [k, v] of Object.entries({ ...spec.fixed, ...trial })) overrides[k] = typeCliValue(k, String(v));
  return resolveTrainConfig({ overrides });
}

export interface SweepPlan { dir: string; trials: { dir: string; values: Trial; words: string[] }[] }

export function planSweep(spec: SweepSpec, logdir = "runs"): SweepPlan {
  const trials = expandTrials(spec);
  const configs = trials.map((t) => trialConfig(spec, t));
  const dir = createRunDir(logdir, spec.name, true, "sweep");
  const planned = trials.map((values, i) => {
    const runDir = createRunDir(dir, `trial${i + 1}`, false);
    writeArgsYaml(runDir, configs[i]);
    return { dir: runDir, values, words: trainWordsFor(wordsOf({ ...spec.fixed, ...values }), runDir) };
  });
  writeFileAtomicSync(join(dir, "sweep.json"), `${JSON.stringify({ spec, trials: planned.map((t) => ({ dir: basename(t.dir), values: t.values })) }, null, 2)}\n`);
  return { dir, trials: planned };
}

/** Here, one trial after another (each a `kiln train` process, its output on this terminal). A Ctrl-C stops the trial and the sweep. */
export function runSweepLocally(plan: SweepPlan): void {
  let stopped = false;
  const onSignal = (): void => { stopped = true; };
  process.on("SIGINT", onSignal);
  try {
    for (const [i, t] of plan.trials.entries()) {
      if (stopped) break;
      console.log(`\n=== trial ${i + 1}/${plan.trials.length}: ${wordsOf(t.values).join(" ")}`);
      const r = spawnSync(process.execPath, [KILN_JS, "train", ...t.words], { stdio: "inherit", env: { ...process.env, CI: "1" } });
      if (r.signal === "SIGINT" || r.status === 130) stopped = true;
    }
  } finally {
    process.off("SIGINT", onSignal);
  }
}

/** The SLURM array script: element N runs trialN's own job.sbatch (which also stands alone: sbatch it to redo one trial). */
export function submitSweepArray(plan: SweepPlan, spec: SweepSpec): string {
  const raw = Object.fromEntries(Object.entries(spec.slurm).map(([k, v]) => [k, String(v)]));
  const options: SlurmOptions = parseSlurmOptions(raw);
  for (const t of plan.trials) {
    writeFileAtomicSync(join(t.dir, JOB_SCRIPT), jobScript({ runDir: t.dir, cwd: process.cwd(), jobName: `kiln-${basename(t.dir)}`, trainWords: t.words, options, ranks: 1 }));
  }
  const dir = resolve(plan.dir);
  const script = join(dir, "sweep.sbatch");
  writeFileAtomicSync(script, `#!/bin/bash
# kiln sweep ${basename(dir)}: a SLURM job array, element N = ${dir}/trialN/${JOB_SCRIPT}
#SBATCH --job-name=kiln-${basename(dir)}
#SBATCH --array=1-${plan.trials.length}
#SBATCH --output=${shellQuote(dir)}/trial%a/slurm-%A_%a.out
#SBATCH --chdir=${shellQuote(process.cwd())}
${sbatchLines(options, tasksPerNode(options, 1)).join("\n")}
exec bash ${shellQuote(dir)}/trial"$SLURM_ARRAY_TASK_ID"/${JOB_SCRIPT}
`);
  const arrayId = sbatch(script);
  plan.trials.forEach((t, i) => recordSubmission(t.dir, `${arrayId}_${i + 1}`, script, options.requeue));
  return arrayId;
}

export interface TrialRow { trial: string; dir: string; status: string; values: Trial; metric: number | null; metrics: Record<string, number> }
export interface SweepReport { dir: string; task: string; metric: string; trials: TrialRow[] }

/** The trials sorted by the task's fitness metric (best first; trials without metrics last). */
export function sweepReport(dir: string): SweepReport {
  const path = join(dir, "sweep.json");
  if (!existsSync(path)) throw new KilnError(`${dir} is not a sweep folder (no sweep.json). Fix: give the folder 'kiln sweep' printed (runs/sweep, …).`, 2);
  const saved = JSON.parse(readFileSync(path, "utf8")) as { trials: { dir: string; values: Trial }[] };
  const files = saved.trials.map((t) => readRunFiles(join(dir, t.dir)));
  const lookup = slurmLookup(files.map((f) => f.record));
  const summaries = files.map((f) => summarizeRun(f, Date.now(), undefined, lookup));
  const task = summaries[0]?.task ?? "classify";
  const spec = primaryMetric((task === "detect" ? "detect" : "classify") as Task);
  const rows = saved.trials.map((t, i): TrialRow => {
    const snap = bestSnapshot(files[i], "best");
    return { trial: t.dir, dir: join(dir, t.dir), status: summaries[i].statusLabel, values: t.values, metric: snap?.values[spec.key] ?? null, metrics: snap?.values ?? {} };
  });
  const sign = spec.higherIsBetter ? -1 : 1;
  rows.sort((a, b) => (a.metric === null ? 1 : b.metric === null ? -1 : sign * (a.metric - b.metric)));
  return { dir, task, metric: spec.key, trials: rows };
}

export function formatSweepReport(r: SweepReport, color = false): string {
  const keys = [...new Set(r.trials.flatMap((t) => Object.keys(t.values)))];
  const metrics = metricSpecs(r.task as Task).filter((m) => r.trials.some((t) => t.metrics[m.key] !== undefined));
  const rows = r.trials.map((t, i): Cell[] => [String(i + 1), t.trial, t.status, ...keys.map((k) => String(t.values[k] ?? "-")),
    ...metrics.map((m): Cell => (t.metrics[m.key] === undefined ? "-" : i === 0 && m.key === r.metric ? { text: t.metrics[m.key].toFixed(4), color: "green" } : t.metrics[m.key].toFixed(4)))]);
  const table = formatTable([{ header: "rank" }, { header: "trial" }, { header: "status" }, ...keys.map((k) => ({ header: k })),
    ...metrics.map((m) => ({ header: `best ${m.label}`, align: "right" as const }))], rows, color);
  const done = r.trials.filter((t) => t.metric !== null).map((t) => t.dir);
  return `sweep ${r.dir}: ${r.trials.length} trials, sorted by ${r.metric}\n${table}${done.length >= 2 ? `\n\nside by side: kiln runs compare ${done.slice(0, 3).join(" ")}` : ""}`;
}


