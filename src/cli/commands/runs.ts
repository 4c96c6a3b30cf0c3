// `kiln runs` (list), `kiln runs show RUN`, `kiln runs compare A B [C…]`, `kiln runs note RUN "text"`.
import { existsSync } from "node:fs";
import { parseArgs } from "../../config/index.js";
import { syncRunToMlflow } from "../../track/mlflow/index.js";
import { KilnError } from "../../errors.js";
import { compareRuns, formatRunsComparison } from "../../runs/compare-runs.js";
import { DEFAULT_LOGDIR, findRunDirs, resolveRun } from "../../runs/discover.js";
import { appendNote, EXPERIMENT_LOG } from "../../runs/experiment-log.js";
import { filterRuns, formatRunList, parseSortKey, sortRuns, SORT_KEYS, type RunFilter } from "../../runs/list.js";
import { readRunFiles } from "../../runs/read-run.js";
import { formatRunDetails, runDetails } from "../../runs/show.js";
import { summarizeRun } from "../../runs/summary.js";
import { useColor } from "../../runs/table.js";
import { slurmLookup } from "../../runs/scheduler.js";
import { stopRun } from "../../cluster/stop.js";

export const RUNS_HELP = `kiln runs — list, inspect, compare and annotate training runs

Usage: kiln runs [--logdir DIR] [--status S] [--task T] [--model M] [--sort KEY] [--json]
       kiln runs show RUN [--json]
       kiln runs compare RUN_A RUN_B [RUN_C…] [--json]
       kiln runs note RUN "text"
       kiln runs sync RUN [--uri URI]
       kiln runs stop RUN [--no-wait] [--timeout S]

Lists every run under ${DEFAULT_LOGDIR}/ (${DEFAULT_LOGDIR}/<task>/<name> with a run.json or args.yaml):
name, task, model, data, status, epochs (done/total), best metric (val acc for
classify, mAP50-95 for detect), duration and start. A run marked running whose
process is gone, or whose heartbeat is older than 2 minutes, shows "failed (died)".

RUN is a run directory or a run name found under ${DEFAULT_LOGDIR}/*/ (train3).

  --logdir DIR   where the runs are (default ${DEFAULT_LOGDIR}; --project is the same; a task folder works too)
  --status S     running, finished, interrupted, failed (includes died), died, unknown, unreadable
  --task T       classify or detect
  --model M      models whose name contains M (resnet: resnet18, resnet50)
  --sort KEY     ${SORT_KEYS.join(", ")} (default start: newest first; best, duration, epochs: highest first)
  --json         print the data as JSON

  show           config, status, timing, per-epoch table, best and final metrics, artifacts, notes
  compare        runs side by side: metrics (best in green on a terminal) and the config keys that differ
  note           appends a note with the time to the run's ${EXPERIMENT_LOG} (with its config, results and weights)
  stop           stops a run started with --detach (SIGINT to its process: the Ctrl-C path, which saves
                 weights/last.safetensors) or --slurm (scancel: SLURM sends SIGTERM, the same path); waits
                 until the run says interrupted (--timeout, default 120 s; --no-wait returns at once)
  sync           sends MLflow what it missed (a server that was down): params, per-epoch metrics, status,
                 artifacts; to MLFLOW_TRACKING_URI (or --uri; default ./mlruns); twice sends nothing new

Exit codes: 0 done, 2 bad input (unknown run, ambiguous name, unreadable run.json or metrics.json for show/compare).

Examples:
  kiln runs
  kiln runs --status failed --sort duration
  kiln runs --task classify --model resnet --json
  kiln runs show train3
  kiln runs compare train2 train3 runs/classify/train4
  kiln runs note train3 "lr0=0.005 beats 0.01 here"
  kiln runs stop train3

Runs started with --slurm show the scheduler's state of their job next to kiln's status (pending, running,
completed, failed, cancelled, timeout, from squeue and scontrol; "left the queue" once SLURM forgot it).`;

const LIST_OPTIONS = ["logdir", "project", "status", "task", "model", "sort", "json", "help"];
const STATUSES = ["running", "finished", "interrupted", "failed", "died", "unknown", "unreadable", "queued"];
const TASKS = ["classify", "detect"];
const takesValue = (k: string): boolean => ["logdir", "project", "status", "task", "model", "sort", "uri", "timeout"].includes(k);

function logdirOf(options: Map<string, string | true>): { dir: string; explicit: boolean } {
  const v = options.get("logdir") ?? options.get("project");
  if (v === undefined) return { dir: DEFAULT_LOGDIR, explicit: false };
  if (typeof v !== "string") throw new KilnError("--logdir needs a folder: --logdir DIR. Run 'kiln runs --help'.", 2);
  if (!existsSync(v)) throw new KilnError(`the log folder ${v} does not exist. Fix: give the folder that holds the runs (default ${DEFAULT_LOGDIR}).`, 2);
  return { dir: v, explicit: true };
}

function choice(options: Map<string, string | true>, key: string, allowed: string[] | null): string | undefined {
  const v = options.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || (allowed && !allowed.includes(v))) {
    throw new KilnError(`invalid value for '${key}': ${String(v)}. Allowed: ${allowed ? allowed.join(", ") : "a value"}.`, 2);
  }
  return v;
}

function checkOptions(options: Map<string, string | true>, allowed: string[], command: string): void {
  for (const key of options.keys()) {
    if (!allowed.includes(key)) throw new KilnError(`unknown option '${key}' for kiln runs ${command}. Run 'kiln runs --help'.`, 2);
  }
}

