// The classification task's part of a run: the dataset (class folders, CSV,
// IDX, synthetic) checked before anything else, normalisation, the loaders
// with their augmentation, and the classifier.
import { checkClassificationDataset } from "../data/check.js";
import { loadClassificationDataset } from "../data/load.js";
import { DataLoader } from "../data/loader.js";
import { IMAGENET_NORMALIZE, measureNormalization } from "../data/stats.js";
import type { ClassificationDataset } from "../data/types.js";
import type { Rng } from "../engine/index.js";
import type { TrainConfig } from "../config/index.js";
import { createModel, type Classifier, type ClassifierName } from "../models/index.js";
import type { Checkpoint } from "./checkpoint.js";
import { ClassifyTask } from "./classify-task.js";
import type { RunLog } from "./log.js";
import { fineTuneSource, prepareFineTune } from "../models/weights.js";
import { acceptCheckedData, type TaskSetup } from "./setup.js";
import type { Batch } from "../data/loader.js";
import { localShard, rankGather } from "../distributed/join.js";

function channelsFor(model: string, data: 1 | 3): 1 | 3 {
  if (model === "cnn") return data;
  return model === "mnist_cnn" ? 1 : 3;
}

async function normalization(config: TrainConfig, ds: ClassificationDataset, channels: 1 | 3): Promise<{ mean: number[]; std: number[] }> {
  if (config.normalize === "data") return measureNormalization(ds.splits.train ?? [], channels);
  if (channels === 3) return IMAGENET_NORMALIZE;
  const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return { mean: [avg(IMAGENET_NORMALIZE.mean)], std: [avg(IMAGENET_NORMALIZE.std)] };
}

export async function setupClassify(config: TrainConfig, resumeFrom: Checkpoint | null, log: RunLog): Promise<TaskSetup<Batch>> {
  const ds = await loadClassificationDataset(config.data, { seed: config.seed, valRatio: config.val_ratio, fraction: config.fraction, maxPerClass: config.max_per_class });
  if (!resumeFrom) acceptCheckedData(await checkClassificationDataset(ds), ds.name, log);
  const trainSamples = ds.splits.train ?? [];
  const valSamples = ds.splits.val ?? [];
  const nc = ds.classes.length;
  const source = fineTuneSource(config.model, "classify");
  const channels = channelsFor(source.architecture, ds.channels);
  const normalize = resumeFrom?.model.normalize ?? (await normalization(config, ds, channels));
  const loaderBase = { batch: config.batch, imgsz: config.imgsz, channels, seed: config.seed, normalize, cache: config.cache, prefetch: config.prefetch, workers: config.workers };
  const train = new DataLoader(trainSamples, {
    ...loaderBase, shuffle: true, dropLast: trainSamples.length > config.batch, shard: localShard(),
    augment: { randomResizedCrop: config.scale > 0 ? { scale: [1 - config.scale, 1], ratio: [3 / 4, 4 / 3] } : null, fliplr: config.fliplr, hsv_h: config.hsv_h, hsv_s: config.hsv_s, hsv_v: config.hsv_v },
  });
  // ranks > 1: validation is sharded too (each rank its part of every batch; the counts gathered after).
  const val = new DataLoader(valSamples, { ...loaderBase, shuffle: false, dropLast: false, augment: null, shard: localShard() });
  const makeModel = (rng?: Rng): Classifier => createModel(source.architecture as ClassifierName, { nc, inChannels: channels, dropout: config.dropout, rng }) as Classifier;
  const model = makeModel();
  for (const line of prepareFineTune(model, source, config.model, config.freeze, resumeFrom !== null)) log.line(line);
  return {
    task: new ClassifyTask({ classes: ds.classes, imgsz: config.imgsz, labelSmoothing: config.label_smoothing, val, gatherRanks: rankGather() }),
    model,
    makeModel,
    train,
    valBatches: val.length,
    classes: ds.classes,
    modelMeta: { task: "classify", architecture: source.architecture, classes: ds.classes, imgsz: config.imgsz, channels, normalize },
    dataLine: `${ds.name} (${ds.format}): train ${trainSamples.length}, val ${valSamples.length}${ds.splits.test ? `, test ${ds.splits.test.length}` : ""} images; ${nc} classes`,
    expectedLoss: `ln ${nc} = ${Math.log(nc).toFixed(4)}`,
    callbacks: [],
  };
}
