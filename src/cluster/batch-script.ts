// The batch script of a run on SLURM, written into the run directory: plain
// bash with #SBATCH lines, readable and submittable again by hand
// (`sbatch runs/classify/train3/job.sbatch`). It trains, or resumes from
// weights/last.safetensors when the run has one. kiln watches the job's time
// limit itself (src/cluster/time-limit.ts: KILN_SLURM_GRACE): `grace` seconds
// before the end it stops as on Ctrl-C (finish the step, save last, mark the
// run interrupted) and exits with TIME_LIMIT_EXIT_CODE; with requeue, the
// script then submits the run again with --resume.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KILN_VERSION } from "../train/version.js";
import { shellQuote } from "./launch-args.js";
import type { SlurmOptions } from "./slurm-options.js";
import { GRACE_ENV, TIME_LIMIT_EXIT_CODE } from "./time-limit.js";

/** Set for the resubmission from inside a job: the job that reached its time limit (run.json's message says it). */
export const REQUEUED_FROM_ENV = "KILN_REQUEUED_FROM";

export const JOB_SCRIPT = "job.sbatch";

/** bin/kiln.js of this installation (dist/src/cluster/ → the package root). */
export const KILN_JS = fileURLToPath(new URL("../../../bin/kiln.js", import.meta.url));

export interface JobScriptSpec {
  runDir: string;
  /** The folder the job runs in (relative data paths are read from it). */
  cwd: string;
  jobName: string;
  /** The `kiln train` words of a fresh start (without `train`). */
  trainWords: string[];
  options: SlurmOptions;
  /** Processes in all (nodes × ntasks_per_node): more than one runs data-parallel ranks over MPI. */
  ranks: number;
  /** Where SLURM writes the job's output; default: the run directory's slurm-<job id>.out. */
  output?: string;
}

/** #SBATCH lines for the options (shared with the sweep's array script). */
export function sbatchLines(o: SlurmOptions, tasksPerNode: number): string[] {
  const lines = [`--nodes=${o.nodes}`, `--ntasks-per-node=${tasksPerNode}`];
  if (o.cpus_per_task !== undefined) lines.push(`--cpus-per-task=${o.cpus_per_task}`);
  if (o.mem !== undefined) lines.push(`--mem=${o.mem}`);
  if (o.time !== undefined) lines.push(`--time=${o.time}`);
  if (o.partition !== undefined) lines.push(`--partition=${o.partition}`);
  if (o.account !== undefined) lines.push(`--account=${o.account}`);
  return lines.map((l) => `#SBATCH ${l}`);
}

export function tasksPerNode(o: SlurmOptions, ranks: number): number {
  return o.ntasks_per_node ?? Math.max(1, Math.ceil(ranks / o.nodes));
}

export function jobScript(spec: JobScriptSpec): string {
  const run = resolve(spec.runDir);
  const o = spec.options;
  const perNode = tasksPerNode(o, spec.ranks);
  const total = perNode * o.nodes;
  const q = shellQuote;
  const fresh = ["train", ...spec.trainWords].map(q).join(" ");
  // One process: no MPI (srun would otherwise hand it a PMIx rank); more: one rank per task over PMIx.
  const srun = total > 1 ? `srun --mpi=pmix` : "srun --mpi=none --ntasks=1";
  return `#!/bin/bash
# kiln train on SLURM, written by kiln ${KILN_VERSION} for the run ${run}
# Submit it again by hand with:  sbatch ${q(resolve(run, JOB_SCRIPT))}
# It trains from the start, or resumes from weights/last.safetensors when the run has one.
#SBATCH --job-name=${q(spec.jobName)}
#SBATCH --output=${q(spec.output ?? resolve(run, "slurm-%j.out"))}
#SBATCH --chdir=${q(resolve(spec.cwd))}
${sbatchLines(o, perNode).join("\n")}
set -u
RUN=${q(run)}
NODE=${q(process.execPath)}
KILN=${q(KILN_JS)}
REQUEUE=${o.requeue ? 1 : 0}
# ${GRACE_ENV}: kiln reads the job's time limit (squeue) and stops that many seconds before it.
export KILN_RUN_DIR="$RUN" CI=1 ${GRACE_ENV}=${o.grace}
if [ -n "\${SLURM_CPUS_PER_TASK:-}" ]; then export KILN_THREADS="$SLURM_CPUS_PER_TASK"; fi
if [ -f "$RUN/weights/last.safetensors" ]; then
  TRAIN=(train --resume "$RUN" yes=true)
else
  TRAIN=(${fresh})
fi
echo "kiln: job \${SLURM_JOB_ID:-?} on \${SLURM_JOB_NODELIST:-?}: kiln \${TRAIN[*]}"
MARK=$(mktemp)   # older than any checkpoint this job saves
${srun} "$NODE" "$KILN" "\${TRAIN[@]}"
rc=$?
if [ "$rc" = ${TIME_LIMIT_EXIT_CODE} ]; then
  echo "kiln: stopped ${o.grace} s before the job's time limit; weights/last.safetensors saved"
  if [ "$REQUEUE" = 1 ] && [ "$RUN/weights/last.safetensors" -nt "$MARK" ]; then
    echo "kiln: submitting the run again to resume it"
    ${REQUEUED_FROM_ENV}="\${SLURM_JOB_ID:-}" "$NODE" "$KILN" train --resume "$RUN" --slurm && rc=0
  elif [ "$REQUEUE" = 1 ]; then
    echo "kiln: no new checkpoint in this job: not submitting again (it would make no progress)"
  else
    echo "kiln: resume it with: kiln train --resume $RUN --slurm"
  fi
fi
rm -f "$MARK"
exit "$rc"
`;
}
