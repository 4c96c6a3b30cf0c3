// The learning rate and momentum of every step, Ultralytics' rule:
// warmup for nw = max(round(warmup_epochs * batches), 100) batches, linear from
// warmup_bias_lr (biases) or 0 (the rest) up to the epoch's lr, momentum from
// warmup_momentum up to momentum; the epoch's lr is lr0 * lf(epoch) with lf
// linear or cosine down to lrf. scheduler=plateau instead multiplies lr0 by
// 0.1 each time val loss fails to improve for 3 epochs (floor lr0 * lrf).
// The lr is a pure function of (epoch, batch, plateau state), set before every
// batch, so a run resumed mid-epoch gets the same values.
import { Callback, type JsonValue } from "./callbacks.js";
import type { EpochMetrics } from "./trainer.js";
import type { Trainer } from "./trainer.js";

export interface ScheduleOptions {
  lr0: number; lrf: number; epochs: number; momentum: number;
  warmupEpochs: number; warmupMomentum: number; warmupBiasLr: number;
  kind: "linear" | "cosine" | "plateau";
  /** Index of the biases' parameter group (it warms up from warmupBiasLr). */
  biasGroup: number;
}

const PLATEAU_PATIENCE = 3;
const PLATEAU_FACTOR = 0.1;

export class LrSchedule extends Callback {
  readonly name = "lr_schedule";
  private plateau = { best: Infinity, badEpochs: 0, scale: 1 };

  constructor(private readonly o: ScheduleOptions) {
    super();
  }

  /** The epoch's factor of lr0 (before warmup). */
  factor(epoch: number): number {
    const { epochs, lrf } = this.o;
    if (this.o.kind === "plateau") return Math.max(this.plateau.scale, lrf);
    if (this.o.kind === "cosine") return ((1 - Math.cos((epoch * Math.PI) / epochs)) / 2) * (lrf - 1) + 1;
    return Math.max(1 - epoch / epochs, 0) * (1 - lrf) + lrf;
  }

  override onTrainBatchStart(t: Trainer): void {
    const target = this.o.lr0 * this.factor(t.epoch);
    const nw = this.o.warmupEpochs > 0 ? Math.max(Math.round(this.o.warmupEpochs * t.batchesPerEpoch), 100) : 0;
    const ni = t.iteration;
    t.setOptimizerHyper((group) => {
      if (ni >= nw) return { lr: target, momentum: this.o.momentum };
      const start = group === this.o.biasGroup ? this.o.warmupBiasLr : 0;
      const frac = ni / nw;
      return { lr: start + (target - start) * frac, momentum: this.o.warmupMomentum + (this.o.momentum - this.o.warmupMomentum) * frac };
    });
  }

  override onValidationEnd(t: Trainer, m: EpochMetrics): void {
    if (this.o.kind !== "plateau") return;
    const loss = t.task.loss(m.values, "val");
    if (loss < this.plateau.best) {
      this.plateau.best = loss;
      this.plateau.badEpochs = 0;
    } else if (++this.plateau.badEpochs >= PLATEAU_PATIENCE) {
      this.plateau.scale *= PLATEAU_FACTOR;
      this.plateau.badEpochs = 0;
    }
  }

  override stateDict(): JsonValue {
    return { best: Number.isFinite(this.plateau.best) ? this.plateau.best : null, badEpochs: this.plateau.badEpochs, scale: this.plateau.scale };
  }

  override loadStateDict(state: JsonValue): void {
    const s = state as { best: number | null; badEpochs: number; scale: number };
    this.plateau = { best: s.best ?? Infinity, badEpochs: s.badEpochs, scale: s.scale };
  }
}
