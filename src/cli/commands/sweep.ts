// `kiln sweep sweep.yaml [--slurm] [--wait]`, `kiln sweep show DIR`.
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { useColor } from "../../runs/table.js";
import { formatSweepReport, planSweep, readSweepSpec, runSweepLocally, submitSweepArray, sweepReport } from "../../cluster/sweep.js";

export const SWEEP_HELP = `kiln sweep — trials over config keys, each its own run, compared at the end

Usage: kiln sweep SWEEP.yaml [--slurm [--wait]] [--logdir DIR]
       kiln sweep show SWEEP_DIR [--json]

SWEEP.yaml:
  name: lr                    # the folder: runs/lr/trial1, trial2, … (default runs/sweep, sweep2, …)
  method: grid                # grid (every combination) or random (seeded draws)
  seed: 0                     # random: the draws' seed
  budget: 8                   # at most this many trials (random: required)
  fixed: {epochs: 5, imgsz: 32}          # keys every trial shares
  parameters:
    lr0: [0.001, 0.01]                   # values (grid), or a choice (random)
    weight_decay: {min: 1e-5, max: 1e-3, log: true}   # random: a range (int: true for integers)
  slurm: {time: "1:00:00", cpus_per_task: 2}         # the job array's options (kiln train --help)

Here the trials run one after another (Ctrl-C stops the current one and the sweep). With --slurm
they go to SLURM as one job array (element N runs trialN/job.sbatch); --wait waits for it. The sweep
ends with the trials sorted by the task's fitness metric (val accuracy; detect: mAP50-95);
'kiln sweep show DIR' prints that table at any time, 'kiln runs --logdir DIR' lists the trials.`;

export async function sweepCommand(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, (k) => ["logdir", "project"].includes(k));
  if (options.has("help") || positionals.length === 0) {
    console.log(SWEEP_HELP);
    return positionals.length === 0 && !options.has("help") ? 2 : 0;
  }
  if (positionals[0] === "show") {
    if (positionals.length !== 2) throw new KilnError("kiln sweep show takes the sweep's folder. Example: kiln sweep show runs/sweep", 2);
    const r = sweepReport(positionals[1]);
    console.log(options.has("json") ? JSON.stringify(r, null, 2) : formatSweepReport(r, useColor()));
    return 0;
  }
  if (positionals.length !== 1) throw new KilnError(`kiln sweep takes one YAML file (got ${positionals.join(" ")}). Run 'kiln sweep --help'.`, 2);
  const logdir = options.get("logdir") ?? options.get("project") ?? "runs";
  if (typeof logdir !== "string") throw new KilnError("--logdir needs a folder.", 2);
  const spec = readSweepSpec(positionals[0]);
  const plan = planSweep(spec, logdir);
  console.log(`sweep ${plan.dir}: ${plan.trials.length} trials (${spec.method})`);
  if (options.has("slurm")) {
    const arrayId = submitSweepArray(plan, spec);
    console.log(`submitted as SLURM job array ${arrayId} (elements 1-${plan.trials.length}); follow: kiln runs --logdir ${plan.dir}; table: kiln sweep show ${plan.dir}`);
    if (!options.has("wait")) return 0;
    const active = (): boolean => sweepReport(plan.dir).trials.some((t) => t.status === "queued" || t.status === "running");
    while (active()) await sleep(1000);
  } else {
    runSweepLocally(plan);
  }
  console.log(`\n${formatSweepReport(sweepReport(plan.dir), useColor())}`);
  return 0;
}
