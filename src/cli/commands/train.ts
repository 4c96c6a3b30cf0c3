// `kiln train`: parse, merge with --config, validate, call the library.
import { parseArgs, readConfigFile, resolveTrainConfig, trainHelp, typeCliValue, TRAIN_KEYS, type RawOptions, type TrainConfig } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { runTraining } from "../../train/run.js";
import { optionTypes } from "../../config/describe.js";
import { splitLaunchArgs } from "../../cluster/launch-args.js";
import { launchTraining } from "../../cluster/launch.js";
import { slurmOptionsHelp } from "../../cluster/slurm-options.js";
import { TIME_LIMIT_EXIT_CODE } from "../../cluster/time-limit.js";

const LAUNCH_HELP = `
Away from the terminal:
  --detach         train in a background process (survives closing the terminal); output in the run's
                   train.log and output.log; stop it with 'kiln runs stop RUN' (as Ctrl-C)
  --slurm [key=value…]  write the run's batch script (job.sbatch) and submit it with sbatch; the
                   key=value words after --slurm that are SLURM options:
${slurmOptionsHelp()}

  kiln train epochs=30 --detach
  kiln train epochs=30 --slurm partition=cpu cpus_per_task=8 time=4:00:00 requeue=true
  kiln train --resume runs/classify/train3 --slurm        # submit an interrupted run again`;

/** Whether `--key` may take the next word: every option except pure booleans. */
function takesValue(key: string): boolean {
  if (key === "config") return true;
  if (!TRAIN_KEYS.includes(key as keyof TrainConfig)) return true;
  const types = optionTypes(key);
  return !(types.length === 1 && types[0] === "boolean");
}

export async function trainCommand(argv: string[]): Promise<number> {
  const launch = splitLaunchArgs(argv);
  const { options, positionals } = parseArgs(launch.words, takesValue);
  if (options.has("help")) {
    console.log(trainHelp() + LAUNCH_HELP);
    return 0;
  }
  // Ultralytics' `yolo train resume` spelling.
  if (positionals.length === 1 && positionals[0] === "resume") options.set("resume", true);
  else if (positionals.length > 0) throw new KilnError(`unexpected word '${positionals[0]}'. Options are key=value or --key value; run 'kiln train --help'.`);
  const overrides: RawOptions = {};
  let file: { path: string; options: RawOptions } | undefined;
  for (const [key, value] of options) {
    if (key === "config") {
      if (value === true) throw new KilnError("--config needs a file: --config experiment.yaml");
      file = { path: value, options: readConfigFile(value) };
    } else {
      overrides[key] = typeCliValue(key, value);
    }
  }
  const config = resolveTrainConfig({ file, overrides });
  if (launch.detach || launch.slurm) return launchTraining(config, launch);
  const result = await runTraining(config, { explicit: Object.keys({ ...file?.options, ...overrides }) });
  // The job script tells a stop for the SLURM time limit (resubmit) from a Ctrl-C by the exit status.
  return result.status !== "interrupted" ? 0 : result.timeLimit ? TIME_LIMIT_EXIT_CODE : 130;
}
