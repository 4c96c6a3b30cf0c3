// `kiln runs`: filtering, sorting and the table of run summaries, as pure functions.
import { KilnError } from "../errors.js";
import { formatDuration } from "../train/log.js";
import type { RunSummary } from "./summary.js";
import { formatTable, type Cell, type Color } from "./table.js";

export interface RunFilter { status?: string; task?: string; model?: string }

export const SORT_KEYS = ["start", "name", "best", "duration", "epochs", "status", "model", "task"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** --status failed also matches runs that died; --model matches a part of the name (resnet → resnet18, resnet50). */
export function filterRuns(runs: RunSummary[], f: RunFilter): RunSummary[] {
  return runs.filter((r) =>
    (f.status === undefined || r.status === f.status || (f.status === "failed" && r.status === "died"))
    && (f.task === undefined || r.task === f.task)
    && (f.model === undefined || (r.model ?? "").toLowerCase().includes(f.model.toLowerCase())));
}

export function parseSortKey(key: string): SortKey {
  if ((SORT_KEYS as readonly string[]).includes(key)) return key as SortKey;
  throw new KilnError(`invalid value for 'sort': ${key}. Allowed: ${SORT_KEYS.join(", ")}.`, 2);
}

// Names compare with numbers in order (train2 before train10).
const byText = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true });

/** Newest start, highest best metric, longest duration, most epochs first; names, statuses, models A→Z. Unknown values last. */
export function sortRuns(runs: RunSummary[], key: SortKey): RunSummary[] {
  const numeric = (get: (r: RunSummary) => number | null) => (a: RunSummary, b: RunSummary): number => {
    const x = get(a);
    const y = get(b);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    return y - x;
  };
  const orders: Record<SortKey, (a: RunSummary, b: RunSummary) => number> = {
    start: numeric((r) => (r.startedAt && Number.isFinite(Date.parse(r.startedAt)) ? Date.parse(r.startedAt) : null)),
    best: numeric((r) => r.best?.value ?? null),
    duration: numeric((r) => r.durationSeconds),
    epochs: numeric((r) => r.epochsDone),
    name: (a, b) => byText(a.name, b.name),
    status: (a, b) => byText(a.statusLabel, b.statusLabel),
    model: (a, b) => byText(a.model ?? "\uffff", b.model ?? "\uffff"),
    task: (a, b) => byText(a.task, b.task),
  };
  // Ties keep a stable, readable order: by path.
  return [...runs].sort((a, b) => orders[key](a, b) || byText(a.dir, b.dir));
}

/** "2024-05-01 14:03" in local time; "-" when unknown. */
export function formatStart(iso: string | null): string {
  const t = iso ? new Date(iso) : null;
  if (!t || Number.isNaN(t.getTime())) return "-";
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}`;
}

const STATUS_COLOR: Record<string, Color> = { queued: "dim", running: "green", died: "red", failed: "red", interrupted: "yellow", unreadable: "red" };

function shorten(text: string | null, max = 32): string {
  if (text === null) return "-";
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

const unreadable = (r: RunSummary, file: string): boolean => r.problems.some((p) => p.file.endsWith(file));

function row(r: RunSummary): Cell[] {
  const best = r.best
    ? `${r.best.key === "accuracy" ? "acc" : r.best.label} ${r.best.value.toFixed(4)}`
    : unreadable(r, "metrics.json") ? "unreadable (metrics.json)" : "-";
  const epochs = r.epochsDone === null && r.epochsTotal === null ? "-" : `${r.epochsDone ?? 0}/${r.epochsTotal ?? "?"}`;
  return [
    r.name, r.task, r.model ?? (unreadable(r, "args.yaml") ? "unreadable (args.yaml)" : "-"), shorten(r.data),
    { text: r.status === "unreadable" ? "unreadable (run.json)" : r.statusLabel, color: STATUS_COLOR[r.status] },
    epochs, best, r.durationSeconds === null ? "-" : formatDuration(r.durationSeconds), formatStart(r.startedAt),
  ];
}

/** "12 running": a SLURM run's job and the scheduler's state of it ("left the queue" once SLURM forgot it). */
export function schedulerCell(r: RunSummary): string {
  if (!r.scheduler) return r.detached ? "detached" : "-";
  const state = r.scheduler.state;
  return `slurm ${r.scheduler.jobId} ${state === null ? "?" : state === "gone" ? "left the queue" : state}`;
}

export function formatRunList(runs: RunSummary[], color = false): string {
  // The scheduler column appears when a run went to SLURM or to the background.
  const launched = runs.some((r) => r.scheduler || r.detached);
  const table = formatTable(
    [{ header: "name" }, { header: "task" }, { header: "model" }, { header: "data" }, { header: "status" },
      ...(launched ? [{ header: "scheduler" }] : []),
      { header: "epochs", align: "right" as const }, { header: "best" }, { header: "duration", align: "right" as const }, { header: "start" }],
    runs.map((r) => {
      const cells = row(r);
      return launched ? [...cells.slice(0, 5), schedulerCell(r), ...cells.slice(5)] : cells;
    }),
    color,
  );
  const notes = runs.flatMap((r) => r.problems.map((p) => `unreadable: ${p.file}: ${p.message}`));
  return notes.length ? `${table}\n\n${notes.join("\n")}` : table;
}
