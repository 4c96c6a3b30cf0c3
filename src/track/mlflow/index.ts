// MLflow tracking for kiln runs: MLflow's local file store (a folder, the
// default ./mlruns) or a tracking server (MLFLOW_TRACKING_URI=http(s)://…).
import type { TrackedRun, TrackedStatus, Tracker } from "../tracker.js";
import { MlflowTracker, type MlflowTrackerOptions } from "./mlflow-tracker.js";
import { openStore, resolveTrackingUri, unsupportedMessage, type TrackingTarget } from "./uri.js";

export { MlflowTracker, type MlflowTrackerOptions } from "./mlflow-tracker.js";
export { FileStore } from "./file-store.js";
export { RestStore, MlflowHttpError, type RestStoreOptions } from "./rest.js";
export { syncRunToMlflow, RUN_ARTIFACTS, type SyncOptions, type SyncResult } from "./sync.js";
export { resolveTrackingUri, DEFAULT_TRACKING_URI, type TrackingTarget } from "./uri.js";
export { LINK_FILE, type StoreLink, type SentState } from "./run-link.js";
export { chunkBatch, type MlflowStore, type RunRef, type RunSnapshot, type Batch, type MetricPoint, type KeyValue } from "./store.js";
export { sanitizeKey, pythonFloat, mlflowStatus, LIMITS, STATUS_CODE, type MlflowStatus } from "./names.js";

export interface CreateMlflowTrackerOptions extends Omit<MlflowTrackerOptions, "abort"> {
  /** Tracking URI: a folder, file:…, or http(s)://…; default MLFLOW_TRACKING_URI, then ./mlruns. */
  uri?: string;
  /** Per request to a server (default 5 s). */
  timeoutMs?: number;
}

/** For a tracking URI kiln cannot write (sqlite:, databricks…): says so once, logs nothing. */
class UnsupportedTracker implements Tracker {
  readonly name = "mlflow";
  constructor(private readonly message: string, private readonly warn: (m: string) => void) {}
  start(_run: TrackedRun): void {
    this.warn(`kiln: MLflow logging is off: ${this.message}.`);
  }
  logScalars(): void {}
  logArtifact(): void {}
  async end(_status: TrackedStatus, _endedAt: number): Promise<void> {}
}

export function createMlflowTracker(options: CreateMlflowTrackerOptions = {}): Tracker {
  const { uri, timeoutMs, ...trackerOptions } = options;
  const warn = options.warn ?? ((m: string) => process.emitWarning(m, { code: "KILN_MLFLOW" }));
  let target: TrackingTarget;
  try {
    target = resolveTrackingUri(uri);
  } catch (err) {
    return new UnsupportedTracker(`the tracking URI ${uri ?? process.env.MLFLOW_TRACKING_URI} is malformed (${(err as Error).message})`, warn);
  }
  if (target.kind === "unsupported") return new UnsupportedTracker(unsupportedMessage(target.uri), warn);
  // One controller per tracker: end() giving up aborts whatever is still in flight.
  const controller = new AbortController();
  const store = openStore(target, { timeoutMs, signal: controller.signal });
  return new MlflowTracker(store, { ...trackerOptions, abort: () => controller.abort() });
}
