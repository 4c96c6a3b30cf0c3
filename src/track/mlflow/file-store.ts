// An MLflow tracking store in MLflow's own file layout (FileStore,
// mlflow/store/tracking/file_store.py), so `mlflow ui --backend-store-uri
// ./mlruns` (MLflow 3.13+: with MLFLOW_ALLOW_FILE_STORE=true) shows kiln's runs:
//   <root>/<experiment_id>/meta.yaml
//   <root>/<experiment_id>/<run_id>/{meta.yaml, params/, metrics/, tags/, artifacts/}
// Every file is replaced atomically, so MLflow never reads a torn meta.yaml or a
// half-written metric line (a metric file is rewritten whole, not appended to).
import { randomBytes, randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse, stringify } from "yaml";
import { copyFileAtomic, writeFileAtomicSync } from "../../io/atomic.js";
import { pythonFloat, STATUS_CODE, statusFromCode, type MlflowStatus } from "./names.js";
import type { Batch, MetricPoint, MlflowStore, NewRun, RunRef, RunSnapshot } from "./store.js";

const TRASH = ".trash";
/** Folders in the root that are not experiments (the model registry's). */
const NOT_EXPERIMENTS = new Set([TRASH, "models"]);
const DEFAULT_EXPERIMENT = { id: "0", name: "Default" };
/** MLflow's source_type enum: LOCAL. */
const SOURCE_TYPE_LOCAL = 4;

type Yaml = Record<string, unknown>;

// PyYAML reads YAML 1.1, where yes/no/on/off are booleans: write 1.1 so such
// strings get quoted; keys sorted as PyYAML's safe_dump writes them.
function toYaml(data: Yaml): string {
  return stringify(data, { version: "1.1", singleQuote: true, lineWidth: 0, sortMapEntries: true });
}

function readYaml(path: string): Yaml | null {
  if (!existsSync(path)) return null;
  const value: unknown = parse(readFileSync(path, "utf8"), { version: "1.1" });
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Yaml) : null;
}

