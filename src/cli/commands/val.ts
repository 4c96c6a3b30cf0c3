// `kiln val --model W [--data D] [--split val|test] [--json]`.
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { validateCheckpoint } from "../../train/validate.js";
import { box } from "../../train/log.js";
import { modelOption, optionalNumber } from "./common.js";

export const VAL_HELP = `kiln val — evaluate a trained model on a dataset split

Usage: kiln val --model WEIGHTS [--data PATH] [--split val|test] [--batch N] [--json]

  --model   a kiln checkpoint, PyTorch .pt/.pth (torchvision, Ultralytics) or .safetensors weights
             (default: the latest run's best weights, from kiln.state.yaml)
  --data    the dataset (default: the one the model was trained on; its val split is the same held-out one)
  --split   val (default) or test
  --batch   images per batch (default: the training batch)
  --json    print the metrics as JSON

Prints accuracy, top-5, loss, per-class precision/recall/F1, macro F1 and the 5 worst classes.

Examples:
  kiln val --model runs/classify/train/weights/best.safetensors
  kiln val --model runs/classify/train3/weights/best.safetensors --data ./my-dataset --split test --json`;

export async function valCommand(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, (k) => k !== "json");
  if (options.has("help")) {
    console.log(VAL_HELP);
    return 0;
  }
  for (const key of options.keys()) {
    if (!["model", "data", "split", "batch", "json"].includes(key)) throw new KilnError(`unknown option '${key}' for kiln val. Run 'kiln val --help'.`);
  }
  const split = options.get("split") ?? "val";
  if (split !== "val" && split !== "test") throw new KilnError(`invalid value for 'split': ${String(split)}. Allowed: val or test.`);
  const data = options.get("data");
  const r = await validateCheckpoint({ model: modelOption(options, "kiln val"), data: typeof data === "string" ? data : undefined, split, batch: optionalNumber(options, "batch") });
  if (options.has("json")) {
    console.log(JSON.stringify(r, null, 2));
    return 0;
  }
  if (r.task === "detect") {
    const name = Math.max(5, ...r.perClass.map((c) => c.name.length));
    console.log(box("kiln val", [
      `model      ${r.model}`,
      `data       ${r.data} (${r.split}, ${r.images} images)`,
      `mAP50      ${r.mAP50.toFixed(4)}   mAP50-95 ${r.mAP50_95.toFixed(4)}   precision ${r.precision.toFixed(4)}   recall ${r.recall.toFixed(4)}`,
      "",
      `${"class".padEnd(name)}  images  instances      P      R  mAP50  mAP50-95`,
      ...r.perClass.map((c) => `${c.name.padEnd(name)}  ${String(c.images).padStart(6)}  ${String(c.instances).padStart(9)}  ${c.precision.toFixed(3)}  ` +
        `${c.recall.toFixed(3)}  ${c.ap50.toFixed(3)}  ${c.ap50_95.toFixed(3).padStart(8)}`),
    ]));
    return 0;
  }
  const name = Math.max(5, ...r.perClass.map((c) => c.name.length));
  const rows = [
    `model      ${r.model}`,
    `data       ${r.data} (${r.split}, ${r.count} images)`,
    `accuracy   ${r.accuracy.toFixed(4)}   top-5 ${r.top5.toFixed(4)}   loss ${r.loss.toFixed(4)}   macro F1 ${r.macroF1.toFixed(4)}`,
    "",
    `${"class".padEnd(name)}  precision  recall     f1  support`,
    ...r.perClass.map((c) => `${c.name.padEnd(name)}  ${c.precision.toFixed(4).padStart(9)}  ${c.recall.toFixed(4).padStart(6)}  ${c.f1.toFixed(4)}  ${String(c.support).padStart(7)}`),
    ...(["macro", "weighted"] as const).map((k) => `${`${k} avg`.padEnd(name)}  ${r[k].precision.toFixed(4).padStart(9)}  ${r[k].recall.toFixed(4).padStart(6)}  ${r[k].f1.toFixed(4)}  ${String(r[k].support).padStart(7)}`),
    "",
    `worst      ${r.worst.map((c) => `${c.name} (f1 ${c.f1.toFixed(3)})`).join(", ")}`,
  ];
  console.log(box("kiln val", rows));
  return 0;
}