function listCommand(options: Map<string, string | true>): number {
  checkOptions(options, LIST_OPTIONS, "list");
  const { dir, explicit } = logdirOf(options);
  const filter: RunFilter = { status: choice(options, "status", STATUSES), task: choice(options, "task", TASKS), model: choice(options, "model", null) };
  const sort = parseSortKey(choice(options, "sort", null) ?? "start");
  const now = Date.now();
  const files = findRunDirs(dir).map((d) => readRunFiles(d));
  const scheduler = slurmLookup(files.map((f) => f.record));
  const all = files.map((f) => summarizeRun(f, now, undefined, scheduler));
  const runs = sortRuns(filterRuns(all, filter), sort);
  if (options.has("json")) console.log(JSON.stringify(runs, null, 2));
  else if (all.length === 0) console.log(`no runs under ${dir}/${explicit ? "" : " (train one with 'kiln train', or point elsewhere with --logdir DIR)"}`);
  else if (runs.length === 0) console.log(`no run matches (${all.length} under ${dir}/; drop a filter to see them)`);
  else console.log(formatRunList(runs, useColor()));
  return 0;
}

// A note is free text: "lr0=0.005 was better" must not be read as an option.
function noteCommand(words: string[]): number {
  const rest: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const opt = /^--(logdir|project)(?:=(.*))?$/.exec(w);
    if (opt && rest.length === 0) options.set(opt[1], opt[2] ?? words[++i] ?? true);
    else rest.push(w);
  }
  const [ref, ...text] = rest;
  if (ref === undefined || text.length === 0) throw new KilnError('kiln runs note takes RUN and the text. Example: kiln runs note train3 "augmentations off"', 2);
  const run = resolveRun(ref, logdirOf(options).dir);
  const log = appendNote(run, text.join(" "));
  console.log(`note added to ${run}/${EXPERIMENT_LOG} (${log.notes.length} note${log.notes.length === 1 ? "" : "s"})`);
  return 0;
}

/** argv: the words after `kiln runs`. */
export async function runsCommand(argv: string[]): Promise<number> {
  if (argv[0] === "note" && !argv.includes("--help") && !argv.includes("-h")) return noteCommand(argv.slice(1));
  const { options, positionals } = parseArgs(argv, takesValue);
  if (options.has("help")) {
    console.log(RUNS_HELP);
    return 0;
  }
  const [sub, ...refs] = positionals;
  if (sub === undefined || sub === "list") {
    if (refs.length > 0) throw new KilnError(`kiln runs list takes no paths (got ${refs[0]}). Run 'kiln runs --help'.`, 2);
    return listCommand(options);
  }
  const json = options.has("json");
  if (sub === "show") {
    checkOptions(options, ["logdir", "project", "json"], "show");
    if (refs.length !== 1) throw new KilnError("kiln runs show takes one RUN. Example: kiln runs show train3", 2);
    const details = runDetails(resolveRun(refs[0], logdirOf(options).dir));
    console.log(json ? JSON.stringify(details, null, 2) : formatRunDetails(details, useColor()));
    return 0;
  }
  if (sub === "compare") {
    checkOptions(options, ["logdir", "project", "json"], "compare");
    const dir = logdirOf(options).dir;
    const comparison = compareRuns(refs.map((r) => resolveRun(r, dir)));
    console.log(json ? JSON.stringify(comparison, null, 2) : formatRunsComparison(comparison, useColor()));
    return 0;
  }
  if (sub === "sync") {
    checkOptions(options, ["logdir", "project", "json", "uri"], "sync");
    if (refs.length !== 1) throw new KilnError("kiln runs sync takes one RUN. Example: kiln runs sync train3", 2);
    const uri = options.get("uri");
    const run = resolveRun(refs[0], logdirOf(options).dir);
    const r = await syncRunToMlflow(run, typeof uri === "string" ? uri : undefined).catch((err: unknown) => {
      if (err instanceof KilnError) throw err;
      throw new KilnError(`could not sync ${run} to MLflow: ${err instanceof Error ? err.message : String(err)}. ` +
        "Fix: check that the tracking server is up (MLFLOW_TRACKING_URI or --uri) and run the command again; nothing is lost meanwhile.", 1);
    });
    console.log(json ? JSON.stringify(r, null, 2) : `${r.created ? "created" : "updated"} MLflow run ${r.runId} (experiment ${r.experimentId}) at ${r.trackingUri}: ` +
      `${r.params} params, ${r.metrics} metric values, ${r.artifacts.length} artifacts sent${r.status ? `, status ${r.status}` : ""}`);
    return 0;
  }
  if (sub === "stop") {
    checkOptions(options, ["logdir", "project", "no_wait", "timeout"], "stop");
    if (refs.length !== 1) throw new KilnError("kiln runs stop takes one RUN. Example: kiln runs stop train3", 2);
    const t = options.get("timeout");
    const timeout = t === undefined ? 120 : Number(t);
    if (!Number.isFinite(timeout) || timeout < 0) throw new KilnError(`invalid value for 'timeout': ${String(t)}. Allowed: seconds (a number ≥ 0).`, 2);
    return stopRun(resolveRun(refs[0], logdirOf(options).dir), { wait: !options.has("no_wait"), timeoutSeconds: timeout });
  }
  throw new KilnError(`unknown subcommand '${sub}' for kiln runs. Allowed: list, show, compare, note, sync, stop. Run 'kiln runs --help'.`, 2);
}
