// Linear, as torch.nn.Linear: y = x wᵀ + b with w [out, in], PyTorch's default initialisation.
import { defaultRng, linear, zeros, type Rng, type Tensor } from "../../engine/index.js";
import { defaultBiasInit_, defaultWeightInit_ } from "../init.js";
import { Module } from "../module.js";

export interface LinearOptions {
  /** Default true. */
  bias?: boolean;
  rng?: Rng;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const rng = options.rng ?? defaultRng();
    const shape = [outFeatures, inFeatures];
    this.weight = this.registerParameter("weight", defaultWeightInit_(zeros(shape), rng));
    this.bias = options.bias === false ? null : this.registerParameter("bias", defaultBiasInit_(zeros([outFeatures]), shape, rng));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias ?? undefined);
  }
}
