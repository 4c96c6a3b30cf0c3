// The public surface of src/data (docs/data-api.md).
export type { ClassificationDataset, DataIssue, ImageSource, RawImage, Sample, SplitName } from "./types.js";
export { loadClassificationDataset, type LoadOptions } from "./load.js";
export { DataLoader, type Batch, type LoaderOptions } from "./loader.js";
export type { AugmentOptions } from "./augment.js";
export { IMAGENET_NORMALIZE, measureNormalization } from "./stats.js";
export { checkClassificationDataset, formatDataReport, type CheckOptions, type DataReport } from "./check.js";
export { SYNTHETIC_CLASSES, syntheticDataset, writeClassFolders, type SyntheticOptions } from "./synthetic.js";
export { decodeImage } from "./decode.js";
