// Sends a run directory to MLflow after the fact: what the live tracker could
// not (a server that was down) or never did (a run trained without tracking).
// The run directory is the truth (args.yaml, results.csv, run.json, plots,
// weights); what the store already holds is asked first and skipped, so
// syncing twice sends nothing new.
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { mlflowStatus, sanitizeKey, type MlflowStatus } from "./names.js";
import { currentUser, paramsOf, runTags, sendBatch } from "./run-data.js";
import { refOf, RunLinkFile } from "./run-link.js";
import type { MetricPoint, MlflowStore, RunRef, RunSnapshot } from "./store.js";
import { openStore, resolveTrackingUri } from "./uri.js";

export interface SyncOptions {
  /** Per request (default 60 s: nobody is waiting on training here). */
  timeoutMs?: number;
}

export interface SyncResult {
  trackingUri: string;
  experimentId: string;
  runId: string;
  /** True when the MLflow run was created by this sync. */
  created: boolean;
  params: number;
  metrics: number;
  artifacts: string[];
  /** The status sent, or null when none was (still running, or already there). */
  status: MlflowStatus | null;
}

interface RunJson { status?: string; started_at?: string; ended_at?: string | null }

function readJson(path: string): RunJson {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunJson;
  } catch {
    return {};
  }
}

/** args.yaml flattened: nested maps become dotted keys. */
function readParams(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  const out: Record<string, unknown> = {};
  const walk = (value: unknown, prefix: string): void => {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, prefix === "" ? k : `${prefix}.${k}`);
    } else if (prefix !== "") out[prefix] = value;
  };
  walk(parseYaml(readFileSync(path, "utf8")), "");
  return out;
}

/**
 * results.csv rows as metrics at step = epoch, every column included (the
 * trainer logs the same rows live); the time column (run seconds) dates them.
 */
function readMetrics(path: string, startedAt: number): MetricPoint[] {
  if (!existsSync(path)) return [];
  const [head, ...lines] = readFileSync(path, "utf8").split(/\r?\n/).filter((l) => l.trim() !== "");
  if (!head) return [];
  const header = head.split(",").map((h) => h.trim());
  const epochCol = header.indexOf("epoch");
  const timeCol = header.indexOf("time");
  const points: MetricPoint[] = [];
  lines.forEach((line, row) => {
    const raw = line.split(",");
    const cells = raw.map(Number);
    const step = epochCol >= 0 && Number.isFinite(cells[epochCol]) ? cells[epochCol] : row + 1;
    const timestamp = timeCol >= 0 && Number.isFinite(cells[timeCol]) ? Math.round(startedAt + cells[timeCol] * 1000) : Date.now();
    header.forEach((name, i) => {
      if ((raw[i] ?? "").trim() === "") return;
      points.push({ key: sanitizeKey(name), value: cells[i], timestamp, step });
    });
  });
  return points;
}

/**
 * The run-directory files kept as artifacts (path relative to the run dir,
 * artifact path alike): those the trainer logs at the end of a run, so a sync
 * after a complete live run finds nothing to send.
 */
export const RUN_ARTIFACTS: readonly string[] = [
  "args.yaml", "results.csv", "results.png", "confusion_matrix.png", "classification_report.json", "confusion_matrix.json",
  "weights/best.safetensors",
];

/** RUN_ARTIFACTS that exist, plus any file the trainer asked for (recorded in mlflow.json). */
function artifactsOf(runDir: string, link: RunLinkFile): { path: string; artifactPath: string }[] {
  const found = new Map<string, string>(RUN_ARTIFACTS.map((a) => [a, join(runDir, ...a.split("/"))]));
  for (const a of link.requestedArtifacts()) found.set(a.artifact_path, isAbsolute(a.path) ? a.path : join(runDir, a.path));
  return [...found].filter(([, path]) => existsSync(path)).map(([artifactPath, path]) => ({ path, artifactPath }));
}

