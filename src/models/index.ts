// kiln's model zoo and the registry the CLI resolves `--model NAME` through.
import type { Module } from "../nn/index.js";
import type { Tensor } from "../engine/index.js";
import { cnn, mnistCnn, type CnnOptions } from "./cnn.js";
import { mobilenetV2, type MobileNetV2Options } from "./mobilenet.js";
import { resnet18, resnet34, resnet50 } from "./resnet.js";
import { yolov8 } from "./yolo/yolov8.js";
import type { ModelOptions } from "./common.js";

export { cnn, mnistCnn, MnistCnn, SmallCnn, type CnnOptions } from "./cnn.js";
export { resnet18, resnet34, resnet50, ResNet, BasicBlock, Bottleneck } from "./resnet.js";
export { mobilenetV2, MobileNetV2, InvertedResidual, type MobileNetV2Options } from "./mobilenet.js";
export { yolov8, YOLOv8, YOLO_SCALES, type YoloOptions, type YoloSize } from "./yolo/yolov8.js";
export { C2f, Concat, Conv, Detect, DFL, SPPF, Bottleneck as YoloBottleneck } from "./yolo/blocks.js";
export type { Classifier, ModelOptions } from "./common.js";

/** Options `createModel` passes through (each model reads the ones it knows). */
export type CreateModelOptions = ModelOptions & Omit<CnnOptions, "nc" | "rng"> & Omit<MobileNetV2Options, "nc" | "rng">;

const classifiers = {
  cnn: (o: CreateModelOptions) => cnn(o),
  mnist_cnn: (o: CreateModelOptions) => mnistCnn(o),
  resnet18: (o: CreateModelOptions) => resnet18(o),
  resnet34: (o: CreateModelOptions) => resnet34(o),
  resnet50: (o: CreateModelOptions) => resnet50(o),
  mobilenet_v2: (o: CreateModelOptions) => mobilenetV2(o),
} satisfies Record<string, (o: CreateModelOptions) => Module<[Tensor], Tensor>>;

const detectors = {
  yolov8n: (o: CreateModelOptions) => yolov8({ ...o, size: "n" }),
  yolov8s: (o: CreateModelOptions) => yolov8({ ...o, size: "s" }),
  yolov8m: (o: CreateModelOptions) => yolov8({ ...o, size: "m" }),
};

export type ClassifierName = keyof typeof classifiers;
export type DetectorName = keyof typeof detectors;
export type ModelName = ClassifierName | DetectorName;

export const CLASSIFIER_NAMES = Object.keys(classifiers) as ClassifierName[];
export const DETECTOR_NAMES = Object.keys(detectors) as DetectorName[];

export function isModelName(name: string): name is ModelName {
  return Object.hasOwn(classifiers, name) || Object.hasOwn(detectors, name);
}

/** The task a model name belongs to. */
export function modelTask(name: ModelName): "classify" | "detect" {
  return Object.hasOwn(classifiers, name) ? "classify" : "detect";
}

/** Builds a model by its registry name (`cnn`, `resnet18`, `mobilenet_v2`, `yolov8n`, …). */
export function createModel<N extends ModelName>(name: N, options: CreateModelOptions):
  N extends ClassifierName ? ReturnType<(typeof classifiers)[N]> : N extends DetectorName ? ReturnType<(typeof detectors)[N]> : never;
export function createModel(name: string, options: CreateModelOptions): Module<never, unknown> {
  if (Object.hasOwn(classifiers, name)) return classifiers[name as ClassifierName](options);
  if (Object.hasOwn(detectors, name)) return detectors[name as DetectorName](options);
  throw new Error(`kiln: unknown model "${name}"; known models: ${[...CLASSIFIER_NAMES, ...DETECTOR_NAMES].join(", ")}`);
}
