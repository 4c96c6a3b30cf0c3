// The detection task's part of a run: the dataset (YOLO, COCO, VOC,
// synthetic) checked before anything else, the loaders with mosaic and the
// rest of Ultralytics' augmentation, the YOLOv8 model, and close_mosaic.
import { checkDetectionDataset } from "../data/detect/check.js";
import { loadDetectionDataset } from "../data/detect/load.js";
import { DetectionLoader } from "../data/detect/loader.js";
import type { DetBatch } from "../data/detect/types.js";
import type { Rng } from "../engine/index.js";
import type { TrainConfig } from "../config/index.js";
import { createModel, type DetectorName, type YOLOv8 } from "../models/index.js";
import { Callback } from "./callbacks.js";
import type { Checkpoint } from "./checkpoint.js";
import { DetectTask } from "./detect-task.js";
import type { RunLog } from "./log.js";
import { fineTuneSource, prepareFineTune } from "../models/weights.js";
import { acceptCheckedData, type TaskSetup } from "./setup.js";
import type { Trainer } from "./trainer.js";
import { localShard, rankGather, rankSum } from "../distributed/join.js";
import { KilnError } from "../errors.js";

/** Ultralytics' close_mosaic: the last N epochs train without mosaic (closer to what validation sees). */
export class CloseMosaic extends Callback {
  readonly name = "close_mosaic";
  constructor(private readonly lastEpochs: number, private readonly loader: DetectionLoader) {
    super();
  }

  override onTrainEpochStart(t: Trainer): void {
    this.apply(t);
  }

  // A resumed run may start inside an epoch, without onTrainEpochStart.
  override onFitStart(t: Trainer): void {
    this.apply(t);
  }

  private apply(t: Trainer): void {
    const off = this.lastEpochs > 0 && t.epoch >= t.config.epochs - this.lastEpochs;
    if (off && t.epoch === t.config.epochs - this.lastEpochs && t.batch === 0) t.log.line(`closing mosaic for the last ${this.lastEpochs} epochs`);
    this.loader.setMosaic(!off);
  }
}

export async function setupDetect(config: TrainConfig, resumeFrom: Checkpoint | null, log: RunLog): Promise<TaskSetup<DetBatch>> {
  const ds = await loadDetectionDataset(config.data, { seed: config.seed, valRatio: config.val_ratio, fraction: config.fraction });
  if (!resumeFrom) acceptCheckedData(await checkDetectionDataset(ds), ds.name, log);
  const trainSamples = ds.splits.train ?? [];
  const valSamples = ds.splits.val ?? [];
  const nc = ds.classes.length;
  const base = { batch: config.batch, imgsz: config.imgsz, seed: config.seed, cache: config.cache, prefetch: config.prefetch, workers: config.workers };
  const shard = localShard();
  // Every rank takes part in each step's collectives, so none may get an empty slice (a lone batch smaller than the ranks).
  if (shard && trainSamples.length < shard.ranks) {
    throw new KilnError(`${config.data} has ${trainSamples.length} training images, fewer than the ${shard.ranks} ranks: each rank needs at least one. Fix: fewer ranks, or more data.`);
  }
  const train = new DetectionLoader(trainSamples, {
    ...base, shuffle: true, dropLast: trainSamples.length > config.batch, shard,
    augment: { mosaic: config.mosaic, translate: config.translate, scale: config.scale, fliplr: config.fliplr, hsv_h: config.hsv_h, hsv_s: config.hsv_s, hsv_v: config.hsv_v },
  });
  // ranks > 1: validation is sharded too (each rank its part of every batch; the detections gathered after).
  const val = new DetectionLoader(valSamples, { ...base, shuffle: false, dropLast: false, augment: null, shard });
  const source = fineTuneSource(config.model, "detect");
  const makeModel = (rng?: Rng): YOLOv8 => createModel(source.architecture as DetectorName, { nc, rng }) as YOLOv8;
  const model = makeModel();
  for (const line of prepareFineTune(model, source, config.model, config.freeze, resumeFrom !== null)) log.line(line);
  const objects = trainSamples.reduce((a, s) => a + s.objects.length, 0);
  return {
    task: new DetectTask({
      classes: ds.classes, imgsz: config.imgsz, gains: { box: config.box, cls: config.cls, dfl: config.dfl },
      nms: { conf: config.conf, iou: config.iou, maxDet: config.max_det }, val, sumOverRanks: rankSum(), gatherRanks: rankGather(),
    }),
    model,
    makeModel,
    train,
    valBatches: val.length,
    classes: ds.classes,
    modelMeta: { task: "detect", architecture: source.architecture, classes: ds.classes, imgsz: config.imgsz, channels: 3, normalize: { mean: [0, 0, 0], std: [1, 1, 1] } },
    dataLine: `${ds.name} (${ds.format}): train ${trainSamples.length}, val ${valSamples.length}${ds.splits.test ? `, test ${ds.splits.test.length}` : ""} images, ` +
      `${objects} training objects; ${nc} classes`,
    callbacks: [new CloseMosaic(config.close_mosaic, train)],
  };
}