async function findOrCreateRun(store: MlflowStore, link: RunLinkFile, runDir: string, record: RunJson, task: string | undefined): Promise<{ ref: RunRef; snapshot: RunSnapshot | null }> {
  const saved = link.get(store.uri);
  if (saved) {
    const ref = refOf(saved);
    const snapshot = await store.getRun(ref);
    if (snapshot?.active) return { ref, snapshot };
  }
  const experimentName = saved?.experiment_name ?? link.experimentName() ?? basename(dirname(resolve(runDir)));
  const experimentId = await store.experimentId(experimentName);
  const started = Date.parse(record.started_at ?? "");
  const runName = basename(resolve(runDir));
  const ref = await store.createRun({
    experimentId, runName, startTime: Number.isFinite(started) ? started : Math.round(statSync(runDir).mtimeMs),
    userId: currentUser(), tags: runTags(runName, runDir, task),
  });
  link.set({
    tracking_uri: store.uri, experiment_id: ref.experimentId, run_id: ref.runId, artifact_uri: ref.artifactUri,
    experiment_name: experimentName, sent: { params: [], metrics: {}, artifacts: {} },
  });
  return { ref, snapshot: null };
}

/**
 * Sends what the MLflow store at `trackingUri` (default MLFLOW_TRACKING_URI,
 * then ./mlruns) lacks of the run in `runDir`, creating the MLflow run when it
 * has none. Throws on the first failure; what was sent stays recorded in
 * mlflow.json, so running it again continues.
 */
export async function syncRunToMlflow(runDir: string, trackingUri?: string, options: SyncOptions = {}): Promise<SyncResult> {
  if (!existsSync(join(runDir, "args.yaml")) && !existsSync(join(runDir, "results.csv"))) {
    throw new Error(`${runDir} is not a kiln run directory (no args.yaml or results.csv)`);
  }
  const store = openStore(resolveTrackingUri(trackingUri), { timeoutMs: options.timeoutMs ?? 60_000 });
  const link = new RunLinkFile(runDir);
  const record = readJson(join(runDir, "run.json"));
  const config = readParams(join(runDir, "args.yaml"));
  const { ref, snapshot } = await findOrCreateRun(store, link, runDir, record, typeof config.task === "string" ? config.task : undefined);
  const sent = link.get(store.uri)?.sent;

  const params = paramsOf(config).filter((p) => !snapshot?.params.has(p.key));
  const startedAt = Date.parse(record.started_at ?? "");
  const metrics = readMetrics(join(runDir, "results.csv"), Number.isFinite(startedAt) ? startedAt : Date.now()).filter((m) => {
    const last = Math.max(snapshot?.latestStep.get(m.key) ?? -Infinity, sent?.metrics[m.key] ?? -Infinity);
    return m.step > last;
  });
  await sendBatch(store, link, ref, { metrics, params, tags: [] });

  const artifacts: string[] = [];
  for (const { path, artifactPath } of artifactsOf(runDir, link)) {
    const { size, mtimeMs } = statSync(path);
    const before = link.get(store.uri)?.sent.artifacts[artifactPath];
    if (before && before.size === size && before.mtime_ms === mtimeMs) continue;
    await store.uploadArtifact(ref, path, artifactPath);
    link.recordArtifact(store.uri, artifactPath, size, mtimeMs);
    artifacts.push(artifactPath);
  }

  let status: MlflowStatus | null = null;
  if (record.status === "finished" || record.status === "interrupted" || record.status === "failed") {
    const wanted = mlflowStatus(record.status);
    if ((snapshot?.status ?? "RUNNING") !== wanted) {
      const ended = Date.parse(record.ended_at ?? "");
      const endTime = Number.isFinite(ended) ? ended : Date.now();
      await store.updateRun(ref, wanted, endTime);
      link.recordStatus(store.uri, wanted, endTime);
      status = wanted;
    }
  }
  return {
    trackingUri: store.uri, experimentId: ref.experimentId, runId: ref.runId, created: snapshot === null,
    params: params.length, metrics: metrics.length, artifacts, status,
  };
}
