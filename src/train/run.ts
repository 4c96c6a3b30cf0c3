// A training run from configuration to results box, in the pipeline's order:
// config → data (checked) → model and optimizer → run directory → summary,
// pre-flight and confirmation → train (with callbacks, signals) → results.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline/promises";
import { kernels, manualSeed, Rng } from "../engine/index.js";
import { KilnError } from "../errors.js";
import { DETECT_DEFAULTS, trainConfigSchema, trainDefaults, type TrainConfig } from "../config/index.js";
import { CheckpointSaver, ResultsWriter } from "./artifacts.js";
import type { Callback } from "./callbacks.js";
import { loadCheckpoint, modelFromCheckpoint, type Checkpoint } from "./checkpoint.js";
import { EarlyStopping, TimeBudget } from "./early-stopping.js";
import { Ema } from "./ema.js";
import { GradientGuard } from "./guards.js";
import { HealthWarnings } from "./health.js";
import { box, formatDuration, RunLog } from "./log.js";
import { BIAS_GROUP, buildOptimizer } from "./optimizer-setup.js";
import { preflight } from "./preflight.js";
import { Progress } from "./progress.js";
import { createRunDir, latestRun, RunRecordFile, writeArgsYaml } from "./run-dir.js";
import { LrSchedule } from "./schedule.js";
import { handleInterrupts } from "./signals.js";
import { Tracking } from "./tracking.js";
import { TensorBoardTracker } from "../track/tensorboard/index.js";
import { createMlflowTracker } from "../track/mlflow/index.js";
import type { Tracker } from "../track/tracker.js";
import { baselineVerdictAfterTraining, recordTrainingRun, setBaseline } from "../state/index.js";
import { verdictLine } from "../compare/index.js";
import { Trainer, type EpochRecord, type FitStatus } from "./trainer.js";
import { setupClassify } from "./classify-setup.js";
import { setupDetect } from "./detect-setup.js";
import type { TaskSetup } from "./setup.js";
import type { TrainTask } from "./task.js";
import { FreezeBatchNorm } from "./freeze-bn.js";
import { detectRankEnv } from "../distributed/env.js";
import { joinRanks, rankLog } from "../distributed/join.js";
import { launchRanks } from "../distributed/launcher.js";
import { graceFromEnv, watchTimeLimit } from "../cluster/time-limit.js";

export interface TrainResult {
  status: FitStatus;
  runDir: string;
  weights: { best: string; last: string };
  epochsRun: number;
  bestEpoch: number;
  best: EpochRecord | undefined;
  final: EpochRecord | undefined;
  history: EpochRecord[];
  seconds: number;
  /** Why the run stopped early, when it did. */
  stopReason: string | null;
  /** Interrupted because its SLURM job's time limit was near (the job script resubmits it with requeue=true). */
  timeLimit: boolean;
}

export interface RunHooks {
  log?: RunLog;
  /** The option keys the caller set explicitly (the CLI's words, the API's object keys): on resume, the adjustable ones apply. */
  explicit?: readonly string[];
  /** Ask before a long run; resolves to false to cancel. Default: a [Y/n] prompt on a terminal. */
  confirm?: (question: string) => Promise<boolean>;
}

/**
 * The checkpoint `resume` points at: true (the latest run: under `project`, and
 * under runs/detect too while project is the classification default), a run
 * directory, or a file.
 */
export function resolveResumePath(resume: string | true, project: string): string {
  if (resume === true) {
    const projects = project === trainDefaults().project ? [project, DETECT_DEFAULTS.project as string] : [project];
    const run = latestRun(...projects);
    if (!run) throw new KilnError(`resume=true: no run under ${projects.join(" or ")} has weights/last.safetensors to resume. Fix: pass the run directory or the checkpoint file.`);
    return join(run, "weights", "last.safetensors");
  }
  if (existsSync(resume) && statSync(resume).isDirectory()) {
    const candidates = [join(resume, "weights", "last.safetensors"), join(resume, "last.safetensors")];
    const found = candidates.find((c) => existsSync(c));
    if (!found) throw new KilnError(`the run directory ${resume} has no weights/last.safetensors to resume from.`);
    return found;
  }
  return resume;
}

