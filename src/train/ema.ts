// An exponential moving average of the weights, Ultralytics' ModelEMA:
// decay(u) = 0.9999 * (1 - exp(-u / 2000)) after u updates (small at first, so
// the average follows early training closely), applied to parameters and
// BatchNorm statistics alike. Validation and the saved "weights" use it.
import { kernels, type Tensor } from "../engine/index.js";
import type { AnyModule } from "../nn/index.js";
import { Callback, type JsonValue } from "./callbacks.js";
import type { Trainer } from "./trainer.js";

const DECAY = 0.9999;
const TAU = 2000;

export class Ema extends Callback {
  readonly name = "ema";
  private updates = 0;

  /** @param averaged a second instance of the architecture that holds the average */
  constructor(readonly averaged: AnyModule, source: AnyModule) {
    super();
    averaged.loadStateDict(source.stateDict());
    averaged.eval();
  }

  override onAfterOptimizerStep(t: Trainer): void {
    this.updates++;
    const d = DECAY * (1 - Math.exp(-this.updates / TAU));
    const live = t.model.stateDict();
    const emaValues: Float32Array[] = [];
    const values: Float32Array[] = [];
    for (const [name, e] of this.averaged.stateDict()) {
      const v = live.get(name)!;
      // A counter, not a statistic: copied, as Ultralytics skips non-float entries.
      if (name.endsWith("num_batches_tracked")) e.data.set(v.data);
      else {
        emaValues.push(e.data);
        values.push(v.data);
      }
    }
    kernels().emaUpdate(emaValues, values, d);
  }

  stateTensors(): Map<string, Tensor> {
    return this.averaged.stateDict();
  }

  override stateDict(): JsonValue {
    return { updates: this.updates };
  }

  override loadStateDict(state: JsonValue): void {
    this.updates = (state as { updates: number }).updates;
  }
}
