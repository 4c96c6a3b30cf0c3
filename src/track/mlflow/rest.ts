// An MLflow tracking server through its REST API (prefix /api/2.0/mlflow,
// mlflow/protos/service.proto) and artifacts through the server's proxy
// (/api/2.0/mlflow-artifacts/artifacts/..., `mlflow server --serve-artifacts`,
// the default since MLflow 2). Every request has a timeout and can be aborted
// as a whole, so a dead or hanging server never holds the process.
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { jsonDouble, statusFromCode, type MlflowStatus } from "./names.js";
import type { Batch, MlflowStore, NewRun, RunRef, RunSnapshot } from "./store.js";

export interface RestStoreOptions {
  /** Per request (default 5 s); artifact uploads add a second per MiB. */
  timeoutMs?: number;
  /** Aborts every request in flight and to come (a tracker giving up at the end). */
  signal?: AbortSignal;
}

/** An HTTP error from the server, with MLflow's error_code when it sent one. */
export class MlflowHttpError extends Error {
  constructor(message: string, readonly status: number, readonly errorCode: string | undefined) {
    super(message);
    this.name = "MlflowHttpError";
  }
}

const MIME: Record<string, string> = {
  ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml", ".json": "application/json",
  ".yaml": "text/yaml", ".yml": "text/yaml", ".csv": "text/csv", ".txt": "text/plain", ".log": "text/plain",
};

