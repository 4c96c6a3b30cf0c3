// The engine benchmark's four cases on kiln's side: model, input, loss. The
// PyTorch peer (bench/peer/engine.py) builds the same architectures and losses.
import { add, crossEntropy, mean, square, type Tensor } from "../src/engine/index.js";
import type { AnyModule, Module } from "../src/nn/index.js";
import { mnistCnn, mobilenetV2, resnet18, yolov8 } from "../src/models/index.js";

export interface EngineCase {
  /** Images per training step. */
  batch: number;
  /** One image: [channels, height, width]. */
  input: [number, number, number];
  classes: number;
  /** Timed steps by default: a few seconds per process on 2 cores. */
  steps: number;
  build(): BuiltCase;
}

export interface BuiltCase {
  model: AnyModule;
  /** Forward and loss (`targets`: one class per image). */
  forwardLoss(x: Tensor, targets: Int32Array): Tensor;
}

const classifier = (model: Module<[Tensor], Tensor>): BuiltCase => ({
  model,
  forwardLoss: (x, targets) => crossEntropy(model.forward(x), targets),
});

/**
 * Each head output's mean of squares (its sum of squares scaled by 1/numel),
 * summed: a loss with the shape of real training that stays finite under SGD.
 * The peer computes the same.
 */
function sumOfSquares(outputs: readonly Tensor[]): Tensor {
  return outputs.map((o) => mean(square(o))).reduce((a, b) => add(a, b));
}

function detector(): BuiltCase {
  const model = yolov8({ size: "n", nc: 80 });
  return { model, forwardLoss: (x) => sumOfSquares(model.forward(x)) };
}

export const ENGINE_CASES: Record<string, EngineCase> = {
  mnist_cnn: { batch: 64, input: [1, 28, 28], classes: 10, steps: 50, build: () => classifier(mnistCnn({ nc: 10 })) },
  resnet18_64: { batch: 32, input: [3, 64, 64], classes: 10, steps: 20, build: () => classifier(resnet18({ nc: 10 })) },
  mobilenet_v2_96: { batch: 32, input: [3, 96, 96], classes: 10, steps: 20, build: () => classifier(mobilenetV2({ nc: 10 })) },
  yolov8n_320: {
    batch: 8, input: [3, 320, 320], classes: 80, steps: 10,
    build: detector,
  },
};
