// The options of `--slurm` (one schema: validation, defaults and the help
// text). They are the job's, not the training's, so they stay out of the
// training config and args.yaml; they live in the batch script.
import { z } from "zod";
import { KilnError } from "../errors.js";
import { parseSlurmDuration } from "./time-limit.js";

// SLURM's --time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
const TIME = /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2})$/;
const MEM = /^\d+[KMGT]?$/i;

export const slurmOptionsSchema = z.object({
  partition: z.string().min(1).optional().describe("partition (queue) to run in (sbatch --partition); default: the cluster's default"),
  nodes: z.coerce.number().int().min(1).default(1).describe("nodes (sbatch --nodes)"),
  ntasks_per_node: z.coerce.number().int().min(1).optional().describe("processes per node (sbatch --ntasks-per-node); more than one in all = data-parallel ranks over MPI; default: ranks= or 1"),
  cpus_per_task: z.coerce.number().int().min(1).optional().describe("cores per process (sbatch --cpus-per-task); kiln's compute threads follow it"),
  mem: z.string().regex(MEM, "a size such as 4G, 800M or 16000 (MB)").optional().describe("memory per node (sbatch --mem: 4G, 800M)"),
  time: z.string().regex(TIME, "a SLURM time: minutes (30), H:MM:SS (2:00:00) or D-HH:MM:SS").optional().describe("time limit (sbatch --time: 30, 2:00:00, 1-00:00:00)"),
  account: z.string().min(1).optional().describe("account to charge (sbatch --account)"),
  requeue: z.enum(["true", "false"]).default("false").transform((v) => v === "true").describe("when the time limit stops the run, submit it again with --resume (true/false)"),
  grace: z.coerce.number().int().min(10).default(60).describe("seconds before the job's time limit at which kiln saves weights/last.safetensors and stops (with requeue=true, then resubmits); enough for one step and a checkpoint"),
});

export type SlurmOptions = z.infer<typeof slurmOptionsSchema>;
export const SLURM_KEYS = Object.keys(slurmOptionsSchema.shape) as (keyof SlurmOptions)[];

export function parseSlurmOptions(raw: Record<string, string>): SlurmOptions {
  for (const key of Object.keys(raw)) {
    if (!(SLURM_KEYS as string[]).includes(key)) throw new KilnError(`unknown --slurm option '${key}'. Allowed: ${SLURM_KEYS.join(", ")}.`, 2);
  }
  const r = slurmOptionsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = String(issue.path[0]);
    throw new KilnError(`invalid --slurm option ${key}=${raw[key]}: ${issue.message}.${key === "time" ? " (time= after --slurm is the job's time limit; the training's own budget in hours is time= before --slurm.)" : ""}`, 2);
  }
  const limit = r.data.time === undefined ? null : parseSlurmDuration(r.data.time);
  if (limit !== null && r.data.grace >= limit) {
    throw new KilnError(`--slurm grace=${r.data.grace} is not shorter than the job's time limit time=${r.data.time} (${limit} s): kiln would stop as soon as it starts. Fix: a longer time= or a smaller grace= (at least 10 s).`, 2);
  }
  return r.data;
}

export function slurmOptionsHelp(): string {
  return SLURM_KEYS.map((k) => `  ${k.padEnd(16)} ${slurmOptionsSchema.shape[k].description ?? ""}`).join("\n");
}