/** A `kiln train` command that reproduces `config` (its non-default options), with some changed. */
export function trainCommand(config: TrainConfig, changes: Partial<TrainConfig> = {}): string {
  const defaults = trainDefaults() as Record<string, unknown>;
  const merged = { ...config, ...changes } as Record<string, unknown>;
  const parts = Object.entries(merged)
    .filter(([k, v]) => v !== undefined && v !== defaults[k] && k !== "resume" && k !== "yes")
    .map(([k, v]) => `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  return ["kiln train", ...parts].join(" ");
}

/**
 * A resumed run keeps the configuration it started with (that is what makes it
 * exact), except for the budget and machine options, which may change: more
 * `epochs` extend a run (the schedule then plans for the new total).
 */
const RESUME_ADJUSTABLE: readonly (keyof TrainConfig)[] = ["epochs", "patience", "time", "yes", "threads", "workers", "prefetch", "confirm_over", "price_per_hour"];

function resumedConfig(ckpt: Checkpoint, input: TrainConfig, explicit: readonly string[], log: RunLog): TrainConfig {
  const saved = ckpt.training.config as Record<string, unknown>;
  const changes: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const key of explicit) {
    if (key === "resume" || key === "project") continue;
    if ((RESUME_ADJUSTABLE as readonly string[]).includes(key)) changes[key] = input[key as keyof TrainConfig];
    else if (input[key as keyof TrainConfig] !== saved[key]) ignored.push(key);
  }
  if (ignored.length > 0) {
    log.warn(`--resume continues the run with its saved configuration; ignoring ${ignored.join(", ")} (only ${RESUME_ADJUSTABLE.join(", ")} may change)`);
  }
  const config = trainConfigSchema.parse({ ...saved, ...changes, resume: false });
  if (ckpt.training.epoch >= config.epochs) {
    const target = input.resume === true ? "" : ` ${input.resume}`;
    throw new KilnError(`nothing to resume: the run finished all ${config.epochs} epochs. Fix: train it longer with 'kiln train --resume${target} epochs=${config.epochs + 10}', or start a new run.`, 1);
  }
  return config;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  // Ctrl-C at the prompt answers no (readline takes the terminal's SIGINT while it reads).
  const abort = new AbortController();
  rl.on("SIGINT", () => abort.abort());
  try {
    const answer = (await rl.question(question, { signal: abort.signal })).trim().toLowerCase();
    return answer === "" || answer === "y" || answer === "yes";
  } catch {
    return false;
  } finally {
    rl.close();
  }
}

export async function runTraining(input: TrainConfig, hooks: RunHooks = {}): Promise<TrainResult> {
  // ranks > 1: this process may be one rank of an MPI job (mpirun/srun started it); rank 0 alone prints and writes.
  const rankEnv = detectRankEnv();
  const log = hooks.log ?? (rankEnv ? rankLog(rankEnv) : new RunLog());
  const started = performance.now();

  // ---- config (a resumed run takes the checkpoint's)
  let config = input;
  let resumeFrom: Checkpoint | null = null;
  let resumePath = "";
  if (input.resume !== false) {
    resumePath = resolveResumePath(input.resume, input.project);
    resumeFrom = loadCheckpoint(resumePath);
    config = resumedConfig(resumeFrom, input, hooks.explicit ?? [], log);
  }
  // ---- data-parallel: launch the ranks (ranks=N on this machine), or join the job this process is a rank of
  if (!rankEnv && config.ranks > 1) return launchRanks(input, config, hooks.explicit ?? [], resumeFrom ? resumePath : null, log);
  const rank = rankEnv ? joinRanks(config, rankEnv, resumeFrom ? (resumeFrom.training.config as { ranks?: number }).ranks ?? 1 : null) : null;
  if (rank) config = rank.config;
  const writer = !rank || rank.comm.rank === 0;
  const parallel = rank && rank.comm.size > 1 ? rank.parallel : undefined;
  if (config.threads > 0) kernels().setThreads(config.threads);
  else if (rank && rank.threads > 0) kernels().setThreads(rank.threads);
  manualSeed(config.seed);

  // ---- data (checked first), model, loaders: the task's own
  const quick = config.quick;
  const batchLimit = quick ? 2 : undefined;
  const setup: TaskSetup = config.task === "detect" ? await setupDetect(config, resumeFrom, log) as unknown as TaskSetup : await setupClassify(config, resumeFrom, log) as unknown as TaskSetup;
  const { model, classes, modelMeta } = setup;
  const stepsPerEpoch = Math.ceil(Math.min(setup.train.length, batchLimit ?? Infinity) / config.accumulate);
  const opt = buildOptimizer(model, config, stepsPerEpoch);
  const ema = config.ema ? new Ema(setup.makeModel(new Rng(0)), model) : null;

  // ---- run directory
  const newRunDir = (): string => resumeFrom ? dirname(dirname(resumePath)) : rank && process.env.KILN_RUN_DIR ? process.env.KILN_RUN_DIR
    : quick ? mkdtempSync(join(tmpdir(), "kiln-quick-")) : createRunDir(config.project, config.name, config.exist_ok);
  // ranks > 1: rank 0 makes the run directory (or takes the launcher's) and tells the others.
  const runDir = rank ? rank.parallel.first(writer ? newRunDir() : null) ?? "" : newRunDir();
  const weightsDir = join(runDir, "weights");
  if (writer) mkdirSync(weightsDir, { recursive: true });
  if (!resumeFrom && writer) {
    // A reused directory (exist_ok) starts its logs afresh instead of appending to the old run's.
    for (const f of ["results.csv", "metrics.json", "train.log"]) rmSync(join(runDir, f), { force: true });
    writeArgsYaml(runDir, config);
  }
  log.attach(join(runDir, "train.log"));
  const record: Pick<RunRecordFile, "end"> = writer ? new RunRecordFile(runDir, resumeFrom !== null) : { end: () => undefined };

  const warn = (m: string): void => log.warn(m);
  const trackers: Tracker[] = quick || !writer ? [] : [
    ...(config.tensorboard ? [new TensorBoardTracker({ warn })] : []),
    ...(config.mlflow ? [createMlflowTracker({ warn })] : []),
  ];
  const tracking = new Tracking({ runDir, task: setup.task.kind, trackers, plots: config.plots && !quick, resumed: resumeFrom !== null, log });
  const callbacks: Callback[] = [
    new LrSchedule({ lr0: opt.lr0, lrf: config.lrf, epochs: config.epochs, momentum: opt.momentum, warmupEpochs: config.warmup_epochs,
      warmupMomentum: config.warmup_momentum, warmupBiasLr: opt.warmupBiasLr, kind: config.cos_lr ? "cosine" : config.scheduler, biasGroup: BIAS_GROUP }),
    new GradientGuard(config.clip_grad, config.nonfinite_max_fraction),
    ...(ema ? [ema] : []),
    new EarlyStopping(config.patience),
    new TimeBudget(config.time),
    new Progress(),
    new ResultsWriter(runDir),
    tracking,
    new CheckpointSaver(config.save_period),
    new HealthWarnings(),
    ...setup.callbacks,
    ...(config.freeze_bn ? [new FreezeBatchNorm()] : []),
  ].filter((c) => writer || !(c instanceof Progress || c instanceof ResultsWriter || c instanceof CheckpointSaver || c === tracking));
  const trainer = new Trainer({ config: quick ? { ...config, epochs: 1 } : config, model, optimizer: opt.optimizer, task: setup.task, train: setup.train,
    classes, modelMeta, callbacks, ema, log, runDir, weightsDir, batchLimit, parallel });

  // Signals from here on: before the first step they cancel the run (marked
  // interrupted, nothing to resume yet); during training they stop it at a step.
  let fitting = false;
  let interruptedEarly: NodeJS.Signals | null = null;
  const stopSignals = handleInterrupts((signal) => {
    if (!fitting) {
      interruptedEarly = signal;
      log.warn(`${signal}: stopping before training starts`);
      return;
    }
    log.warn(`${signal}: finishing the current step, then saving weights/last.safetensors (press Ctrl-C again to exit at once)`);
    trainer.interrupt();
  }, () => record.end("interrupted", "second signal: exited at once"));
  // In a job written by `kiln train --slurm`: stop `grace` seconds before the job's time limit, as on
  // Ctrl-C. Rank 0 watches; the interrupt reaches the other ranks through the agreed step boundary.
  const slurmLimit = writer ? graceFromEnv() : null;
  const timeLimit = slurmLimit ? watchTimeLimit({ ...slurmLimit, warn, onTimeUp: (left) => {
    log.warn(`SLURM job ${slurmLimit.jobId} ends in ${left} s (grace=${slurmLimit.graceSeconds} s): finishing the current step, then saving weights/last.safetensors`);
    trainer.interrupt();
  } }) : null;
  const cancelIfInterrupted = (): void => {
    if (interruptedEarly === null) return;
    record.end("interrupted", `${interruptedEarly} before training started`);
    throw new KilnError(`cancelled: ${interruptedEarly} before training started.`, 130);
  };

  try {
    // ---- summary, pre-flight, confirmation
    // The retry reuses this run's directory when it was named (it holds only this failed attempt).
    const pf = await preflight(model, setup.train, setup.task, config.imgsz, (s) => trainCommand(config, { ...s, ...(config.name ? { exist_ok: true } : {}) }));
    cancelIfInterrupted();
    const nbVal = Math.min(setup.valBatches, batchLimit ?? Infinity);
    const epochsLeft = (quick ? 1 : config.epochs) - (resumeFrom?.training.epoch ?? 0);
    const estimate = pf.secondsPerBatch * (trainer.batchesPerEpoch + nbVal / 3) * epochsLeft;
    const info = kernels().info();
    const rows = [
      `run        ${runDir}${resumeFrom ? ` (resumed from ${resumePath}, epoch ${resumeFrom.training.epoch + 1}, batch ${resumeFrom.training.batch})` : ""}`,
      `model      ${config.model}: ${(model.numParameters() / 1e6).toFixed(2)} M parameters, input ${pf.inputShape.slice(1).join("×")}, ${classes.length} classes`,
      `data       ${setup.dataLine}`,
      `training   ${quick ? "quick check: 1 epoch" : `${config.epochs} epochs`} × ${trainer.batchesPerEpoch} batches of ${config.batch}, ${opt.name} lr0=${opt.lr0}, ${config.cos_lr ? "cosine" : config.scheduler} to lrf=${config.lrf}, ema=${config.ema}`,
      `machine    ${info.name} kernels (${info.isa}), ${info.threads} threads; a step takes ${pf.secondsPerBatch.toFixed(2)} s, peak memory ${(pf.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
      ...(parallel ? [`ranks      ${parallel.size} processes (${rankEnv?.launcher}, ${rank?.comm.library}), each ${config.batch / parallel.size} images of every batch of ${config.batch}; gradients summed by MPI all-reduce`] : []),
      `estimate   ${formatDuration(estimate)}${config.price_per_hour !== undefined ? `, about ${(config.price_per_hour * estimate / 3600).toFixed(2)} at ${config.price_per_hour}/hour` : ""}`,
      `pre-flight input ✓, output ${pf.output} ✓, initial loss ${pf.initialLoss.toFixed(4)} ✓${setup.expectedLoss ? ` (${setup.expectedLoss})` : ""}, memory ✓`,
    ];
    log.line(box(resumeFrom ? "kiln train — resuming" : "kiln train", rows));
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !process.env.CI;
    if (!config.yes && estimate > config.confirm_over * 60 && (hooks.confirm || interactive)) {
      const go = await (hooks.confirm ?? askOnTerminal)(`Estimated ${formatDuration(estimate)}. Start training? [Y/n] `);
      if (!go) {
        record.end("interrupted", "cancelled at the confirmation");
        throw new KilnError("cancelled: training did not start.", 1);
      }
    }

    cancelIfInterrupted();
    if (resumeFrom) trainer.restore(resumeFrom);
    fitting = true;
    if (writer) tracking.start(config, Date.now());
    const status = await trainer.fit();
    timeLimit?.stop();
    const reduced = rank?.parallel.timings;
    if (reduced && reduced.bucketsDuringBackward > 0) {
      log.line(`all-reduce  ${reduced.bucketsDuringBackward} of ${reduced.buckets} gradient buckets started while backward ran (KILN_DDP_OVERLAP=1)`);
    }
    // Every rank ends fit() with the same status, so all of them reach this collective.
    const timeUp = status === "interrupted" && (parallel ? parallel.first(timeLimit?.fired ? true : null) === true : timeLimit?.fired === true);
    if (writer) await tracking.finish(status === "interrupted" ? "interrupted" : "finished");
    if (timeUp) {
      record.end("interrupted", `time limit: stopped ${slurmLimit?.graceSeconds ?? "grace"} s before the end of SLURM job ${slurmLimit?.jobId ?? process.env.SLURM_JOB_ID}; weights/last.safetensors saved at epoch ${trainer.epoch + 1}, batch ${trainer.batch}`);
      log.line(`time limit: weights/last.safetensors saved at epoch ${trainer.epoch + 1}, batch ${trainer.batch}. With requeue=true the job submits the run again; else resume with:\n  kiln train --resume ${runDir} --slurm`);
    } else if (status === "interrupted") {
      record.end("interrupted");
      log.line(`interrupted: weights/last.safetensors saved at epoch ${trainer.epoch + 1}, batch ${trainer.batch}. Resume with:\n  kiln train --resume ${runDir}`);
    } else {
      record.end("finished", trainer.stopReason ?? undefined);
      if (trainer.stopReason) log.line(trainer.stopReason);
    }
    const result: TrainResult = {
      status, runDir, weights: { best: join(weightsDir, "best.safetensors"), last: join(weightsDir, "last.safetensors") },
      epochsRun: trainer.history.length, bestEpoch: trainer.best.epoch + 1, best: trainer.history.find((h) => h.epoch === trainer.best.epoch),
      final: trainer.history.at(-1), history: trainer.history, seconds: (performance.now() - started) / 1000, stopReason: trainer.stopReason,
      timeLimit: timeUp,
    };
    rank?.done();
    if (!writer) return result;
    if (quick) {
      await quickReport(result, config, log, setup.task);
      rmSync(runDir, { recursive: true, force: true });
    } else if (status !== "interrupted") {
      log.line(resultsBox(result, config, setup.task));
      await recordInPipelineState(result, config, log, hooks);
    }
    return result;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!(err instanceof KilnError && message.startsWith("cancelled"))) record.end("failed", message);
    if (writer) await tracking.finish(message.startsWith("cancelled") ? "interrupted" : "failed");
    // ranks > 1: the other ranks may be waiting in a collective for this one; end them all now.
    if (parallel) rank!.fail(err, runDir);
    throw err;
  } finally {
    timeLimit?.stop();
    stopSignals();
  }
}

