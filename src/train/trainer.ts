// The training loop: epochs of train then validate, callbacks at each moment,
// a checkpoint at each epoch end and on interruption. The loop's position
// (epoch, batch, iteration) and the epoch's running sums are all the state it
// has besides the model, optimizer and callbacks, and all of it is saved, so
// a resumed run continues bit for bit.
import { defaultRng, mul, tidy, type LeafDone, type Tensor } from "../engine/index.js";
import type { AnyModule } from "../nn/index.js";
import type { AnyOptimizer, OptimizerStateDict } from "../optim/index.js";
import type { TrainConfig } from "../config/index.js";
import type { Callback, JsonValue } from "./callbacks.js";
import { saveCheckpoint, tensorsUnder, type Checkpoint, type ModelMeta } from "./checkpoint.js";
import type { Ema } from "./ema.js";
import type { RunLog } from "./log.js";
import type { EpochStats, Evaluation, TrainTask } from "./task.js";
import { KILN_VERSION } from "./version.js";

export type { EpochStats } from "./task.js";

/** What each epoch measured, as the callbacks see it at validation's end. */
export interface EpochMetrics {
  epoch: number;
  lr: number[];
  fitness: number;
  /** results.csv's columns of the epoch (besides epoch, time and lr): "train/loss", "val/acc", … */
  values: Record<string, number>;
  /** The task's full validation metrics (ClassificationMetrics, DetectionMetrics). */
  detail: unknown;
}

/** What the Trainer needs of a data loader. */
export interface BatchSource<B> {
  readonly length: number;
  epoch(epoch: number, start?: number): AsyncIterableIterator<B>;
}

/**
 * Data-parallel training's part in the loop (src/distributed): one process per
 * rank, each training on its slice of every batch. Every method is a
 * collective that all ranks reach at the same point of the loop.
 */
export interface Parallel {
  readonly rank: number;
  readonly size: number;
  /** Sums every rank's gradients into each rank's `.grad` and averages the buffers (batch-norm running statistics); returns whether any rank asked to interrupt. */
  reduceGradients(params: readonly Tensor[], buffers: readonly Tensor[], interrupt: boolean): boolean;
  /** The first non-null value in rank order: how ranks agree on a stop or an interrupt. */
  first<T extends JsonValue>(value: T | null): T | null;
  /** Every rank's epoch sums added up. */
  sumStats(stats: EpochStats): EpochStats;
  /** Optional overlap: a hook for the last backward before reduceGradients, told of each gradient as backward finishes it (null: none). */
  backwardHook?(params: readonly Tensor[], buffers: readonly Tensor[]): LeafDone | null;
}

/** A row of history: what each epoch measured (epoch 0-based; time: seconds since the run started). */
export interface EpochRecord {
  epoch: number;
  time: number;
  lr: number[];
  fitness: number;
  values: Record<string, number>;
}

export interface TrainerParts<B extends { size: number }> {
  config: TrainConfig;
  model: AnyModule;
  optimizer: AnyOptimizer;
  task: TrainTask<B>;
  train: BatchSource<B>;
  classes: string[];
  modelMeta: ModelMeta;
  callbacks: Callback[];
  /** The EMA callback when ema=true (validation uses its weights). */
  ema: Ema | null;
  log: RunLog;
  runDir: string;
  weightsDir: string;
  /** quick=true: at most this many batches of each epoch (train and val). */
  batchLimit?: number;
  /** ranks > 1: this process is one rank of a data-parallel job (only rank 0 writes checkpoints). */
  parallel?: Parallel;
}

export type FitStatus = "finished" | "stopped" | "interrupted";

export class Trainer<B extends { size: number } = { size: number }> {
  readonly config: TrainConfig;
  readonly model: AnyModule;
  readonly task: TrainTask<B>;
  readonly log: RunLog;
  epoch = 0;
  /** The batch being trained (or next to train) in the current epoch. */
  batch = 0;
  /** Batches trained since the start of the run (warmup counts these). */
  iteration = 0;
  epochStats: EpochStats = { seen: 0, sums: {} };
  /** The last batch's loss (NaN when it was not finite): what trackers log per step. */
  lastLoss = NaN;
  history: EpochRecord[] = [];
  /** The metrics of the epoch validated last (what callbacks at the epoch's end report). */
  lastMetrics: EpochMetrics | null = null;
  best = { fitness: -Infinity, epoch: -1 };
  /** The epoch this process started at (for ETAs), and the run time before it. */
  startEpoch = 0;
  elapsedAtStart = 0;
  /** Why the run stops after this epoch (early stopping), if it does. */
  stopReason: string | null = null;
  /** Set by a signal: stop at the next optimizer-step boundary and save. */
  private interruptRequested = false;
  /** ranks > 1: the interrupt every rank agreed on at the last optimizer step. */
  private interruptAgreed = false;
  /** True from the end of an epoch's validation until the next epoch: a checkpoint then points at the next epoch. */
  private epochDone = false;
  private readonly startedAt = performance.now();
  private readonly parts: TrainerParts<B>;

