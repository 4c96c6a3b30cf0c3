// Parameter-free shape and regularisation modules.
import { defaultRng, dropout, flatten, upsampleNearest2d, type Rng, type Pair, type Tensor } from "../../engine/index.js";
import { Module } from "../module.js";

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Flattens dims startDim..endDim (PyTorch's nn.Flatten defaults: 1 and -1, keeping the batch dim). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

/** Zeroes each value with probability p in training (scaling the rest by 1/(1-p)); the identity in eval. */
export class Dropout extends Module {
  private readonly rng: Rng;
  constructor(readonly p = 0.5, rng?: Rng) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`kiln: Dropout probability must be in [0, 1), got ${p}`);
    this.rng = rng ?? defaultRng();
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.rng);
  }
}

/** Nearest-neighbour upsampling by a scale factor (Ultralytics' nn.Upsample(None, 2, "nearest")). */
export class Upsample extends Module {
  constructor(readonly scaleFactor: Pair = 2) {
    super();
  }
  forward(x: Tensor): Tensor {
    return upsampleNearest2d(x, { scaleFactor: this.scaleFactor });
  }
}