/**
 * kiln.state.yaml in the working folder: this run becomes the latest (its best
 * weights are what `kiln val` uses by default); with a baseline set, the
 * comparison and its verdict, and on a terminal the offer to make this run
 * the baseline. The state is a convenience: its trouble only warns.
 */
async function recordInPipelineState(r: TrainResult, config: TrainConfig, log: RunLog, hooks: RunHooks): Promise<void> {
  const cwd = process.cwd();
  try {
    recordTrainingRun(cwd, r.runDir, r.weights.best);
    const comparison = baselineVerdictAfterTraining(cwd, r.runDir);
    if (!comparison) return;
    log.line(`baseline   ${verdictLine(comparison)} (kiln compare ${r.runDir} for the table)`);
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !process.env.CI;
    if (config.yes || !(hooks.confirm || interactive) || comparison.verdict === "degraded") return;
    if (await (hooks.confirm ?? askOnTerminal)(`Make ${r.runDir} the baseline? [Y/n] `)) {
      setBaseline(cwd, r.runDir);
      log.line(`baseline   is now ${r.runDir}`);
    }
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    log.warn(err.message);
  }
}

function resultsBox(r: TrainResult, config: TrainConfig, task: TrainTask<never>): string {
  const fmt = (h: EpochRecord | undefined): string => (h ? task.summarize(h.values) : "-");
  const data = config.data === "synthetic" ? "" : ` --data ${config.data}`;
  return box("results", [
    `duration   ${formatDuration(r.seconds)}, ${r.epochsRun} epochs${r.stopReason ? " (stopped early)" : ""}`,
    `best       epoch ${r.bestEpoch}: ${fmt(r.best)}`,
    `final      epoch ${r.final ? r.final.epoch + 1 : "-"}: ${fmt(r.final)}`,
    `weights    ${r.weights.best}`,
    `           ${r.weights.last}`,
    `logs       ${join(r.runDir, "results.csv")}, ${join(r.runDir, "train.log")}, ${join(r.runDir, "metrics.json")}`,
    "next       kiln val --model " + r.weights.best + data,
    "           kiln predict --model " + r.weights.best + " --source IMAGE_OR_FOLDER --save",
  ]);
}

/** quick=true: what went through the pipeline, and a reload of the checkpoint it wrote. */
async function quickReport(r: TrainResult, config: TrainConfig, log: RunLog, task: TrainTask<never>): Promise<void> {
  const ckpt = loadCheckpoint(r.weights.last);
  const reloaded = modelFromCheckpoint(ckpt).numParameters();
  const h = r.final;
  log.line(box("quick check passed", [
    `data        ${config.data}: batches decoded and augmented ✓`,
    "model       forward, loss, backward, optimizer step ✓",
    `metrics     ${h ? task.describe(h.values) : "-"} on 2 batches ✓`,
    `checkpoint  written (${basename(r.weights.last)}) and reloaded into a fresh ${ckpt.model.architecture} (${reloaded} parameters) ✓`,
    `next        ${trainCommand(config, { quick: false })}`,
  ]));
}
