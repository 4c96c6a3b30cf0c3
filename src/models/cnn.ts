// Small classifiers.
//
// `cnn`, kiln's default small classifier, for 28×28 (MNIST-like) up to 64×64
// images (any size of at least 8×8 works: the head pools globally):
//   features.0  Conv(in→32, 3×3, pad 1)-BN-ReLU      H×W
//   features.1  MaxPool 2                              H/2
//   features.2  Conv(32→64, 3×3, pad 1)-BN-ReLU
//   features.3  MaxPool 2                              H/4
//   features.4  Conv(64→128, 3×3, pad 1)-BN-ReLU
//   features.5  MaxPool 2                              H/8
//   features.6  Conv(128→256, 3×3, pad 1)-BN-ReLU
//   avgpool     global average pool → 256
//   dropout     Dropout(p), p = options.dropout (default 0)
//   fc          Linear(256→nc)
// Each Conv-BN-ReLU is a Sequential (features.0.0 conv, features.0.1 bn), PyTorch's default
// initialisation throughout. About 0.39 M parameters; ~60 M multiply-adds per 64×64 image.
//
// `mnistCnn`, the engine benchmark's reference network (28×28×1 input):
//   conv1(1→32, 3, pad 1)-ReLU-maxpool 2, conv2(32→64, 3, pad 1)-ReLU-maxpool 2,
//   flatten, fc1(3136→128)-ReLU, fc2(128→nc).
import { flatten, maxPool2d, relu, type Rng, type Tensor } from "../engine/index.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from "../nn/index.js";
import { checkNc, rngOf, type ModelOptions } from "./common.js";

export interface CnnOptions extends ModelOptions {
  /** Image channels: 3 (default) or 1 for grayscale. */
  inChannels?: number;
}

const convBnRelu = (inC: number, outC: number, rng: Rng): Sequential =>
  new Sequential(new Conv2d(inC, outC, 3, { padding: 1, bias: false, rng }), new BatchNorm2d(outC), new ReLU());

export class SmallCnn extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  readonly fc: Linear;

  constructor(options: CnnOptions) {
    super();
    checkNc("cnn", options.nc);
    const rng = rngOf(options);
    this.features = this.registerModule("features", new Sequential(
      convBnRelu(options.inChannels ?? 3, 32, rng),
      new MaxPool2d(2),
      convBnRelu(32, 64, rng),
      new MaxPool2d(2),
      convBnRelu(64, 128, rng),
      new MaxPool2d(2),
      convBnRelu(128, 256, rng),
    ));
    this.avgpool = this.registerModule("avgpool", new AdaptiveAvgPool2d(1));
    this.dropout = this.registerModule("dropout", new Dropout(options.dropout ?? 0, rng));
    this.fc = this.registerModule("fc", new Linear(256, options.nc, { rng }));
  }

  forward(x: Tensor): Tensor {
    return this.fc.forward(this.dropout.forward(flatten(this.avgpool.forward(this.features.forward(x)), 1)));
  }
}

export class MnistCnn extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(options: ModelOptions) {
    super();
    checkNc("mnist_cnn", options.nc);
    const rng = rngOf(options);
    this.conv1 = this.registerModule("conv1", new Conv2d(1, 32, 3, { padding: 1, rng }));
    this.conv2 = this.registerModule("conv2", new Conv2d(32, 64, 3, { padding: 1, rng }));
    this.fc1 = this.registerModule("fc1", new Linear(64 * 7 * 7, 128, { rng }));
    this.fc2 = this.registerModule("fc2", new Linear(128, options.nc, { rng }));
  }

  forward(x: Tensor): Tensor {
    let y = maxPool2d(relu(this.conv1.forward(x)), { kernelSize: 2 });
    y = maxPool2d(relu(this.conv2.forward(y)), { kernelSize: 2 });
    return this.fc2.forward(relu(this.fc1.forward(flatten(y, 1))));
  }
}

export function cnn(options: CnnOptions): SmallCnn {
  return new SmallCnn(options);
}

export function mnistCnn(options: ModelOptions): MnistCnn {
  return new MnistCnn(options);
}
