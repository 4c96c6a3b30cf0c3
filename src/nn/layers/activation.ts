// Activation modules. Those a convolution kernel can apply in its epilogue
// carry their `Act` code, which is what `fuse()` looks for.
import { hardswish, leakyRelu, relu, relu6, sigmoid, silu, tanh, type Tensor } from "../../engine/index.js";
import { Act, type ActOp } from "../../engine/kernels.js";
import { Module } from "../module.js";

/** An activation the fused conv kernel can apply. */
export abstract class FusibleActivation extends Module {
  abstract readonly act: ActOp;
  /** The activation's parameter (LeakyReLU's slope). */
  readonly alpha: number = 0;
}

export class ReLU extends FusibleActivation {
  readonly act = Act.relu;
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class ReLU6 extends FusibleActivation {
  readonly act = Act.relu6;
  forward(x: Tensor): Tensor {
    return relu6(x);
  }
}

export class LeakyReLU extends FusibleActivation {
  readonly act = Act.leakyRelu;
  override readonly alpha: number;
  /** PyTorch's default slope is 0.01. */
  constructor(negativeSlope = 0.01) {
    super();
    this.alpha = negativeSlope;
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.alpha);
  }
}

export class SiLU extends FusibleActivation {
  readonly act = Act.silu;
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

export class Hardswish extends FusibleActivation {
  readonly act = Act.hardswish;
  forward(x: Tensor): Tensor {
    return hardswish(x);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}
