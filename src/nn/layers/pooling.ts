// Pooling modules, as torch.nn's (stride defaults to the kernel size).
import { adaptiveAvgPool2d, avgPool2d, maxPool2d, type Pair, type Tensor } from "../../engine/index.js";
import { Module } from "../module.js";

export interface MaxPool2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: MaxPool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernelSize: this.kernelSize, ...this.options });
  }
}

export interface AvgPool2dOptions {
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
  /** Default true, as PyTorch. */
  countIncludePad?: boolean;
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: AvgPool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, { kernelSize: this.kernelSize, ...this.options });
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}
