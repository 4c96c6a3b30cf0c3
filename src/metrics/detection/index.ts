// Detection metrics for training and `kiln val`: COCO-exact mAP, Ultralytics-style P/R, curves, confusion.
export { evaluateDetections } from "./evaluate.js";
export { confusionMatrix, CONFUSION_CONF, CONFUSION_IOU } from "./confusion.js";
export { CONFIDENCE_POINTS } from "./curves.js";
export { toCoco } from "./to-coco.js";
export { interp, smooth } from "./interp.js";
export type { DetClassMetrics, DetImageEval, DetectionMetrics, Xyxy } from "./types.js";
