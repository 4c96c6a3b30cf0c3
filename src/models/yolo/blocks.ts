// The building blocks of Ultralytics' YOLOv8, with its module and parameter
// names (conv/bn, cv1/cv2/m.i, cv2.i.j/cv3.i.j/dfl.conv) so its checkpoints
// map by name. Written from the published architecture (ultralytics/nn/modules).
import { add, cat, conv2d, maxPool2d, reshape, slice, softmax, transpose, type Rng, type Tensor } from "../../engine/index.js";
import { BatchNorm2d, Conv2d, fuseConvBnAct, Identity, Module, ModuleList, normAct, Sequential, SiLU, type Layer } from "../../nn/index.js";

/** Ultralytics sets every BatchNorm to eps 1e-3 and momentum 0.03 (initialize_weights). */
const BN = { eps: 1e-3, momentum: 0.03 } as const;

/** Ultralytics' Conv: conv (no bias, padding k/2) → BatchNorm → SiLU. */
export class Conv extends Module {
  readonly conv: Conv2d;
  bn: Layer;
  act: Layer;

  constructor(inC: number, outC: number, kernel: number, stride: number, rng: Rng) {
    super();
    this.conv = this.registerModule("conv", new Conv2d(inC, outC, kernel, { stride, padding: kernel >> 1, bias: false, rng }));
    this.bn = this.registerModule("bn", new BatchNorm2d(outC, BN));
    this.act = this.registerModule("act", new SiLU());
  }

  forward(x: Tensor): Tensor {
    return normAct(this.bn, this.act, this.conv.forward(x));
  }

  protected override fuseChildren(): void {
    if (!(this.bn instanceof BatchNorm2d) || !(this.act instanceof SiLU)) return;
    fuseConvBnAct(this.conv, this.bn, this.act);
    this.bn = this.replaceModule("bn", new Identity());
    this.act = this.replaceModule("act", new Identity());
  }
}

/** Two 3×3 Convs, with a residual when `shortcut` and the channels match. */
export class Bottleneck extends Module {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly residual: boolean;

  constructor(inC: number, outC: number, shortcut: boolean, rng: Rng) {
    super();
    this.cv1 = this.registerModule("cv1", new Conv(inC, outC, 3, 1, rng));
    this.cv2 = this.registerModule("cv2", new Conv(outC, outC, 3, 1, rng));
    this.residual = shortcut && inC === outC;
  }

  forward(x: Tensor): Tensor {
    const y = this.cv2.forward(this.cv1.forward(x));
    return this.residual ? add(x, y) : y;
  }
}

/** CSP bottleneck with two convolutions: split cv1's output in halves, chain n Bottlenecks on the second, concat all, cv2. */
export class C2f extends Module {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly m: ModuleList<Bottleneck>;

  constructor(inC: number, outC: number, n: number, shortcut: boolean, rng: Rng) {
    super();
    const c = Math.floor(outC * 0.5);
    this.cv1 = this.registerModule("cv1", new Conv(inC, 2 * c, 1, 1, rng));
    this.cv2 = this.registerModule("cv2", new Conv((2 + n) * c, outC, 1, 1, rng));
    this.m = this.registerModule("m", new ModuleList(Array.from({ length: n }, () => new Bottleneck(c, c, shortcut, rng))));
  }

  // Ultralytics chunks cv1's output in two and concatenates the halves back
  // with the bottlenecks' outputs; concatenating cv1's output whole gives the
  // same tensor and saves copying its first half out and back.
  forward(x: Tensor): Tensor {
    const y = this.cv1.forward(x);
    const c = y.shape[1] >> 1;
    const ys = [y];
    let last = slice(y, 1, c, 2 * c);
    for (const b of this.m.items) ys.push((last = b.forward(last)));
    return this.cv2.forward(cat(ys, 1));
  }
}

/** Spatial pyramid pooling, fast: cv1, three chained 5×5 max pools, concat, cv2. */
export class SPPF extends Module {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly k: number;

