// freeze_bn=true: batch-norm layers stay in evaluation mode while the rest
// trains (their running statistics normalise and are not updated; their
// affine weights still learn). Set before each batch, because the trainer
// puts the whole model in training mode at each epoch's start.
import { BatchNorm2d, type AnyModule } from "../nn/index.js";
import { Callback } from "./callbacks.js";
import type { Trainer } from "./trainer.js";

export class FreezeBatchNorm extends Callback {
  readonly name = "freeze_bn";
  private norms: AnyModule[] | null = null;

  override onTrainBatchStart(t: Trainer): void {
    this.norms ??= t.model.namedModules().map(([, m]) => m).filter((m) => m instanceof BatchNorm2d);
    for (const m of this.norms) m.training = false;
  }
}
