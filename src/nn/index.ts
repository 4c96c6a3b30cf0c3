// kiln's neural-network layer library (torch.nn's names and behaviour).
export { Module, StateDictError, clearGrads } from "./module.js";
export type { AnyModule, LoadStateDictOptions, LoadStateDictResult, TensorValues } from "./module.js";
export { Conv2d, type Conv2dOptions } from "./layers/conv.js";
export { BatchNorm2d, normAct, type BatchNorm2dOptions } from "./layers/norm.js";
export { Linear, type LinearOptions } from "./layers/linear.js";
export { FusibleActivation, Hardswish, LeakyReLU, ReLU, ReLU6, Sigmoid, SiLU, Tanh } from "./layers/activation.js";
export { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, type AvgPool2dOptions, type MaxPool2dOptions } from "./layers/pooling.js";
export { Dropout, Flatten, Identity, Upsample } from "./layers/misc.js";
export { ModuleList, Sequential, type Layer } from "./layers/container.js";
export { foldBatchNorm, fuseConvBnAct, fuseSequence } from "./fuse.js";
export * as init from "./init.js";
