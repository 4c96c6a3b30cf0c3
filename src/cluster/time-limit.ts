// The time limit of the SLURM job a training runs in, watched by kiln itself:
// the job script (src/cluster/batch-script.ts) sets KILN_SLURM_GRACE, and the
// training asks SLURM how long its job has left (`squeue -o %L`), then stops
// `grace` seconds before the end through the Ctrl-C path (finish the step,
// save last, mark the run interrupted) and exits with TIME_LIMIT_EXIT_CODE,
// which the job script reads as "resubmit with --resume" when requeue=true.
//
// Why not SLURM's `--signal=B:USR1@grace`: SLURM may send it up to a minute
// early (its event resolution), so on a short job it came before training
// started, and it was not delivered at all on some setups. Asking for the
// remaining time needs only squeue, and re-asking every few minutes follows a
// limit changed with `scontrol update job … TimeLimit=`.
import { execFile } from "node:child_process";

/** kiln's exit status when it stopped for the job's time limit (EX_TEMPFAIL: try again). */
export const TIME_LIMIT_EXIT_CODE = 75;

/** Set by the job script: seconds before the job's end at which the training stops. */
export const GRACE_ENV = "KILN_SLURM_GRACE";

/** The longest wait between two looks at the remaining time (a limit may change meanwhile). */
const RECHECK_MS = 5 * 60_000;

/**
 * SLURM's duration words (squeue %L, scontrol TimeLimit) in seconds: `MM:SS`,
 * `H:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`, or bare minutes.
 * null for UNLIMITED, NOT_SET, INVALID and anything else SLURM may print.
 */
export function parseSlurmDuration(text: string): number | null {
  const t = text.trim();
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (!m) return null;
  const [, d, a, b, c] = m;
  const days = Number(d ?? 0) * 86_400;
  if (d !== undefined) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    return days + Number(a) * 3600 + Number(b ?? 0) * 60 + Number(c ?? 0);
  }
  if (c !== undefined) return Number(a) * 3600 + Number(b) * 60 + Number(c); // H:MM:SS
  if (b !== undefined) return Number(a) * 60 + Number(b); // MM:SS
  return Number(a) * 60; // minutes
}

export type RemainingLookup = (jobId: string) => Promise<number | null>;

/** Seconds left to `jobId` by squeue (%L); null when unlimited; rejects when squeue cannot answer. */
export const squeueRemaining: RemainingLookup = (jobId) => new Promise((resolve, reject) => {
  execFile("squeue", ["-h", "-j", jobId, "-o", "%L"], { timeout: 30_000 }, (err, stdout, stderr) => {
    if (err) reject(new Error(`squeue -j ${jobId}: ${(stderr || err.message).trim().split("\n").at(-1)}`));
    else if (stdout.trim() === "") reject(new Error(`squeue does not list job ${jobId}`));
    else resolve(parseSlurmDuration(stdout));
  });
});

export interface TimeLimitWatch {
  /** Whether the stop was asked for because of the time limit. */
  readonly fired: boolean;
  stop(): void;
}

export interface TimeLimitOptions {
  jobId: string;
  graceSeconds: number;
  /** Called once, `graceSeconds` before the job's end. */
  onTimeUp: (remainingSeconds: number) => void;
  warn: (message: string) => void;
  lookup?: RemainingLookup;
}

/**
 * Watches the job's remaining time and calls onTimeUp once it is within the
 * grace. Timers are unref'd: the watch never keeps the process alive.
 */
export function watchTimeLimit(o: TimeLimitOptions): TimeLimitWatch {
  const lookup = o.lookup ?? squeueRemaining;
  let timer: NodeJS.Timeout | null = null;
  let fired = false;
  let stopped = false;
  let warned = false;
  const schedule = (ms: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void check(), Math.max(0, ms));
    timer.unref();
  };
  const check = async (): Promise<void> => {
    let remaining: number | null;
    try {
      remaining = await lookup(o.jobId);
    } catch (err) {
      if (!warned) {
        warned = true;
        o.warn(`could not read the time limit of SLURM job ${o.jobId} (${err instanceof Error ? err.message : String(err)}); trying again in a minute. `
          + "Until then, the time limit ends the job with SIGTERM (kiln still saves weights/last.safetensors) and the run is not resubmitted.");
      }
      schedule(60_000);
      return;
    }
    if (stopped || remaining === null) return; // no limit: nothing to watch
    const untilStop = (remaining - o.graceSeconds) * 1000;
    if (untilStop <= 0) {
      fired = true;
      o.onTimeUp(remaining);
      return;
    }
    schedule(Math.min(untilStop, RECHECK_MS));
  };
  void check();
  return {
    get fired() { return fired; },
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** The watch the job script asked for (SLURM_JOB_ID and KILN_SLURM_GRACE set), or null. */
export function graceFromEnv(env: NodeJS.ProcessEnv = process.env): { jobId: string; graceSeconds: number } | null {
  const jobId = env.SLURM_JOB_ID;
  const grace = Number(env[GRACE_ENV]);
  if (!jobId || !/^\d+$/.test(jobId) || !Number.isFinite(grace) || grace < 0) return null;
  return { jobId, graceSeconds: grace };
}
