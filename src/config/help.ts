// `kiln train --help`, produced from the schema: every option with its type,
// default and description, grouped, then examples.
import { descriptionOf, trainDefaults, typeLabel } from "./describe.js";
import { OPTION_GROUP_OF, OPTION_GROUPS, TRAIN_KEYS, type OptionGroup } from "./schema.js";

const EXAMPLES = `Examples:
  kiln train                                        # the built-in synthetic demo with the small cnn
  kiln train --data ./my-dataset --model resnet18 --epochs 30
  kiln train data=./my-dataset epochs=30 imgsz=96 batch=64 lr0=0.005 cos_lr=true
  kiln train --config experiment.yaml epochs=5      # the file's options, then the command line's
  kiln train --data ./my-dataset quick=true         # a couple of batches through the whole pipeline
  kiln train --resume                               # continue the latest interrupted run
  kiln train --resume runs/classify/train3          # … or a given run (or weights/last.safetensors)`;

export function trainHelp(): string {
  const defaults = trainDefaults() as Record<string, unknown>;
  const lines = [
    "kiln train — train an image classifier",
    "",
    "Usage: kiln train [key=value ...] [--key value ...] [--flag ...] [--config FILE.yaml]",
    "",
    "Options come from the defaults, then --config FILE.yaml, then the command line (later wins).",
    "Both key=value (Ultralytics style) and --key value work; --flag alone means flag=true.",
  ];
  const width = Math.max(...TRAIN_KEYS.map((k) => k.length));
  for (const group of Object.keys(OPTION_GROUPS) as OptionGroup[]) {
    lines.push("", `${OPTION_GROUPS[group]}:`);
    for (const key of TRAIN_KEYS.filter((k) => OPTION_GROUP_OF[k] === group)) {
      const dflt = key in defaults ? String(defaults[key]) : "unset";
      lines.push(`  ${key.padEnd(width)}  ${descriptionOf(key)} [${typeLabel(key)}, default: ${dflt}]`);
    }
  }
  lines.push("", "Other:", `  ${"config".padEnd(width)}  a YAML file of options (key: value lines)`,
    `  ${"help".padEnd(width)}  this text`, "", EXAMPLES);
  return lines.join("\n");
}
