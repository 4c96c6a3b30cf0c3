// The few MLflow operations kiln needs, behind one interface so the same
// tracker and the same sync drive a local file store or a tracking server.
import { LIMITS, type MlflowStatus } from "./names.js";

export interface MetricPoint { key: string; value: number; timestamp: number; step: number }
export interface KeyValue { key: string; value: string }
export interface Batch { metrics: MetricPoint[]; params: KeyValue[]; tags: KeyValue[] }

/** Where a run lives in a store. */
export interface RunRef { experimentId: string; runId: string; artifactUri: string }

/** What a store already holds for a run: enough to send only what is missing. */
export interface RunSnapshot {
  status: MlflowStatus;
  active: boolean;
  params: Set<string>;
  /** The latest step of each metric (MLflow's "latest" value is the one with the largest step). */
  latestStep: Map<string, number>;
}

export interface NewRun { experimentId: string; runName: string; startTime: number; userId: string; tags: KeyValue[] }

export interface MlflowStore {
  /** The tracking URI, normalized (file:///abs/path or http(s)://host[/prefix]). */
  readonly uri: string;
  /** The id of the active experiment with this name, created when there is none. */
  experimentId(name: string): Promise<string>;
  createRun(run: NewRun): Promise<RunRef>;
  /** null when the run does not exist (deleted runs are reported with active false). */
  getRun(ref: RunRef): Promise<RunSnapshot | null>;
  logBatch(ref: RunRef, batch: Batch): Promise<void>;
  /** endTime null clears it (a resumed run is running again); undefined leaves it. */
  updateRun(ref: RunRef, status: MlflowStatus, endTime: number | null | undefined): Promise<void>;
  uploadArtifact(ref: RunRef, localPath: string, artifactPath: string): Promise<void>;
}

function itemBytes(item: MetricPoint | KeyValue): number {
  // JSON of one item, roughly: keys and values plus the field names and punctuation.
  return "value" in item && typeof item.value === "string"
    ? Buffer.byteLength(item.key) + Buffer.byteLength(item.value) + 40
    : Buffer.byteLength(item.key) + 90;
}

/**
 * Splits a batch into requests within log-batch's limits: ≤100 params, ≤100
 * tags, ≤1000 metrics, ≤1000 items and under 1 MB each. Order is kept (a
 * metric's steps go out in the order logged).
 */
export function chunkBatch(batch: Batch): Batch[] {
  const chunks: Batch[] = [];
  let current: Batch = { metrics: [], params: [], tags: [] };
  let bytes = 0;
  const flush = (): void => {
    if (current.metrics.length + current.params.length + current.tags.length > 0) chunks.push(current);
    current = { metrics: [], params: [], tags: [] };
    bytes = 0;
  };
  const add = <K extends keyof Batch>(kind: K, item: Batch[K][number], max: number): void => {
    const size = itemBytes(item);
    const total = current.metrics.length + current.params.length + current.tags.length;
    if (current[kind].length >= max || total >= LIMITS.entitiesPerBatch || bytes + size > LIMITS.batchBytes) flush();
    (current[kind] as Batch[K][number][]).push(item);
    bytes += size;
  };
  for (const p of batch.params) add("params", p, LIMITS.paramsPerBatch);
  for (const t of batch.tags) add("tags", t, LIMITS.tagsPerBatch);
  for (const m of batch.metrics) add("metrics", m, LIMITS.metricsPerBatch);
  flush();
  return chunks;
}