  constructor(parts: TrainerParts<B>) {
    this.parts = parts;
    this.config = parts.config;
    this.model = parts.model;
    this.task = parts.task;
    this.log = parts.log;
  }

  get batchesPerEpoch(): number {
    return Math.min(this.parts.train.length, this.parts.batchLimit ?? Infinity);
  }

  elapsedSeconds(): number {
    return this.elapsedAtStart + (performance.now() - this.startedAt) / 1000;
  }

  requestStop(reason: string): void {
    this.stopReason = reason;
  }

  interrupt(): void {
    this.interruptRequested = true;
  }

  /** Sets each parameter group's lr and momentum (Adam's beta1). */
  setOptimizerHyper(f: (groupIndex: number) => { lr: number; momentum: number }): void {
    this.parts.optimizer.paramGroups.forEach((g, i) => {
      const { lr, momentum } = f(i);
      g.lr = lr;
      if ("momentum" in g) g.momentum = momentum;
      else g.betas = [momentum, g.betas[1]];
    });
  }

  private each(hook: (c: Callback) => void): void {
    for (const c of this.parts.callbacks) hook(c);
  }

  async fit(): Promise<FitStatus> {
    const { config } = this;
    try {
      this.each((c) => c.onFitStart(this));
      for (; this.epoch < config.epochs; this.epoch++) {
        if (this.batch === 0) this.each((c) => c.onTrainEpochStart(this));
        await this.trainEpoch();
        if (this.agree(this.interruptRequested)) {
          this.gatherEpochStats();
          this.saveCheckpoint("last");
          return "interrupted";
        }
        this.gatherEpochStats();
        const metrics = this.recordEpoch(await this.validate());
        this.each((c) => c.onValidationEnd(this, metrics));
        this.batch = 0;
        this.epochStats = { seen: 0, sums: {} };
        this.epochDone = true;
        this.each((c) => c.onTrainEpochEnd(this));
        this.epochDone = false;
        if (this.agree(this.interruptRequested)) return "interrupted";
        if (this.parts.parallel) this.stopReason = this.parts.parallel.first(this.stopReason);
        if (this.stopReason) return "stopped";
      }
      this.each((c) => c.onFitEnd(this));
      return "finished";
    } catch (err) {
      this.each((c) => c.onException(this, err));
      throw err;
    }
  }

  private async trainEpoch(): Promise<void> {
    const { config, model, parts } = this;
    const nb = this.batchesPerEpoch;
    if (this.batch >= nb) return;
    model.train();
    for await (const b of parts.train.epoch(this.epoch, this.batch)) {
      this.each((c) => c.onTrainBatchStart(this));
      // ranks > 1: this rank's slice of the global batch; its loss is weighted by slice/global so the
      // ranks' summed gradients are those of the mean loss over the global batch.
      const globalSize = parts.parallel ? (b as { globalSize?: number }).globalSize ?? b.size : b.size;
      const share = b.size / globalSize;
      const stepBoundary = (this.batch + 1) % config.accumulate === 0 || this.batch + 1 === nb;
      // ranks > 1 with overlap: the gradients' all-reduce starts during the backward before the step.
      const onLeafDone = stepBoundary ? parts.parallel?.backwardHook?.(model.parameters(), model.namedBuffers().map(([, t]) => t)) ?? undefined : undefined;
      const loss = b.size === 0 ? 0 : tidy(() => {
        const r = this.task.step(model, b);
        if (!Number.isFinite(r.value)) return r.value;
        // A global share's items add up over the ranks to the global batch's means: weighted by the global batch.
        const sums = this.epochStats.sums;
        const weight = r.globalShare ? globalSize : b.size;
        for (const [k, v] of Object.entries(r.items)) sums[k] = (sums[k] ?? 0) + v * weight;
        this.epochStats.seen += b.size;
        mul(r.loss, (r.globalShare ? 1 : share) / config.accumulate).backward(undefined, onLeafDone);
        return r.value;
      });
      this.lastLoss = loss;
      if (!Number.isFinite(loss)) {
        this.each((c) => c.onNonFiniteBatch(this));
      }
      if (stepBoundary) this.optimizerStep();
      this.iteration++;
      this.batch++;
      // Let signals and timers in: a loader whose batches are ready only ever
      // resolves microtasks, which would starve the event loop for the whole run.
      await new Promise((resolve) => setImmediate(resolve));
      // Interrupts wait for a step boundary: accumulated gradients are not saved.
      if (this.batch >= nb || (stepBoundary && (parts.parallel ? this.interruptAgreed : this.interruptRequested))) break;
    }
  }

