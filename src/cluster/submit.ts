// `kiln train ... --slurm`: the run directory made here, the batch script
// written into it, submitted with sbatch, and the job recorded in run.json
// (status "queued" until the training process starts in the job).
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { TrainConfig } from "../config/index.js";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { createRunDir, writeArgsYaml } from "../train/run-dir.js";
import { KILN_VERSION } from "../train/version.js";
import { JOB_SCRIPT, jobScript, REQUEUED_FROM_ENV } from "./batch-script.js";
import { readRunJson, updateRunJson, type SlurmInfo } from "./launch-record.js";
import { sbatch } from "./slurm.js";
import { parseSlurmOptions } from "./slurm-options.js";

export interface Submitted { runDir: string; jobId: string; script: string }

/** The words of a fresh start in the job: the user's, plus the run directory made here. */
export function trainWordsFor(words: readonly string[], runDir: string): string[] {
  const own = new Set(["name", "project", "exist_ok", "yes"]);
  const kept = words.filter((w) => !own.has((/^(?:--)?([\w-]+)=/.exec(w)?.[1] ?? "").replace(/-/g, "_")));
  return [...kept, `project=${resolve(dirname(runDir))}`, `name=${basename(runDir)}`, "exist_ok=true", "yes=true"];
}

/** The run directory a `--resume` value names (a run directory, a checkpoint in weights/, or true: the newest run). */
export function runDirOfResume(resume: string | true, latest: () => string | undefined): string {
  if (resume === true) {
    const run = latest();
    if (!run) throw new KilnError("--resume alone takes the newest run, and there is none. Fix: --resume RUN_DIR.");
    return run;
  }
  if (!existsSync(resume)) throw new KilnError(`--resume ${resume}: no such run directory or checkpoint.`);
  return resume.endsWith(".safetensors") ? dirname(dirname(resume)) : resume;
}

export function recordSubmission(runDir: string, jobId: string, script: string, requeue: boolean, extra: Record<string, unknown> = {}): SlurmInfo {
  const previous = readRunJson(runDir);
  const old = previous?.slurm as SlurmInfo | undefined;
  const now = new Date().toISOString();
  // A set: the new job may have started (and recorded itself) before this line runs.
  const slurm: SlurmInfo = { job_id: jobId, job_ids: [...new Set([...(old?.job_ids ?? []), jobId])], script, submitted_at: now, requeue };
  updateRunJson(runDir, {
    status: "queued", kiln_version: previous?.kiln_version ?? KILN_VERSION, started_at: previous?.started_at ?? null,
    ended_at: null, heartbeat_at: now, message: `submitted to SLURM as job ${jobId}`, detached: undefined, ...extra, slurm,
  });
  return slurm;
}

/**
 * Submits a training run. `words`: the user's training words (without the
 * launch flags); `resumeDir`: the run to continue (--resume), whose existing
 * script is sent again unless new --slurm options are given.
 */
export function submitTraining(config: TrainConfig, words: readonly string[], rawOptions: Record<string, string>, resumeDir: string | null): Submitted {
  const options = parseSlurmOptions(rawOptions);
  let runDir: string;
  if (resumeDir) {
    runDir = resumeDir;
  } else {
    if (config.quick) throw new KilnError("quick=true is a check on this machine; it does not go to SLURM. Fix: drop quick=true or --slurm.", 2);
    runDir = createRunDir(config.project, config.name, config.exist_ok);
    writeArgsYaml(runDir, config);
  }
  const script = join(runDir, JOB_SCRIPT);
  const reuse = resumeDir !== null && existsSync(script) && Object.keys(rawOptions).length === 0;
  if (!reuse) {
    const trainWords = resumeDir ? ["--resume", resolve(runDir), "yes=true"] : trainWordsFor(words, runDir);
    mkdirSync(runDir, { recursive: true });
    writeFileAtomicSync(script, jobScript({ runDir, cwd: process.cwd(), jobName: `kiln-${basename(runDir)}`, trainWords, options, ranks: config.ranks }));
  }
  let jobId: string;
  try {
    jobId = sbatch(script);
  } catch (err) {
    if (!resumeDir) rmSync(runDir, { recursive: true, force: true }); // nothing was submitted: no empty run left behind
    throw err;
  }
  const old = readRunJson(runDir)?.slurm as SlurmInfo | undefined;
  const from = process.env[REQUEUED_FROM_ENV];
  const message = from ? { message: `SLURM job ${from} reached its time limit; requeued as job ${jobId}` } : {};
  recordSubmission(runDir, jobId, script, reuse ? old?.requeue ?? false : options.requeue, message);
  return { runDir, jobId, script };
}