/** Basic or bearer auth from MLflow's own environment variables. */
function authHeader(): Record<string, string> {
  const token = process.env.MLFLOW_TRACKING_TOKEN;
  if (token) return { authorization: `Bearer ${token}` };
  const user = process.env.MLFLOW_TRACKING_USERNAME;
  const password = process.env.MLFLOW_TRACKING_PASSWORD;
  if (user && password) return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
  return {};
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return `no answer within ${timeoutMs / 1000} s`;
  if (e.name === "AbortError") return "aborted";
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message} (${cause})` : e.message;
}

const encodePath = (path: string): string => path.split("/").map(encodeURIComponent).join("/");

export class RestStore implements MlflowStore {
  readonly uri: string;
  private readonly timeoutMs: number;

  constructor(uri: string, private readonly options: RestStoreOptions = {}) {
    this.uri = uri.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  async experimentId(name: string): Promise<string> {
    const found = await this.findExperiment(name);
    if (found !== null) return found;
    try {
      const created = (await this.api("POST", "experiments/create", { name })) as { experiment_id?: unknown };
      return String(created.experiment_id);
    } catch (err) {
      // Another client created it between the two calls.
      if (err instanceof MlflowHttpError && err.errorCode === "RESOURCE_ALREADY_EXISTS") {
        const again = await this.findExperiment(name);
        if (again !== null) return again;
      }
      throw err;
    }
  }

  async createRun(run: NewRun): Promise<RunRef> {
    const body = {
      experiment_id: run.experimentId, run_name: run.runName, start_time: run.startTime, user_id: run.userId, tags: run.tags,
    };
    const answer = (await this.api("POST", "runs/create", body)) as { run?: { info?: { run_id?: string; run_uuid?: string; artifact_uri?: string } } };
    const info = answer.run?.info;
    const runId = info?.run_id ?? info?.run_uuid;
    if (typeof runId !== "string") throw new Error("runs/create answered without run.info.run_id");
    return { experimentId: run.experimentId, runId, artifactUri: info?.artifact_uri ?? "" };
  }

  async getRun(ref: RunRef): Promise<RunSnapshot | null> {
    let answer: unknown;
    try {
      answer = await this.api("GET", `runs/get?run_id=${encodeURIComponent(ref.runId)}`);
    } catch (err) {
      if (err instanceof MlflowHttpError && err.errorCode === "RESOURCE_DOES_NOT_EXIST") return null;
      throw err;
    }
    const run = (answer as { run?: { info?: Record<string, unknown>; data?: { params?: { key: string }[]; metrics?: { key: string; step?: number | string }[] } } }).run;
    const status = run?.info?.status;
    const latestStep = new Map<string, number>();
    // proto3 JSON leaves out empty lists and zero steps; int64 may come as a string.
    for (const m of run?.data?.metrics ?? []) latestStep.set(m.key, Number(m.step ?? 0));
    return {
      status: typeof status === "string" ? (status as MlflowStatus) : statusFromCode(status),
      active: (run?.info?.lifecycle_stage ?? "active") === "active",
      params: new Set((run?.data?.params ?? []).map((p) => p.key)),
      latestStep,
    };
  }

  async logBatch(ref: RunRef, batch: Batch): Promise<void> {
    await this.api("POST", "runs/log-batch", {
      run_id: ref.runId,
      metrics: batch.metrics.map((m) => ({ key: m.key, value: jsonDouble(m.value), timestamp: Math.round(m.timestamp), step: Math.round(m.step) })),
      params: batch.params,
      tags: batch.tags,
    });
  }

  async updateRun(ref: RunRef, status: MlflowStatus, endTime: number | null | undefined): Promise<void> {
    // The API cannot clear end_time; a resumed run keeps its old one until it ends again.
    await this.api("POST", "runs/update", { run_id: ref.runId, status, ...(typeof endTime === "number" ? { end_time: endTime } : {}) });
  }

  async uploadArtifact(ref: RunRef, localPath: string, artifactPath: string): Promise<void> {
    const data = await readFile(localPath);
    const url = `${this.uri}/api/2.0/mlflow-artifacts/artifacts/${this.artifactRoot(ref)}/${encodePath(artifactPath)}`;
    const timeoutMs = this.timeoutMs + Math.ceil(data.length / 1048576) * 1000;
    await this.request("PUT", url, data, MIME[extname(localPath).toLowerCase()] ?? "application/octet-stream", timeoutMs);
  }

  /**
   * `<experiment_id>/<run_id>/artifacts`: the run's place under the proxy, taken
   * from its artifact_uri when that is mlflow-artifacts:/… (a server with a
   * custom artifact root may put it elsewhere).
   */
  private artifactRoot(ref: RunRef): string {
    if (ref.artifactUri.startsWith("mlflow-artifacts:")) {
      const path = new URL(ref.artifactUri).pathname.replace(/^\/+|\/+$/g, "");
      if (path !== "") return path;
    }
    return `${encodeURIComponent(ref.experimentId)}/${encodeURIComponent(ref.runId)}/artifacts`;
  }

  private async findExperiment(name: string): Promise<string | null> {
    let answer: unknown;
    try {
      answer = await this.api("GET", `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof MlflowHttpError && err.errorCode === "RESOURCE_DOES_NOT_EXIST") return null;
      throw err;
    }
    const experiment = (answer as { experiment?: { experiment_id?: unknown; lifecycle_stage?: string } }).experiment;
    if (experiment?.lifecycle_stage === "deleted") {
      throw new Error(`the MLflow experiment '${name}' is deleted on ${this.uri}: restore it ` +
        `('mlflow experiments restore --experiment-id ${String(experiment.experiment_id)}') or delete it for good ('mlflow gc')`);
    }
    if (experiment?.experiment_id === undefined) throw new Error("experiments/get-by-name answered without experiment_id");
    return String(experiment.experiment_id);
  }

  private async api(method: "GET" | "POST", endpoint: string, body?: unknown): Promise<unknown> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return this.request(method, `${this.uri}/api/2.0/mlflow/${endpoint}`, data, "application/json", this.timeoutMs);
  }

  private async request(method: string, url: string, body: string | Buffer | undefined, contentType: string, timeoutMs: number): Promise<unknown> {
    const signals = [AbortSignal.timeout(timeoutMs), ...(this.options.signal ? [this.options.signal] : [])];
    const what = `${method} ${new URL(url).pathname}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers: { ...authHeader(), ...(body === undefined ? {} : { "content-type": contentType }) },
        // A Buffer is a Uint8Array; the DOM typings want the plain view.
        body: typeof body === "string" || body === undefined ? body : new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength),
        signal: AbortSignal.any(signals),
      });
      text = await response.text();
    } catch (err) {
      throw new Error(`${what}: ${describeFailure(err, timeoutMs)}`);
    }
    let json: unknown = {};
    try {
      json = text === "" ? {} : JSON.parse(text);
    } catch {
      json = {};
    }
    if (!response.ok) {
      const { error_code: code, message } = json as { error_code?: string; message?: string };
      const detail = message ?? text.slice(0, 200);
      throw new MlflowHttpError(`${what}: HTTP ${response.status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`, response.status, code);
    }
    return json;
  }
}
