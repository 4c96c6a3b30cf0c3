// MobileNetV2 as torchvision.models.mobilenet_v2 (width 1.0 by default), with
// its module names: features.0.0 (stem conv), features.1.conv.0.0 (a
// depthwise conv), …, features.18 (the 1×1 conv to 1280), classifier.1 (Linear).
import { add, adaptiveAvgPool2d, flatten, type Rng, type Tensor } from "../engine/index.js";
import { BatchNorm2d, Conv2d, Dropout, Linear, Module, ReLU6, Sequential, type Layer } from "../nn/index.js";
import { checkNc, rngOf, torchvisionInit, type ModelOptions } from "./common.js";

export interface MobileNetV2Options extends ModelOptions {
  /** Channel multiplier (default 1.0). */
  widthMult?: number;
  /** Classifier dropout (default 0.2). */
  dropout?: number;
}

/** torchvision's _make_divisible: round to a multiple of 8, never below 90 % of v. */
function makeDivisible(v: number, divisor = 8): number {
  let out = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (out < 0.9 * v) out += divisor;
  return out;
}

/** torchvision's Conv2dNormActivation: a Sequential of conv (no bias), BatchNorm and ReLU6, padding (k-1)/2. */
function convBnReLU6(inC: number, outC: number, kernel: number, stride: number, groups: number, rng: Rng): Sequential {
  return new Sequential(
    new Conv2d(inC, outC, kernel, { stride, padding: (kernel - 1) >> 1, groups, bias: false, rng }),
    new BatchNorm2d(outC),
    new ReLU6(),
  );
}

/** Expand (1×1) → depthwise 3×3 → project (1×1, linear), with a residual when shapes allow. */
export class InvertedResidual extends Module {
  readonly conv: Sequential;
  readonly useResidual: boolean;

  constructor(inC: number, outC: number, stride: number, expandRatio: number, rng: Rng) {
    super();
    const hidden = Math.round(inC * expandRatio);
    this.useResidual = stride === 1 && inC === outC;
    const layers: Layer[] = [];
    if (expandRatio !== 1) layers.push(convBnReLU6(inC, hidden, 1, 1, 1, rng));
    layers.push(
      convBnReLU6(hidden, hidden, 3, stride, hidden, rng),
      new Conv2d(hidden, outC, 1, { bias: false, rng }),
      new BatchNorm2d(outC),
    );
    this.conv = this.registerModule("conv", new Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.useResidual ? add(x, y) : y;
  }
}

// [expansion t, output channels c, repeats n, first stride s], as torchvision.
const SETTINGS: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

export class MobileNetV2 extends Module {
  readonly features: Sequential;
  readonly classifier: Sequential;

  constructor(options: MobileNetV2Options) {
    super();
    checkNc("mobilenet_v2", options.nc);
    const rng = rngOf(options);
    const width = options.widthMult ?? 1;
    let inC = makeDivisible(32 * width);
    const lastC = makeDivisible(1280 * Math.max(1, width));
    const layers: Layer[] = [convBnReLU6(3, inC, 3, 2, 1, rng)];
    for (const [t, c, n, s] of SETTINGS) {
      const outC = makeDivisible(c * width);
      for (let i = 0; i < n; i++) {
        layers.push(new InvertedResidual(inC, outC, i === 0 ? s : 1, t, rng));
        inC = outC;
      }
    }
    layers.push(convBnReLU6(inC, lastC, 1, 1, 1, rng));
    this.features = this.registerModule("features", new Sequential(...layers));
    this.classifier = this.registerModule("classifier", new Sequential(
      new Dropout(options.dropout ?? 0.2, rng),
      new Linear(lastC, options.nc, { rng }),
    ));
    torchvisionInit(this, rng, 0.01);
  }

  forward(x: Tensor): Tensor {
    const pooled = adaptiveAvgPool2d(this.features.forward(x), 1);
    return this.classifier.forward(flatten(pooled, 1));
  }
}

export function mobilenetV2(options: MobileNetV2Options): MobileNetV2 {
  return new MobileNetV2(options);
}
