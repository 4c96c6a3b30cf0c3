// BatchNorm2d, as torch.nn.BatchNorm2d with affine and tracked running
// statistics: weight 1, bias 0, running_mean 0, running_var 1, and
// num_batches_tracked counting training batches.
import { batchNorm2d, full, type Tensor } from "../../engine/index.js";
import { Module } from "../module.js";
import { FusibleActivation } from "./activation.js";

export interface BatchNorm2dOptions {
  /** Default 1e-5 (Ultralytics uses 1e-3). */
  eps?: number;
  /** Weight of the new batch in the running statistics; default 0.1 (Ultralytics uses 0.03). */
  momentum?: number;
}

export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  /**
   * The count of training batches. PyTorch stores it as int64; kiln's tensors
   * are float32 (exact up to 2^24 batches), so it is saved as a shape-[] float.
   */
  readonly numBatchesTracked: Tensor;

  constructor(numFeatures: number, options: BatchNorm2dOptions = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.weight = this.registerParameter("weight", full([numFeatures], 1));
    this.bias = this.registerParameter("bias", full([numFeatures], 0));
    this.runningMean = this.registerBuffer("running_mean", full([numFeatures], 0));
    this.runningVar = this.registerBuffer("running_var", full([numFeatures], 1));
    this.numBatchesTracked = this.registerBuffer("num_batches_tracked", full([], 0));
  }

  forward(x: Tensor): Tensor {
    return this.forwardAct(x, null);
  }

  /** act(bn(x)) with the activation inside the batch-norm kernels (same numbers, fewer passes). */
  forwardAct(x: Tensor, act: FusibleActivation | null): Tensor {
    if (this.training) this.numBatchesTracked.data[0] += 1;
    return batchNorm2d(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: this.training, momentum: this.momentum, eps: this.eps, ...(act ? { act: act.act, alpha: act.alpha } : {}),
    });
  }
}

/**
 * act(bn(x)) for two layers that may have been swapped for Identity by
 * `fuse()`: one fused call when they are still a BatchNorm2d and a fusible
 * activation, else each layer in turn.
 */
export function normAct(bn: Module<[Tensor], Tensor>, act: Module<[Tensor], Tensor>, x: Tensor): Tensor {
  if (bn instanceof BatchNorm2d && act instanceof FusibleActivation) return bn.forwardAct(x, act);
  return act.forward(bn.forward(x));
}