function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Relative paths of the files under dir, '/'-separated: the keys of params/, metrics/, tags/. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (sub: string): void => {
    for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub === "" ? e.name : `${sub}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.isFile() && !e.name.endsWith(".tmp")) out.push(rel);
    }
  };
  walk("");
  return out;
}

/** MLflow's _generate_unique_integer_id: 18 decimal digits, no leading zero. */
function experimentIdCandidate(): string {
  const digits = [...randomBytes(18)].map((b) => String(b % 10));
  if (digits[0] === "0") digits[0] = String(1 + (randomBytes(1)[0] % 9));
  return digits.join("");
}

export class FileStore implements MlflowStore {
  readonly root: string;
  readonly uri: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.uri = pathToFileURL(this.root).href;
  }

  async experimentId(name: string): Promise<string> {
    this.ensureRoot();
    for (const id of subdirs(this.root)) {
      if (NOT_EXPERIMENTS.has(id)) continue;
      const meta = this.readExperimentMeta(join(this.root, id));
      if (meta?.name === name && String(meta.experiment_id) === id && meta.lifecycle_stage !== "deleted") return id;
    }
    for (const id of subdirs(join(this.root, TRASH))) {
      const meta = this.readExperimentMeta(join(this.root, TRASH, id));
      if (meta?.name === name) {
        throw new Error(`the MLflow experiment '${name}' is deleted (${join(this.root, TRASH, id)}): restore it ` +
          `('mlflow experiments restore --experiment-id ${id}') or remove that folder to use the name again`);
      }
    }
    let id = experimentIdCandidate();
    while (existsSync(join(this.root, id)) || existsSync(join(this.root, TRASH, id))) id = experimentIdCandidate();
    this.createExperiment(id, name);
    return id;
  }

  async createRun(run: NewRun): Promise<RunRef> {
    this.ensureRoot();
    const expDir = join(this.root, run.experimentId);
    const experiment = this.readExperimentMeta(expDir);
    if (!experiment) throw new Error(`MLflow experiment ${run.experimentId} does not exist in ${this.root}`);
    if (experiment.lifecycle_stage !== "active") throw new Error(`MLflow experiment ${run.experimentId} is not active`);
    const runId = randomUUID().replace(/-/g, "");
    const artifactUri = `${String(experiment.artifact_location).replace(/\/+$/, "")}/${runId}/artifacts`;
    const runDir = join(expDir, runId);
    mkdirSync(runDir);
    // meta.yaml first: MLflow skips a run folder without one.
    writeFileAtomicSync(join(runDir, "meta.yaml"), toYaml({
      artifact_uri: artifactUri, end_time: null, entry_point_name: "", experiment_id: run.experimentId,
      lifecycle_stage: "active", run_id: runId, run_name: run.runName,
      // MLflow 3 writes only run_id; MLflow 2 cannot read a run without run_uuid.
      run_uuid: runId, source_name: "", source_type: SOURCE_TYPE_LOCAL, source_version: "", start_time: run.startTime,
      status: STATUS_CODE.RUNNING, tags: [], user_id: run.userId, deleted_time: null,
    }));
    for (const folder of ["metrics", "params", "artifacts"]) mkdirSync(join(runDir, folder));
    const ref = { experimentId: run.experimentId, runId, artifactUri };
    const tags = run.tags.some((t) => t.key === "mlflow.runName") ? run.tags : [...run.tags, { key: "mlflow.runName", value: run.runName }];
    for (const tag of tags) this.writeKeyFile(runDir, "tags", tag.key, tag.value);
    return ref;
  }

  async getRun(ref: RunRef): Promise<RunSnapshot | null> {
    const runDir = this.runDir(ref);
    const meta = readYaml(join(runDir, "meta.yaml"));
    if (!meta) return null;
    const latestStep = new Map<string, number>();
    for (const key of filesUnder(join(runDir, "metrics"))) {
      const steps = this.readMetric(runDir, key).map((m) => m.step);
      if (steps.length > 0) latestStep.set(key, Math.max(...steps));
    }
    return {
      status: statusFromCode(meta.status), active: meta.lifecycle_stage === "active",
      params: new Set(filesUnder(join(runDir, "params"))), latestStep,
    };
  }

  async logBatch(ref: RunRef, batch: Batch): Promise<void> {
    const runDir = this.activeRunDir(ref);
    for (const p of batch.params) {
      const path = join(runDir, "params", ...p.key.split("/"));
      // Params are immutable in MLflow: the same value again is fine, another is refused.
      if (existsSync(path)) {
        const current = readFileSync(path, "utf8");
        if (current !== p.value) throw new Error(`param '${p.key}' was already logged with value '${current}' (new value '${p.value}')`);
        continue;
      }
      this.writeKeyFile(runDir, "params", p.key, p.value);
    }
    const byKey = new Map<string, MetricPoint[]>();
    for (const m of batch.metrics) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m]);
    for (const [key, points] of byKey) {
      // Appended, as MLflow's own file store does: one write of whole lines per batch, so
      // a long run's step losses are not rewritten every few seconds.
      const path = join(runDir, "metrics", ...key.split("/"));
      mkdirSync(dirname(path), { recursive: true });
      appendFileSync(path, points.map((m) => `${Math.round(m.timestamp)} ${pythonFloat(m.value)} ${Math.round(m.step)}\n`).join(""));
    }
    for (const t of batch.tags) {
      this.writeKeyFile(runDir, "tags", t.key, t.value);
      // MLflow keeps meta.yaml's run_name in step with the mlflow.runName tag.
      if (t.key === "mlflow.runName") this.rewriteMeta(runDir, { run_name: t.value });
    }
  }

  async updateRun(ref: RunRef, status: MlflowStatus, endTime: number | null | undefined): Promise<void> {
    const runDir = this.activeRunDir(ref);
    this.rewriteMeta(runDir, { status: STATUS_CODE[status], ...(endTime === undefined ? {} : { end_time: endTime }) });
  }

  async uploadArtifact(ref: RunRef, localPath: string, artifactPath: string): Promise<void> {
    if (!ref.artifactUri.startsWith("file:")) {
      throw new Error(`the run's artifact location ${ref.artifactUri} is not a local folder; kiln copies artifacts only to file: locations`);
    }
    const dest = join(fileURLToPath(ref.artifactUri), ...artifactPath.split("/"));
    await mkdir(dirname(dest), { recursive: true });
    await copyFileAtomic(localPath, dest);
  }

  /** The run's metric history as MLflow's FileStore reads it (2 or 3 fields a line). */
  readMetric(runDir: string, key: string): MetricPoint[] {
    const text = readFileSync(join(runDir, "metrics", ...key.split("/")), "utf8");
    return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
      const [ts, value, step] = line.trim().split(" ");
      return { key, timestamp: Number.parseInt(ts, 10), value: Number(value.replace(/^(-?)inf$/, "$1Infinity").replace(/^nan$/, "NaN")), step: step === undefined ? 0 : Number.parseInt(step, 10) };
    });
  }

  runDir(ref: RunRef): string {
    return join(this.root, ref.experimentId, ref.runId);
  }

  /** MLflow creates the Default experiment (id 0) when the root is missing, and .trash when that is. */
  private ensureRoot(): void {
    if (!existsSync(this.root)) {
      mkdirSync(this.root, { recursive: true });
      this.createExperiment(DEFAULT_EXPERIMENT.id, DEFAULT_EXPERIMENT.name);
    }
    if (!statSync(this.root).isDirectory()) throw new Error(`the MLflow store ${this.root} is not a folder`);
    mkdirSync(join(this.root, TRASH), { recursive: true });
  }

  private createExperiment(id: string, name: string): void {
    const dir = join(this.root, id);
    mkdirSync(dir);
    const now = Date.now();
    writeFileAtomicSync(join(dir, "meta.yaml"), toYaml({
      artifact_location: `${this.uri}/${id}`, creation_time: now, experiment_id: id,
      last_update_time: now, lifecycle_stage: "active", name,
    }));
  }

  private readExperimentMeta(dir: string): Yaml | null {
    try {
      return readYaml(join(dir, "meta.yaml"));
    } catch {
      return null; // a malformed experiment: MLflow warns and skips it too
    }
  }

  private activeRunDir(ref: RunRef): string {
    const runDir = this.runDir(ref);
    const meta = readYaml(join(runDir, "meta.yaml"));
    if (!meta) throw new Error(`MLflow run ${ref.runId} does not exist in ${this.root}`);
    if (meta.lifecycle_stage !== "active") throw new Error(`MLflow run ${ref.runId} is deleted`);
    return runDir;
  }

  private rewriteMeta(runDir: string, changes: Yaml): void {
    const meta = readYaml(join(runDir, "meta.yaml")) ?? {};
    writeFileAtomicSync(join(runDir, "meta.yaml"), toYaml({ ...meta, ...changes }));
  }

  /** params/, metrics/, tags/ keys map to paths: "train/loss" is metrics/train/loss. */
  private writeKeyFile(runDir: string, folder: string, key: string, content: string): void {
    const path = join(runDir, folder, ...key.split("/"));
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomicSync(path, content);
  }
}
