// One rank of a data-parallel job joining it: MPI initialised, the job's size
// checked against the configuration, the cores of the node shared among its
// ranks, and the exit path wired so that a failing rank ends the job at once.
import { availableParallelism } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import type { TrainConfig } from "../config/index.js";
import { RunLog } from "../train/log.js";
import { KILN_VERSION } from "../train/version.js";
import { threadsPerRank, type RankEnv } from "./env.js";
import { Communicator } from "./mpi.js";
import { DataParallel, DEFAULT_BUCKET_FLOATS } from "./parallel.js";

export interface RankContext {
  comm: Communicator;
  parallel: DataParallel;
  env: RankEnv;
  /** The configuration this rank trains with (ranks = the job's size). */
  config: TrainConfig;
  /** Compute threads for this rank when threads=0 and KILN_THREADS is unset (the node's cores shared by its ranks); 0: leave as is. */
  threads: number;
  /** Marks the run as ended cleanly on this rank (MPI_Finalize at exit instead of MPI_Abort). */
  done(): void;
  /** Ends the whole job now: the failure recorded in run.json (when the run directory is known), then MPI_Abort. */
  fail(err: unknown, runDir: string | null): never;
}

let current: RankContext | null = null;

/** This process's slice of every batch, when it is one rank of a data-parallel job. */
export function localShard(): { rank: number; ranks: number } | undefined {
  return current && current.comm.size > 1 ? { rank: current.comm.rank, ranks: current.comm.size } : undefined;
}

/**
 * ranks > 1: a number summed over every rank (an all-reduce in float64 that
 * every rank must reach at the same point); undefined for one process.
 */
export function rankSum(): ((value: number) => number) | undefined {
  const c = current;
  if (!c || c.comm.size === 1) return undefined;
  const cell = new Float64Array(1);
  return (value) => {
    cell[0] = value;
    c.comm.sum(cell);
    return cell[0];
  };
}

/**
 * ranks > 1: every rank's value (JSON) in rank order, on every rank (an
 * all-gather every rank must reach at the same point); undefined for one process.
 */
export function rankGather(): RankGather | undefined {
  const c = current;
  if (!c || c.comm.size === 1) return undefined;
  return (value) => c.comm.allgather(value);
}

export type RankGather = <T>(value: T) => T[];

/** A log that prints nothing: ranks other than 0 train silently (their failures still print). */
export class SilentLog extends RunLog {
  override attach(): void {}
  override line(): void {}
  override bar(): void {}
}

/**
 * The log of a rank: rank 0 prints, the others stay silent. mpirun gives the
 * ranks a pseudo-terminal even when its own output is a pipe, so the launcher
 * says (KILN_RANKS_TTY=0) when progress bars must not be drawn.
 */
export function rankLog(env: RankEnv): RunLog {
  if (env.rank !== 0) return new SilentLog();
  if (process.env.KILN_RANKS_TTY !== "0") return new RunLog();
  const plain = { isTTY: false, write: (text: string) => process.stdout.write(text) } as unknown as NodeJS.WriteStream;
  return new RunLog(plain);
}

/**
 * Joins the MPI job this process was launched into. `savedRanks`: a resumed
 * run's rank count, which must match (the data each rank saw depends on it).
 */
export function joinRanks(config: TrainConfig, env: RankEnv, savedRanks: number | null): RankContext {
  if (current) return current;
  const comm = Communicator.world();
  let clean = false;
  comm.finalizeOnExit(() => clean);
  const fail = (err: unknown, runDir: string | null): never => {
    const message = err instanceof Error ? err.message : String(err);
    const text = `rank ${comm.rank} of ${comm.size} failed: ${message}`;
    if (runDir) markRunFailed(runDir, text);
    process.stderr.write(`kiln: ${text}${err instanceof KilnError || !(err instanceof Error) ? "" : `\n${err.stack ?? ""}`}\nkiln: ending every rank of the job (MPI_Abort)\n`);
    return comm.abort(err instanceof KilnError ? err.exitCode || 1 : 1);
  };
  try {
    if (savedRanks !== null && savedRanks !== comm.size) {
      throw new KilnError(`the run being resumed was trained with ranks=${savedRanks}, and this MPI job has ${comm.size}: resume works with the same number of ranks (each rank's slice of every batch depends on it). Fix: resume it with ${savedRanks} ranks ('kiln train --resume RUN' launches them).`);
    }
    if (config.ranks > 1 && config.ranks !== comm.size) {
      throw new KilnError(`ranks=${config.ranks}, but the MPI job has ${comm.size} processes. Fix: launch ${config.ranks} ranks (mpirun -np ${config.ranks} / srun -n ${config.ranks}), or set ranks=${comm.size}.`);
    }
    if (comm.size > config.batch) {
      throw new KilnError(`batch=${config.batch} is the global batch, split over ${comm.size} ranks: each rank needs at least one image. Fix: batch=${comm.size * 8} or more.`);
    }
  } catch (err) {
    return fail(err, null);
  }
  const threads = config.threads > 0 || process.env.KILN_THREADS ? 0 : threadsPerRank(availableParallelism(), env.localSize);
  const ctx: RankContext = {
    comm,
    parallel: new DataParallel(comm, bucketFloats(), process.env.KILN_DDP_OVERLAP === "1"),
    env,
    config: { ...config, ranks: comm.size },
    threads,
    done: () => { clean = true; },
    fail,
  };
  current = ctx;
  return ctx;
}

/** Floats per all-reduce bucket: KILN_DDP_BUCKET_FLOATS (tests use small buckets to cross their boundaries), else 4 Mi (16 MiB). */
function bucketFloats(): number {
  const v = Number(process.env.KILN_DDP_BUCKET_FLOATS);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_BUCKET_FLOATS;
}

/** run.json says failed, with the message (a rank other than 0 does this before aborting: rank 0 is about to be killed). */
export function markRunFailed(runDir: string, message: string): void {
  const path = join(runDir, "run.json");
  try {
    const record = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>) : {};
    if (record.status === "finished" || record.status === "interrupted" || record.status === "failed") return; // ended already: keep its word
    const now = new Date().toISOString();
    // A run that failed before rank 0 wrote its record still gets run.json's usual fields.
    const base = { pid: process.pid, kiln_version: KILN_VERSION, started_at: now };
    writeFileAtomicSync(path, `${JSON.stringify({ ...base, ...record, status: "failed", ended_at: now, heartbeat_at: now, message }, null, 2)}\n`);
  } catch {
    // The failure is printed either way; a run.json we cannot write must not hide it.
  }
}