  constructor(inC: number, outC: number, k: number, rng: Rng) {
    super();
    const hidden = inC >> 1;
    this.cv1 = this.registerModule("cv1", new Conv(inC, hidden, 1, 1, rng));
    this.cv2 = this.registerModule("cv2", new Conv(hidden * 4, outC, 1, 1, rng));
    this.k = k;
  }

  forward(x: Tensor): Tensor {
    const ys = [this.cv1.forward(x)];
    for (let i = 0; i < 3; i++) ys.push(maxPool2d(ys[i], { kernelSize: this.k, stride: 1, padding: this.k >> 1 }));
    return this.cv2.forward(cat(ys, 1));
  }
}

/** Concatenation along channels (a module only so the layer indices match Ultralytics'). */
export class Concat extends Module<[Tensor[]], Tensor> {
  forward(xs: Tensor[]): Tensor {
    return cat(xs, 1);
  }
}

/**
 * Distribution focal loss integral: the expected value of each box side's
 * distribution over regMax bins, as a fixed 1×1 conv with weights 0…regMax−1
 * (saved in checkpoints, never trained).
 */
export class DFL extends Module {
  readonly conv: Conv2d;
  readonly regMax: number;

  constructor(regMax: number, rng: Rng) {
    super();
    this.regMax = regMax;
    this.conv = this.registerModule("conv", new Conv2d(regMax, 1, 1, { bias: false, rng }));
    this.conv.weight.data.set(Float32Array.from({ length: regMax }, (_, i) => i));
    this.conv.weight.requiresGrad = false;
  }

  /** x [B, 4·regMax, A] (box logits per anchor) → [B, 4, A] distances in stride units. */
  forward(x: Tensor): Tensor {
    const [b, , a] = x.shape;
    const bins = transpose(reshape(x, [b, 4, this.regMax, a]), 1, 2); // [B, regMax, 4, A]
    return reshape(conv2d(softmax(bins, 1), this.conv.weight), [b, 4, a]);
  }
}

/** The decoupled head: per level, a box branch (cv2: 4·regMax maps) and a class branch (cv3: nc maps). */
export class Detect extends Module<[Tensor[]], Tensor[]> {
  readonly cv2: ModuleList<Sequential>;
  readonly cv3: ModuleList<Sequential>;
  readonly dfl: DFL;
  readonly nc: number;
  readonly regMax = 16;
  readonly strides: readonly number[];

  constructor(nc: number, channels: readonly number[], strides: readonly number[], rng: Rng) {
    super();
    this.nc = nc;
    this.strides = strides;
    const box = Math.max(16, channels[0] >> 2, this.regMax * 4);
    const cls = Math.max(channels[0], Math.min(nc, 100));
    const branch = (inC: number, mid: number, out: number): Sequential =>
      new Sequential(new Conv(inC, mid, 3, 1, rng), new Conv(mid, mid, 3, 1, rng), new Conv2d(mid, out, 1, { rng }));
    this.cv2 = this.registerModule("cv2", new ModuleList(channels.map((c) => branch(c, box, 4 * this.regMax))));
    this.cv3 = this.registerModule("cv3", new ModuleList(channels.map((c) => branch(c, cls, nc))));
    this.dfl = this.registerModule("dfl", new DFL(this.regMax, rng));
    this.initBiases();
  }

  /**
   * Ultralytics' bias_init: box logits start at 1, class logits at
   * log(5 / nc / (640 / stride)²) — about 5 objects per 640² image a priori.
   */
  private initBiases(): void {
    this.strides.forEach((s, i) => {
      (this.cv2.items[i].at(2) as Conv2d).bias!.data.fill(1);
      (this.cv3.items[i].at(2) as Conv2d).bias!.data.fill(Math.log(5 / this.nc / (640 / s) ** 2));
    });
  }

  /** Raw maps per level: [B, 4·regMax + nc, H/stride, W/stride] (box distribution logits, then class logits). */
  forward(xs: Tensor[]): Tensor[] {
    return xs.map((x, i) => cat([this.cv2.items[i].forward(x), this.cv3.items[i].forward(x)], 1));
  }
}
