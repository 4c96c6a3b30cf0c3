// YOLOv8 detection model in sizes n/s/m, laid out as Ultralytics'
// yolov8.yaml: 23 modules under `model` (0–9 backbone, 10–21 PAN neck, 22
// Detect), so `model.22.cv2.0.0.conv.weight` and friends match its
// checkpoints. forward() returns the three raw head maps; decoding and the
// loss live with the detection task.
import type { Tensor } from "../../engine/index.js";
import { Module, ModuleList, Upsample, type AnyModule } from "../../nn/index.js";
import { checkNc, rngOf, type ModelOptions } from "../common.js";
import { C2f, Concat, Conv, Detect, SPPF } from "./blocks.js";

export type YoloSize = "n" | "s" | "m";

/** [depth multiple, width multiple, max channels], from Ultralytics' yolov8.yaml scales. */
export const YOLO_SCALES: Readonly<Record<YoloSize, readonly [number, number, number]>> = {
  n: [0.33, 0.25, 1024],
  s: [0.33, 0.5, 1024],
  m: [0.67, 0.75, 768],
};

export interface YoloOptions extends ModelOptions {
  size: YoloSize;
}

export class YOLOv8 extends Module<[Tensor], Tensor[]> {
  readonly model: ModuleList;
  readonly nc: number;
  readonly size: YoloSize;
  readonly strides = [8, 16, 32] as const;
  readonly detect: Detect;
  private readonly backbone: { p1: Conv; p2: Conv; c2: C2f; p3: Conv; c4: C2f; p4: Conv; c6: C2f; p5: Conv; c8: C2f; sppf: SPPF };
  private readonly neck: {
    up10: Upsample; cat11: Concat; c12: C2f; up13: Upsample; cat14: Concat; c15: C2f;
    down16: Conv; cat17: Concat; c18: C2f; down19: Conv; cat20: Concat; c21: C2f;
  };

  constructor(options: YoloOptions) {
    super();
    checkNc("yolov8", options.nc);
    const scale = YOLO_SCALES[options.size];
    if (!scale) throw new Error(`kiln: yolov8: size must be one of n, s, m; got ${JSON.stringify(options.size)}`);
    const [depth, width, maxC] = scale;
    const rng = rngOf(options);
    this.nc = options.nc;
    this.size = options.size;
    // Ultralytics' parse_model: channels min(c, max)·width rounded up to 8; repeats max(round(n·depth), 1).
    const ch = (c: number): number => Math.ceil((Math.min(c, maxC) * width) / 8) * 8;
    const reps = (n: number): number => Math.max(Math.round(n * depth), 1);
    const [c64, c128, c256, c512, c1024] = [64, 128, 256, 512, 1024].map(ch);

    const p1 = new Conv(3, c64, 3, 2, rng);
    const p2 = new Conv(c64, c128, 3, 2, rng);
    const c2 = new C2f(c128, c128, reps(3), true, rng);
    const p3 = new Conv(c128, c256, 3, 2, rng);
    const c4 = new C2f(c256, c256, reps(6), true, rng);
    const p4 = new Conv(c256, c512, 3, 2, rng);
    const c6 = new C2f(c512, c512, reps(6), true, rng);
    const p5 = new Conv(c512, c1024, 3, 2, rng);
    const c8 = new C2f(c1024, c1024, reps(3), true, rng);
    const sppf = new SPPF(c1024, c1024, 5, rng);
    const c12 = new C2f(c1024 + c512, c512, reps(3), false, rng);
    const c15 = new C2f(c512 + c256, c256, reps(3), false, rng);
    const down16 = new Conv(c256, c256, 3, 2, rng);
    const c18 = new C2f(c256 + c512, c512, reps(3), false, rng);
    const down19 = new Conv(c512, c512, 3, 2, rng);
    const c21 = new C2f(c512 + c1024, c1024, reps(3), false, rng);
    this.detect = new Detect(options.nc, [c256, c512, c1024], this.strides, rng);

    const [up10, up13] = [new Upsample(2), new Upsample(2)];
    const [cat11, cat14, cat17, cat20] = [new Concat(), new Concat(), new Concat(), new Concat()];
    const layers: AnyModule[] = [
      p1, p2, c2, p3, c4, p4, c6, p5, c8, sppf,
      up10, cat11, c12, up13, cat14, c15, down16, cat17, c18, down19, cat20, c21, this.detect,
    ];
    this.model = this.registerModule("model", new ModuleList(layers));
    this.backbone = { p1, p2, c2, p3, c4, p4, c6, p5, c8, sppf };
    this.neck = { up10, cat11, c12, up13, cat14, c15, down16, cat17, c18, down19, cat20, c21 };
  }

  /** x [B, 3, H, W] with H and W multiples of 32 → per stride 8/16/32: [B, 64 + nc, H/s, W/s]. */
  forward(x: Tensor): Tensor[] {
    const [, c, h, w] = x.shape;
    if (x.ndim !== 4 || c !== 3 || h % 32 !== 0 || w % 32 !== 0) {
      throw new Error(`kiln: yolov8 needs images [B, 3, H, W] with H and W multiples of 32, got [${x.shape.join(", ")}]`);
    }
    const b = this.backbone;
    const n = this.neck;
    const p3 = b.c4.forward(b.p3.forward(b.c2.forward(b.p2.forward(b.p1.forward(x)))));
    const p4 = b.c6.forward(b.p4.forward(p3));
    const p5 = b.sppf.forward(b.c8.forward(b.p5.forward(p4)));
    const h12 = n.c12.forward(n.cat11.forward([n.up10.forward(p5), p4]));
    const out3 = n.c15.forward(n.cat14.forward([n.up13.forward(h12), p3]));
    const out4 = n.c18.forward(n.cat17.forward([n.down16.forward(out3), h12]));
    const out5 = n.c21.forward(n.cat20.forward([n.down19.forward(out4), p5]));
    return this.detect.forward([out3, out4, out5]);
  }
}

export function yolov8(options: YoloOptions): YOLOv8 {
  return new YOLOv8(options);
}
