// The kiln command line. Each command parses, validates and calls the library;
// a KilnError (a user-caused problem) is printed without a stack trace.
import { KilnError } from "../errors.js";
import { compareCommand } from "./commands/compare.js";
import { dataCommand } from "./commands/data.js";
import { doctorCommand } from "./commands/doctor.js";
import { predictCommand } from "./commands/predict.js";
import { runsCommand } from "./commands/runs.js";
import { trainCommand } from "./commands/train.js";
import { valCommand } from "./commands/val.js";

const HELP = `kiln — train, evaluate and export vision models on the CPU

Usage: kiln <command> [options]

Commands:
  train       train an image classifier (no options: the built-in synthetic demo)
  val         evaluate a trained model on a dataset split
  predict     label images with a trained model
  compare     compare a run's metrics with a baseline's (exit code 1 when it degraded)
  runs        list, show, compare and annotate training runs
  data        check a dataset (kiln data check PATH)
  doctor      check the installation: native kernels, threads, image decoding, memory, disk
  info        the same as doctor

Examples:
  kiln train                                   # the demo: synthetic shapes, the small cnn
  kiln train --data ./my-dataset --model resnet18 --epochs 30
  kiln val --model runs/classify/train/weights/best.safetensors
  kiln predict --model runs/classify/train/weights/best.safetensors --source photos/ --save
  kiln compare runs/classify/train2 runs/classify/train   # exit code 1 when val accuracy fell > 1 point
  kiln runs --status finished --sort best

Run 'kiln <command> --help' for a command's options.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  train: trainCommand,
  val: valCommand,
  predict: predictCommand,
  compare: compareCommand,
  runs: runsCommand,
  data: dataCommand,
  doctor: doctorCommand,
  info: doctorCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(HELP);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    console.error(`kiln: unknown command '${command}'. Run 'kiln --help' for the list.`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    if (err instanceof KilnError) {
      console.error(`kiln ${command}: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}
