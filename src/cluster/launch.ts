// `kiln train` with --detach or --slurm: the configuration is validated here
// first (errors show at once, in the terminal), then the run is handed to a
// background process or to SLURM, and the command says how to follow it.
import type { TrainConfig } from "../config/index.js";
import { DETECT_DEFAULTS, trainDefaults } from "../config/index.js";
import { latestRun } from "../train/run-dir.js";
import { detachTraining } from "./detach.js";
import type { LaunchArgs } from "./launch-args.js";
import { runDirOfResume, submitTraining } from "./submit.js";

function resumeDirOf(config: TrainConfig): string | null {
  if (config.resume === false) return null;
  const projects = config.project === trainDefaults().project ? [config.project, DETECT_DEFAULTS.project as string] : [config.project];
  return runDirOfResume(config.resume, () => latestRun(...projects));
}

/** Starts the run away from the terminal; returns the exit code. */
export function launchTraining(config: TrainConfig, launch: LaunchArgs): number {
  const resumeDir = resumeDirOf(config);
  if (launch.slurm) {
    const s = submitTraining(config, launch.words, launch.slurm, resumeDir);
    console.log([
      `submitted ${s.runDir} to SLURM as job ${s.jobId}`,
      `  script   ${s.script} (sbatch it again by hand to resume)`,
      `  follow   kiln runs   |   kiln runs show ${s.runDir}   |   tail -f ${s.runDir}/train.log   |   kiln ui`,
      `  stop     kiln runs stop ${s.runDir}`,
    ].join("\n"));
    return 0;
  }
  const d = detachTraining(config, launch.words, resumeDir);
  console.log([
    `training in the background: ${d.runDir} (pid ${d.pid}); closing this terminal does not stop it`,
    `  follow   kiln runs   |   tail -f ${d.runDir}/train.log   |   kiln ui`,
    `  output   ${d.output}`,
    `  stop     kiln runs stop ${d.runDir}   (as Ctrl-C: saves weights/last.safetensors; resume with kiln train --resume ${d.runDir})`,
  ].join("\n"));
  return 0;
}
