// Conv2d, as torch.nn.Conv2d: weight [outC, inC/groups, kh, kw], optional bias,
// PyTorch's default initialisation. After `fuse()` it may also carry a folded
// BatchNorm (in its weight and bias) and an activation applied in the kernel.
import {
  conv2d, conv2dAct, defaultRng, isGradEnabled, packConvWeights, zeros, type PackedConvWeights, type Pair, type Rng, type Tensor,
} from "../../engine/index.js";
import { Act, type ActOp } from "../../engine/kernels.js";
import { defaultBiasInit_, defaultWeightInit_ } from "../init.js";
import { Module } from "../module.js";

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Default true, as PyTorch. */
  bias?: boolean;
  rng?: Rng;
}

const pair = (v: Pair): [number, number] => (typeof v === "number" ? [v, v] : [v[0], v[1]]);

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Tensor;
  bias: Tensor | null;
  /** The activation fused into this convolution by `fuse()` (inference only). */
  fusedAct: { act: ActOp; alpha: number } | null = null;
  /** Set by `fuse()`: the weights are final, so inference packs them once for the kernel. */
  private finalWeights = false;
  /** The folded weights as the kernel packed them (undefined: not packed yet; null: packing gains nothing). */
  private packed: PackedConvWeights | null | undefined;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options: Conv2dOptions = {}) {
    super();
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`kiln: Conv2d(${inChannels}, ${outChannels}): both channel counts must divide by groups=${groups}`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    this.groups = groups;
    const rng = options.rng ?? defaultRng();
    const shape = [outChannels, inChannels / groups, ...this.kernelSize];
    this.weight = this.registerParameter("weight", defaultWeightInit_(zeros(shape), rng));
    this.bias = options.bias === false ? null : this.registerParameter("bias", defaultBiasInit_(zeros([outChannels]), shape, rng));
  }

  /** The geometry in the form the conv ops take. */
  get convOptions(): { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number } {
    return { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups };
  }

  forward(x: Tensor): Tensor {
    const { act, alpha } = this.fusedAct ?? { act: Act.none, alpha: 0 };
    if (this.finalWeights && !isGradEnabled()) {
      if (this.packed === undefined) this.packed = packConvWeights(x, this.weight, this.convOptions);
      return conv2dAct(x, this.weight, this.bias, this.convOptions, act, alpha, this.packed);
    }
    if (this.fusedAct !== null) return conv2dAct(x, this.weight, this.bias, this.convOptions, act, alpha);
    return conv2d(x, this.weight, this.bias, this.convOptions);
  }

  /** Replaces the weight and bias with folded ones (see fuse.ts). */
  setFolded(weight: Tensor, bias: Tensor): void {
    this.weight = this.replaceParameter("weight", weight);
    if (this.bias === null) this.bias = this.registerParameter("bias", bias);
    else this.bias = this.replaceParameter("bias", bias);
    this.packed = undefined;
  }

  /** `fuse()` reaches every convolution, folded or not (a detection head's last ones are not): weights final from now on. */
  protected override fuseChildren(): void {
    this.finalWeights = true;
    this.packed = undefined;
  }

  protected override stateLoaded(): void {
    this.packed = undefined;
  }

  /** Applies `act` inside the convolution kernel from now on (Act.none clears it); alpha is LeakyReLU's slope. */
  setFusedAct(act: ActOp, alpha = 0): void {
    this.fusedAct = act === Act.none ? null : { act, alpha };
  }
}
