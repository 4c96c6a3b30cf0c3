// `kiln runs show RUN`: everything about one run, gathered and then formatted.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { MetricSnapshot } from "../compare/extract.js";
import { metricSpecs, type Task } from "../compare/metric-specs.js";
import { KilnError } from "../errors.js";
import { formatDuration } from "../train/log.js";
import { readNotes, type Note } from "./experiment-log.js";
import { formatStart, schedulerCell } from "./list.js";
import { isPidAlive, type RunRecord } from "./liveness.js";
import { readRunFiles, type RunFiles } from "./read-run.js";
import { bestSnapshot, summarizeRun, type RunSummary } from "./summary.js";
import { formatTable } from "./table.js";
import { slurmJobOf, slurmLookup, type SchedulerLookup } from "./scheduler.js";

export interface RunDetails {
  summary: RunSummary;
  config: Record<string, unknown> | null;
  record: RunRecord | null;
  /** One row per epoch: results.csv's columns (or the metrics history's when the CSV is missing). */
  epochs: { header: string[]; rows: number[][] } | null;
  best: MetricSnapshot | null;
  final: MetricSnapshot | null;
  artifacts: { path: string; bytes: number }[];
  notes: Note[];
}

/** A broken file stops show and compare (exit 2): their numbers would be wrong or missing. */
export function requireReadable(files: RunFiles): void {
  const p = files.problems[0];
  if (p) throw new KilnError(`${p.file} is unreadable: ${p.message}. Fix: repair or remove the file (kiln rewrites run.json, metrics.json and results.csv as a run trains).`, 2);
}

function epochsFromHistory(metrics: Record<string, unknown> | null): RunDetails["epochs"] {
  const history = metrics?.history;
  if (!Array.isArray(history) || history.length === 0) return null;
  const first = history[0] as { values?: Record<string, unknown> };
  const fields: [string, string][] = [["epoch", "epoch"], ["time", "time"], ...Object.keys(first.values ?? {}).map((k): [string, string] => [k, k])];
  const rows = history.map((h: Record<string, unknown>) => fields.map(([name, f]) => {
    const source = name === "epoch" || name === "time" ? h : ((h.values ?? {}) as Record<string, unknown>);
    const v = typeof source[f] === "number" ? (source[f] as number) : NaN;
    return name === "epoch" ? v + 1 : v;
  }));
  return { header: fields.map(([name]) => name), rows };
}

function artifactsOf(dir: string): RunDetails["artifacts"] {
  const out: RunDetails["artifacts"] = [];
  const walk = (d: string, depth: number): void => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith(".")) continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory() && depth < 2) walk(p, depth + 1);
      else if (st.isFile()) out.push({ path: relative(dir, p), bytes: st.size });
    }
  };
  walk(dir, 0);
  return out;
}

export function runDetails(dir: string, nowMs = Date.now(), pidAlive: (pid: number) => boolean = isPidAlive, scheduler?: SchedulerLookup): RunDetails {
  const files = readRunFiles(dir);
  requireReadable(files);
  return {
    summary: summarizeRun(files, nowMs, pidAlive, scheduler ? scheduler : slurmJobOf(files.record) ? slurmLookup([files.record]) : undefined),
    config: files.config,
    record: files.record,
    epochs: files.results ?? epochsFromHistory(files.metrics),
    best: bestSnapshot(files, "best"),
    final: bestSnapshot(files, "final"),
    artifacts: artifactsOf(dir),
    notes: readNotes(dir),
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function metricsLine(s: MetricSnapshot | null, task: string): string {
  if (!s) return "-";
  return metricSpecs(task as Task).filter((m) => s.values[m.key] !== undefined).map((m) => `${m.label} ${s.values[m.key].toFixed(4)}`).join(", ");
}

function cellOf(column: string, v: number): string {
  if (Number.isNaN(v)) return "-";
  if (column === "epoch") return String(v);
  if (column === "time") return v.toFixed(1);
  if (column.startsWith("lr/")) return v.toPrecision(3);
  return v.toFixed(4);
}

export function formatRunDetails(d: RunDetails, color = false): string {
  const s = d.summary;
  const r = d.record;
  const lines = [
    `run        ${s.dir}`,
    `task       ${s.task}, model ${s.model ?? "-"}, data ${s.data ?? "-"}`,
    `status     ${s.statusLabel}${r?.pid ? `, pid ${r.pid}` : ""}${r?.kiln_version ? `, kiln ${r.kiln_version}` : ""}${r?.message ? ` — ${r.message}` : ""}`,
    `timing     started ${formatStart(s.startedAt)}, ${s.endedAt ? `ended ${formatStart(s.endedAt)}` : `last heartbeat ${formatStart(r?.heartbeat_at ?? null)}`}, duration ${s.durationSeconds === null ? "-" : formatDuration(s.durationSeconds)}`,
    ...(r?.resumed_at?.length ? [`resumed    ${r.resumed_at.map(formatStart).join(", ")}`] : []),
    ...(r?.slurm ? [`scheduler  ${schedulerCell(s)}; jobs ${r.slurm.job_ids.join(", ")}; script ${r.slurm.script}${r.slurm.requeue ? "; requeue on time limit" : ""}`] : []),
    ...(r?.detached ? [`detached   pid ${r.pid ?? "?"}, output ${join(s.dir, r.detached.output)}`] : []),
    `epochs     ${s.epochsDone ?? 0}/${s.epochsTotal ?? "?"}`,
    `best       ${d.best?.epoch ? `epoch ${d.best.epoch}: ` : ""}${metricsLine(d.best, s.task)}`,
    `final      ${d.final?.epoch ? `epoch ${d.final.epoch}: ` : ""}${metricsLine(d.final, s.task)}`,
  ];
  if (d.epochs) {
    const bestRow = d.best?.epoch ?? null;
    const epochColumn = d.epochs.header.indexOf("epoch");
    const table = formatTable(
      [{ header: "" }, ...d.epochs.header.map((h) => ({ header: h, align: "right" as const }))],
      d.epochs.rows.map((row) => [row[epochColumn] === bestRow ? "*" : "", ...row.map((v, i) => cellOf(d.epochs?.header[i] ?? "", v))]),
      color,
    );
    lines.push("", "per epoch (* best)", table);
  }
  if (d.config) lines.push("", "config", ...Object.entries(d.config).map(([k, v]) => `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`));
  lines.push("", "artifacts", ...(d.artifacts.length ? d.artifacts.map((a) => `  ${a.path.padEnd(32)} ${formatBytes(a.bytes).padStart(10)}`) : ["  -"]));
  lines.push("", "notes", ...(d.notes.length ? d.notes.map((n) => `  ${formatStart(n.time)}  ${n.text}`) : ["  - (add one: kiln runs note RUN \"text\")"]));
  return lines.join("\n");
}