  private optimizerStep(): void {
    const { optimizer, parallel } = this.parts;
    if (parallel) this.interruptAgreed = parallel.reduceGradients(this.model.parameters(), this.model.namedBuffers().map(([, t]) => t), this.interruptRequested);
    let update = true;
    for (const c of this.parts.callbacks) update = c.onBeforeOptimizerStep(this) && update;
    if (update) optimizer.step();
    optimizer.zeroGrad();
    if (update) this.each((c) => c.onAfterOptimizerStep(this));
  }

  /** ranks > 1: whether any rank says so (a collective); else the flag itself. */
  private agree(flag: boolean): boolean {
    if (!this.parts.parallel) return flag;
    const agreed = this.parts.parallel.first(flag ? true : null) === true;
    if (agreed) this.interruptRequested = true;
    return agreed;
  }

  /** ranks > 1: the epoch's sums over every rank's slices (at the epoch's end, or before the interrupted run's checkpoint). */
  private gatherEpochStats(): void {
    if (this.parts.parallel) this.epochStats = this.parts.parallel.sumStats(this.epochStats);
  }

  /** Validation with the EMA weights when there are some. */
  validate(limit = this.parts.batchLimit): Promise<Evaluation> {
    return this.task.evaluate(this.parts.ema?.averaged ?? this.model, limit);
  }

  private recordEpoch(m: Evaluation): EpochMetrics {
    const lr = this.parts.optimizer.paramGroups.map((g) => g.lr);
    const values = { ...this.task.trainValues(this.epochStats), ...m.values };
    this.history.push({ epoch: this.epoch, time: this.elapsedSeconds(), lr, fitness: m.fitness, values });
    if (m.fitness > this.best.fitness) this.best = { fitness: m.fitness, epoch: this.epoch };
    this.lastMetrics = { epoch: this.epoch, lr, fitness: m.fitness, values, detail: m.detail };
    return this.lastMetrics;
  }

  /** Writes weights/<name>.safetensors with everything needed to continue. */
  saveCheckpoint(name: string): string {
    const { optimizer, ema } = this.parts;
    const path = `${this.parts.weightsDir}/${name}.safetensors`;
    if (this.parts.parallel && this.parts.parallel.rank !== 0) return path; // rank 0 alone writes
    const opt: OptimizerStateDict = optimizer.stateDict();
    const callbacks: Record<string, JsonValue> = {};
    for (const c of this.parts.callbacks) callbacks[c.name] = c.stateDict();
    const groups: Record<string, ReadonlyMap<string, Tensor>> = { model: this.model.stateDict(), optimizer: opt.tensors };
    if (ema) groups.ema = ema.stateTensors();
    saveCheckpoint(path, groups, this.parts.modelMeta, {
      epoch: this.epochDone ? this.epoch + 1 : this.epoch, batch: this.batch, iteration: this.iteration, rng: defaultRng().getState(),
      bestFitness: this.best.fitness, bestEpoch: this.best.epoch, history: this.history as unknown as JsonValue,
      epochStats: { ...this.epochStats, elapsed: this.elapsedSeconds() }, config: this.config, callbacks,
      optimizer: { scalars: opt.scalars, paramGroups: opt.paramGroups } as unknown as JsonValue,
      weights: ema ? "ema" : "model", runDir: this.parts.runDir, kilnVersion: KILN_VERSION,
    });
    return path;
  }

  /** Restores everything a checkpoint saved (the same architecture and config). */
  restore(ckpt: Checkpoint): void {
    const t = ckpt.training;
    this.model.loadStateDict(tensorsUnder(ckpt.tensors, "model"));
    const opt = t.optimizer as unknown as Omit<OptimizerStateDict, "tensors">;
    this.parts.optimizer.loadStateDict({ ...opt, tensors: tensorsUnder(ckpt.tensors, "optimizer") });
    this.parts.ema?.averaged.loadStateDict(tensorsUnder(ckpt.tensors, "ema"));
    for (const c of this.parts.callbacks) if (t.callbacks[c.name] !== undefined) c.loadStateDict(t.callbacks[c.name]);
    defaultRng().setState(t.rng);
    this.epoch = t.epoch;
    this.batch = t.batch;
    this.iteration = t.iteration;
    this.best = { fitness: t.bestFitness ?? -Infinity, epoch: t.bestEpoch };
    this.history = t.history as unknown as EpochRecord[];
    const stats = t.epochStats as unknown as EpochStats & { elapsed: number };
    // ranks > 1: the saved sums cover every rank's slices; rank 0 carries them on (the epoch's end adds the others' new ones).
    this.epochStats = this.parts.parallel && this.parts.parallel.rank !== 0 ? { seen: 0, sums: {} } : { seen: stats.seen, sums: { ...stats.sums } };
    this.elapsedAtStart = stats.elapsed;
    this.startEpoch = t.epoch;
  }
}
