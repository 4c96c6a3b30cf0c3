// The engine's public surface: tensors, autograd, memory, RNG and every op.
export { Tensor, numelOf, empty } from "./tensor.js";
export { Act, type ActOp } from "./kernels.js";
export { tensor, fromData, zeros, ones, full, zerosLike, onesLike, randn, rand, uniform } from "./create.js";
export { noGrad, isGradEnabled, zeroGrad, type Node, type GradRule, type LeafDone } from "./autograd.js";
export { tidy, keep, persistent, memoryStats, resetMemoryStats, clearPool, LARGE_BYTES, type MemoryStats } from "./memory.js";
export { Rng, defaultRng, manualSeed } from "./rng.js";
export { kernels, setBackend } from "./backend.js";

export { add, sub, mul, div, neg, square, exp, log, sqrt, abs, reciprocal, clamp, pow, maximum, minimum } from "./ops/arithmetic.js";
export { expand, sumTo } from "./ops/broadcast.js";
export { matmul, linear } from "./ops/linalg.js";
export { conv2d, conv2dAct, packConvWeights, type Conv2dOptions, type PackedConvWeights, type Pair } from "./ops/conv.js";
export { batchNorm2d, type BatchNormOptions } from "./ops/norm.js";
export { relu, relu6, leakyRelu, silu, sigmoid, tanh, hardswish, hardsigmoid } from "./ops/activation.js";
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, upsampleNearest2d, type MaxPool2dOptions, type AvgPool2dOptions, type UpsampleOptions } from "./ops/pool.js";
export { reshape, view, flatten, permute, transpose, cat, split, chunk, slice, unsqueeze, squeeze } from "./ops/shape.js";
export { sum, mean } from "./ops/reduce.js";
export { softmax, logSoftmax } from "./ops/softmax.js";
export { crossEntropy, bceWithLogits, mseLoss, type CrossEntropyOptions, type Reduction } from "./ops/loss.js";
export { dropout } from "./ops/dropout.js";
export { gradcheck, assertGradcheck, type GradcheckOptions, type GradcheckResult } from "./gradcheck.js";
