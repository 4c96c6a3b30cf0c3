// mlflow.json in the run directory: which MLflow run this kiln run is (so a
// resumed run continues it) and what has reached it (so a later sync sends
// only the rest). The top-level fields describe the store used last; links to
// other stores (a local file store, then a server) are kept beside it.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../../io/atomic.js";
import type { MlflowStatus } from "./names.js";
import type { Batch, RunRef } from "./store.js";

export interface SentState {
  /** Param keys the run has. */
  params: string[];
  /** The largest step sent of each metric. */
  metrics: Record<string, number>;
  /** Artifact path → the local file's size and mtime when it was sent. */
  artifacts: Record<string, { size: number; mtime_ms: number }>;
  status?: MlflowStatus;
  end_time?: number;
}

export interface StoreLink {
  tracking_uri: string;
  experiment_id: string;
  run_id: string;
  artifact_uri: string;
  experiment_name: string;
  sent: SentState;
}

/** A file the trainer asked to keep with the run: its path (relative to the run dir when inside it) and its place in the artifacts. */
export interface RequestedArtifact { path: string; artifact_path: string }

interface LinkFileData extends Partial<StoreLink> {
  other_stores?: StoreLink[];
  artifacts_requested?: RequestedArtifact[];
}

export const LINK_FILE = "mlflow.json";

export function refOf(link: StoreLink): RunRef {
  return { experimentId: link.experiment_id, runId: link.run_id, artifactUri: link.artifact_uri };
}

function isLink(value: Partial<StoreLink> | undefined): value is StoreLink {
  return typeof value?.tracking_uri === "string" && typeof value.run_id === "string" && typeof value.experiment_id === "string";
}

function withDefaults(link: StoreLink): StoreLink {
  const sent = link.sent ?? {};
  return { ...link, artifact_uri: link.artifact_uri ?? "", sent: { params: sent.params ?? [], metrics: sent.metrics ?? {}, artifacts: sent.artifacts ?? {}, status: sent.status, end_time: sent.end_time } };
}

export class RunLinkFile {
  private data: LinkFileData = {};
  readonly path: string;

  constructor(readonly runDir: string) {
    this.path = join(runDir, LINK_FILE);
    if (!existsSync(this.path)) return;
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.path, "utf8"));
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) this.data = parsed as LinkFileData;
    } catch {
      this.data = {}; // unreadable: start over; the next write replaces it
    }
  }

  /** The link to the store at `uri`, if this run has one. */
  get(uri: string): StoreLink | null {
    const all = [this.data as Partial<StoreLink>, ...(this.data.other_stores ?? [])];
    const found = all.find((l) => isLink(l) && l.tracking_uri === uri);
    return found && isLink(found) ? withDefaults(found) : null;
  }

  /** Any experiment name recorded for this run (a sync to a new store reuses it). */
  experimentName(): string | undefined {
    return [this.data as Partial<StoreLink>, ...(this.data.other_stores ?? [])].find((l) => typeof l.experiment_name === "string")?.experiment_name;
  }

  /** Makes `link` the current one (top level); a link to another store moves beside it. */
  set(link: StoreLink): void {
    const { other_stores: others = [], artifacts_requested: requested, ...top } = this.data;
    const kept = [top as Partial<StoreLink>, ...others].filter((l): l is StoreLink => isLink(l) && l.tracking_uri !== link.tracking_uri);
    this.data = { ...link, ...(kept.length > 0 ? { other_stores: kept } : {}), ...(requested ? { artifacts_requested: requested } : {}) };
    this.save();
  }

  recordBatch(uri: string, batch: Batch): void {
    this.update(uri, (sent) => {
      for (const p of batch.params) if (!sent.params.includes(p.key)) sent.params.push(p.key);
      for (const m of batch.metrics) sent.metrics[m.key] = Math.max(sent.metrics[m.key] ?? -Infinity, m.step);
    });
  }

  recordArtifact(uri: string, artifactPath: string, size: number, mtimeMs: number): void {
    this.update(uri, (sent) => void (sent.artifacts[artifactPath] = { size, mtime_ms: mtimeMs }));
  }

  recordStatus(uri: string, status: MlflowStatus, endTime: number | undefined): void {
    this.update(uri, (sent) => {
      sent.status = status;
      sent.end_time = endTime;
    });
  }

  requestArtifact(artifact: RequestedArtifact): void {
    const list = (this.data.artifacts_requested ?? []).filter((a) => a.artifact_path !== artifact.artifact_path);
    this.data.artifacts_requested = [...list, artifact];
    this.save();
  }

  requestedArtifacts(): RequestedArtifact[] {
    return this.data.artifacts_requested ?? [];
  }

  private update(uri: string, change: (sent: SentState) => void): void {
    const link = this.get(uri);
    if (!link) return;
    change(link.sent);
    this.set(link);
  }

  private save(): void {
    writeFileAtomicSync(this.path, `${JSON.stringify(this.data, null, 2)}\n`);
  }
}
