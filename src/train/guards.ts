// Guards on each optimizer step: a non-finite gradient skips the update (and
// counts as a bad batch); the gradient norm is clipped to clip_grad; a run
// whose share of bad batches in an epoch passes the limit stops with advice.
import { kernels } from "../engine/index.js";
import { KilnError } from "../errors.js";
import { Callback, type JsonValue } from "./callbacks.js";
import type { Trainer } from "./trainer.js";

export class GradientGuard extends Callback {
  readonly name = "gradient_guard";
  /** Bad batches (non-finite loss or gradient) in the current epoch. */
  private badInEpoch = 0;
  private warned = false;

  constructor(private readonly clipNorm: number, private readonly maxBadFraction: number) {
    super();
  }

  override onTrainEpochStart(): void {
    this.badInEpoch = 0;
  }

  override onNonFiniteBatch(t: Trainer): void {
    this.countBad(t, "loss");
  }

  override onBeforeOptimizerStep(t: Trainer): boolean {
    const grads = t.model.parameters().flatMap((p) => (p.grad ? [p.grad.data] : []));
    const k = kernels();
    if (!k.allFinite(grads)) {
      this.countBad(t, "gradient");
      return false;
    }
    if (this.clipNorm > 0) {
      const norm = Math.sqrt(k.sumSquares(grads));
      // torch.nn.utils.clip_grad_norm_'s rule (its 1e-6 included).
      if (norm > this.clipNorm) k.scaleArrays(grads, this.clipNorm / (norm + 1e-6));
    }
    return true;
  }

  private countBad(t: Trainer, what: string): void {
    this.badInEpoch++;
    if (!this.warned) {
      t.log.warn(`non-finite ${what} at epoch ${t.epoch + 1}, batch ${t.batch + 1}: batch skipped (such batches are counted; the run stops past nonfinite_max_fraction=${this.maxBadFraction} of an epoch)`);
      this.warned = true;
    }
    if (this.badInEpoch > this.maxBadFraction * t.batchesPerEpoch) {
      throw new KilnError(`stopped: ${this.badInEpoch} of ${t.batchesPerEpoch} batches of epoch ${t.epoch + 1} had a non-finite loss or gradient. ` +
        "Fix: lower lr0 (e.g. lr0=0.001), keep clip_grad on (e.g. clip_grad=1), and check the data with 'kiln data check'.");
    }
  }

  override stateDict(): JsonValue {
    return { badInEpoch: this.badInEpoch, warned: this.warned };
  }

  override loadStateDict(state: JsonValue): void {
    const s = state as { badInEpoch: number; warned: boolean };
    this.badInEpoch = s.badInEpoch;
    this.warned = s.warned;
  }
}
