// ResNet-18/34/50 as torchvision.models.resnet (v1.5: the stride of a
// Bottleneck sits on its 3×3 conv), with torchvision's module names
// (conv1 bn1 layer1.0.conv1 … fc, downsample.0/.1) so its weights load by name.
import { add, flatten, type Rng, type Tensor } from "../engine/index.js";
import {
  AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, fuseConvBnAct, Identity, Linear, MaxPool2d, Module, normAct, ReLU, Sequential, type Layer,
} from "../nn/index.js";
import { checkNc, rngOf, torchvisionInit, type ModelOptions } from "./common.js";

const conv3x3 = (inC: number, outC: number, stride: number, rng: Rng): Conv2d =>
  new Conv2d(inC, outC, 3, { stride, padding: 1, bias: false, rng });
const conv1x1 = (inC: number, outC: number, stride: number, rng: Rng): Conv2d =>
  new Conv2d(inC, outC, 1, { stride, bias: false, rng });

/** A residual block: out = relu(body(x) + shortcut(x)). */
abstract class ResidualBlock extends Module {
  /** The activation after each folded conv+bn that is not followed by the addition. */
  protected readonly relu: ReLU;
  protected downsample: Sequential | null = null;
  protected fused = false;

  constructor() {
    super();
    this.relu = new ReLU();
  }

  protected addDownsample(inC: number, outC: number, stride: number, rng: Rng): void {
    if (stride !== 1 || inC !== outC) {
      this.downsample = this.registerModule("downsample", new Sequential(conv1x1(inC, outC, stride, rng), new BatchNorm2d(outC)));
    }
  }

  protected abstract body(x: Tensor): Tensor;

  forward(x: Tensor): Tensor {
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(add(this.body(x), identity));
  }

  /** Runs conv → bn → relu, or the fused conv alone once `fuse()` has folded them. */
  protected convBnRelu(conv: Conv2d, bn: Layer, x: Tensor): Tensor {
    return this.fused ? conv.forward(x) : normAct(bn, this.relu, conv.forward(x));
  }

  /** Folds bn into conv (with relu when given) and swaps the registered bn for Identity. */
  protected foldInto(conv: Conv2d, bnName: string, bn: Layer, withRelu: boolean): Layer {
    if (!(bn instanceof BatchNorm2d)) return bn;
    fuseConvBnAct(conv, bn, withRelu ? this.relu : undefined);
    return this.replaceModule(bnName, new Identity());
  }
}

export class BasicBlock extends ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  bn1: Layer;
  readonly conv2: Conv2d;
  bn2: Layer;

  constructor(inC: number, planes: number, stride: number, rng: Rng) {
    super();
    this.conv1 = this.registerModule("conv1", conv3x3(inC, planes, stride, rng));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.registerModule("relu", this.relu);
    this.conv2 = this.registerModule("conv2", conv3x3(planes, planes, 1, rng));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.addDownsample(inC, planes, stride, rng);
  }

  protected body(x: Tensor): Tensor {
    return this.bn2.forward(this.conv2.forward(this.convBnRelu(this.conv1, this.bn1, x)));
  }

  protected override fuseChildren(): void {
    this.bn1 = this.foldInto(this.conv1, "bn1", this.bn1, true);
    this.bn2 = this.foldInto(this.conv2, "bn2", this.bn2, false);
    this.fused = true;
  }
}

export class Bottleneck extends ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  bn1: Layer;
  readonly conv2: Conv2d;
  bn2: Layer;
  readonly conv3: Conv2d;
  bn3: Layer;

  constructor(inC: number, planes: number, stride: number, rng: Rng) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule("conv1", conv1x1(inC, planes, 1, rng));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", conv3x3(planes, planes, stride, rng));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", conv1x1(planes, out, 1, rng));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(out));
    this.registerModule("relu", this.relu);
    this.addDownsample(inC, out, stride, rng);
  }

  protected body(x: Tensor): Tensor {
    const y = this.convBnRelu(this.conv2, this.bn2, this.convBnRelu(this.conv1, this.bn1, x));
    return this.bn3.forward(this.conv3.forward(y));
  }

  protected override fuseChildren(): void {
    this.bn1 = this.foldInto(this.conv1, "bn1", this.bn1, true);
    this.bn2 = this.foldInto(this.conv2, "bn2", this.bn2, true);
    this.bn3 = this.foldInto(this.conv3, "bn3", this.bn3, false);
    this.fused = true;
  }
}

type BlockKind = typeof BasicBlock | typeof Bottleneck;

export class ResNet extends Module {
  readonly conv1: Conv2d;
  bn1: Layer;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layers: Sequential[];
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  readonly fc: Linear;
  private fused = false;

  constructor(block: BlockKind, counts: readonly [number, number, number, number], options: ModelOptions) {
    super();
    checkNc("resnet", options.nc);
    const rng = rngOf(options);
    this.conv1 = this.registerModule("conv1", new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false, rng }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(64));
    this.relu = this.registerModule("relu", new ReLU());
    this.maxpool = this.registerModule("maxpool", new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inC = 64;
    this.layers = [64, 128, 256, 512].map((planes, i) => {
      const blocks: Layer[] = [];
      for (let b = 0; b < counts[i]; b++) {
        blocks.push(new block(inC, planes, b === 0 && i > 0 ? 2 : 1, rng));
        inC = planes * block.expansion;
      }
      return this.registerModule(`layer${i + 1}`, new Sequential(...blocks));
    });
    this.avgpool = this.registerModule("avgpool", new AdaptiveAvgPool2d(1));
    // Not in torchvision's ResNet (default 0: nothing happens); no parameters, so no state-dict names.
    this.dropout = this.registerModule("dropout", new Dropout(options.dropout ?? 0, rng));
    this.fc = this.registerModule("fc", new Linear(512 * block.expansion, options.nc, { rng }));
    torchvisionInit(this, rng);
  }

  forward(x: Tensor): Tensor {
    let y = this.conv1.forward(x);
    if (!this.fused) y = normAct(this.bn1, this.relu, y);
    y = this.maxpool.forward(y);
    for (const layer of this.layers) y = layer.forward(y);
    return this.fc.forward(this.dropout.forward(flatten(this.avgpool.forward(y), 1)));
  }

  protected override fuseChildren(): void {
    if (!(this.bn1 instanceof BatchNorm2d)) return;
    fuseConvBnAct(this.conv1, this.bn1, this.relu);
    this.bn1 = this.replaceModule("bn1", new Identity());
    this.fused = true;
  }
}

export function resnet18(options: ModelOptions): ResNet {
  return new ResNet(BasicBlock, [2, 2, 2, 2], options);
}

export function resnet34(options: ModelOptions): ResNet {
  return new ResNet(BasicBlock, [3, 4, 6, 3], options);
}

export function resnet50(options: ModelOptions): ResNet {
  return new ResNet(Bottleneck, [3, 4, 6, 3], options);
}
