// The reference backend: every kernel in plain TypeScript loops that follow kernels.ts literally
// (PyTorch's definitions). It is the tests' oracle for `native` and the fallback when the addon
// cannot load. Sums accumulate in double and are stored to float32.
import type { Kernels } from "../kernels.js";
import { gemm } from "./reference/linalg.js";
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from "./reference/conv.js";
import { batchNormBackward, batchNormInference, batchNormTrain } from "./reference/norm.js";
import {
  adaptiveAvgPool2d, adaptiveAvgPool2dBackward, avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward,
  upsampleNearest2d, upsampleNearest2dBackward,
} from "./reference/pool.js";
import { axpy, binary, fill, unary, unaryBackward } from "./reference/elementwise.js";
import { copyStrided } from "./reference/layout.js";
import { argmaxRows, sumTo } from "./reference/reduce.js";
import {
  bceWithLogits, bceWithLogitsBackward, crossEntropy, crossEntropyBackward, softmax, softmaxBackward,
} from "./reference/loss.js";
import { dropoutMask } from "./reference/random.js";
import { adamStep, allFinite, emaUpdate, scaleArrays, sgdStep, sumSquares } from "./reference/optim.js";

export const referenceKernels: Kernels = {
  info: () => ({ name: "reference", isa: "js", threads: 1 }),
  // Single-threaded by design: nothing to set.
  setThreads: () => {},
  gemm,
  conv2d, conv2dBackwardInput, conv2dBackwardWeight,
  // Nothing to pack: the loops read w as it is.
  convPackWeights: () => null,
  batchNormTrain, batchNormInference, batchNormBackward,
  maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward,
  adaptiveAvgPool2d, adaptiveAvgPool2dBackward, upsampleNearest2d, upsampleNearest2dBackward,
  unary, unaryBackward, binary, axpy, fill, copyStrided,
  sumTo, argmaxRows,
  softmax, softmaxBackward, crossEntropy, crossEntropyBackward, bceWithLogits, bceWithLogitsBackward,
  dropoutMask,
  sgdStep, adamStep, emaUpdate, sumSquares, scaleArrays, allFinite,
};
