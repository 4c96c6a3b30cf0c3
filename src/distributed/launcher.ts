// `kiln train ... ranks=N` on one machine: starts `mpirun -np N` with one kiln
// process per rank (src/distributed/rank-main.ts) and waits for it. The run
// directory is made here first, so that whatever happens to the ranks (one
// killed, MPI missing) the run is marked failed with the reason.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KilnError } from "../errors.js";
import type { TrainConfig } from "../config/index.js";
import type { RunLog } from "../train/log.js";
import { createRunDir } from "../train/run-dir.js";
import type { TrainResult } from "../train/run.js";
import { markRunFailed } from "./join.js";
import { MPI_INSTALL_FIX, mpiAddonPath, mpiAvailable } from "./mpi.js";

/** What a rank process is given: the configuration as the caller gave it, and which keys were explicit. */
export interface RankSpec {
  config: TrainConfig;
  explicit: string[];
  /** Where rank 0 writes the TrainResult as JSON. */
  resultFile: string;
}

/** The mpirun command line and environment for `ranks` processes of `node rank-main.js spec`. */
export function mpirunCommand(ranks: number, specFile: string, env: NodeJS.ProcessEnv = process.env): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const rankMain = join(dirname(fileURLToPath(import.meta.url)), "rank-main.js");
  const args = ["-np", String(ranks),
    // Open MPI binds each rank to one core by default (np <= 2): that would serialise the kernels' threads.
    "--bind-to", "none"];
  const out: NodeJS.ProcessEnv = { ...env };
  if (ranks > availableParallelism()) {
    args.push("--oversubscribe");
    out.OMPI_MCA_mpi_yield_when_idle ??= "1"; // waiting ranks would busy-poll otherwise
  }
  if (process.getuid?.() === 0) {
    out.OMPI_ALLOW_RUN_AS_ROOT = "1";
    out.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = "1";
  }
  // One machine: shared memory between ranks; no TCP listeners on every interface.
  out.OMPI_MCA_btl ??= "self,vader";
  // Open MPI 4.1's aggregation of the ranks' help messages garbles them when two ranks abort at once
  // ("ORTE_ERROR_LOG: Data unpack would read past end of buffer"): print each as it comes.
  out.OMPI_MCA_orte_base_help_aggregate ??= "0";
  args.push(process.execPath, rankMain, specFile);
  return { command: "mpirun", args, env: out };
}

function checkMpirun(): void {
  const r = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new KilnError(`ranks > 1 launches mpirun, which was not found (${r.error?.message ?? r.stderr.trim()}). ${MPI_INSTALL_FIX}`);
  if (!mpiAvailable()) throw new KilnError(`ranks > 1 needs kiln's MPI addon ${mpiAddonPath()}, which was not built. ${MPI_INSTALL_FIX}`);
}

/** The processes whose parent is `pid` (the ranks mpirun started on this machine), from /proc. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function runStatus(runDir: string): { status?: string; message?: string } {
  try {
    return JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as { status?: string; message?: string };
  } catch {
    return {};
  }
}

/**
 * Launches the ranks and waits. `config` is the resolved one (a resume's
 * saved configuration: its ranks decide); `input`/`explicit` are handed to
 * every rank as the caller gave them, so each resolves it the same way.
 */
export async function launchRanks(input: TrainConfig, config: TrainConfig, explicit: readonly string[], resumePath: string | null, log: RunLog): Promise<TrainResult> {
  checkMpirun();
  const ranks = config.ranks;
  // The run directory, made here so that the ranks use it and a failure can be recorded in it.
  const runDir = resumePath ? dirname(dirname(resumePath)) : config.quick ? null : createRunDir(config.project, config.name, config.exist_ok);
  const scratch = mkdtempSync(join(tmpdir(), "kiln-ranks-"));
  const spec: RankSpec = { config: input, explicit: [...explicit], resultFile: join(scratch, "result.json") };
  const specFile = join(scratch, "spec.json");
  writeFileSync(specFile, JSON.stringify(spec));
  const { command, args, env } = mpirunCommand(ranks, specFile);
  if (runDir) env.KILN_RUN_DIR = runDir;
  env.KILN_RANKS_TTY = process.stdout.isTTY ? "1" : "0";
  log.line(`launching ${ranks} ranks: ${command} ${args.join(" ")}`);
  const child = spawn(command, args, { env, stdio: ["ignore", "inherit", "inherit"], detached: true });
  // Ctrl-C / SIGTERM reach this process only (mpirun runs in its own process group, and would end the
  // job on SIGINT): each rank gets one SIGINT from here, finishes its step with the others and saves;
  // a second signal ends the job at once.
  let signals = 0;
  const forward = (): void => {
    signals++;
    const targets = signals === 1 ? childPids(child.pid!) : [child.pid!];
    for (const pid of targets) {
      try {
        process.kill(pid, signals === 1 ? "SIGINT" : "SIGTERM");
      } catch {
        // already gone
      }
    }
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (c, s) => resolve({ code: c, signal: s }));
    });
    if (code === 0 || code === 130) {
      if (existsSync(spec.resultFile)) return JSON.parse(readFileSync(spec.resultFile, "utf8")) as TrainResult;
      throw new KilnError(`the ${ranks} ranks ended without a result (mpirun exit code ${code}).`);
    }
    const why = signal ? `mpirun was ended by ${signal}` : `mpirun exited with code ${code}`;
    let message = `data-parallel training with ${ranks} ranks failed: ${why}`;
    if (runDir) {
      const run = runStatus(runDir);
      if (run.status !== "failed" && run.status !== "finished" && run.status !== "interrupted") markRunFailed(runDir, `${message} (a rank ended without saying why: killed, or out of memory?)`);
      else if (run.status === "failed" && run.message) message = `data-parallel training with ${ranks} ranks failed: ${run.message}`;
      if (existsSync(join(runDir, "weights", "last.safetensors"))) message += `. weights/last.safetensors is kept: resume with 'kiln train --resume ${runDir}'`;
    }
    throw new KilnError(message, 1);
  } finally {
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
    rmSync(scratch, { recursive: true, force: true });
  }
}
