// The MLflow tracker: the trainer's calls return at once; the work goes into
// one queue, sent in order in the background. The first failure warns once and
// stops all sending for the run (the run directory keeps everything, and
// `syncRunToMlflow` sends the rest later); end() waits a bounded time.
// Artifacts are uploaded at end(), after the status: the final file, once.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { TrackedRun, TrackedStatus, Tracker } from "../tracker.js";
import { LIMITS, mlflowStatus, sanitizeKey } from "./names.js";
import { artifactPathFor, currentUser, linkPathOf, paramsOf, runTags, sendBatch } from "./run-data.js";
import { refOf, RunLinkFile } from "./run-link.js";
import type { MetricPoint, MlflowStore, RunRef } from "./store.js";

export interface MlflowTrackerOptions {
  /** Where the one warning goes; default process.emitWarning. */
  warn?: (message: string) => void;
  /** How long end() waits for what is still queued (default 10 s). */
  endWaitMs?: number;
  /** Per-step scalars (train/batch_loss) are sent together at most this often (default 5 s). */
  stepFlushMs?: number;
  /** Called when end() gives up: aborts the requests still in flight. */
  abort?: () => void;
}

/** More queued operations than this means the store cannot keep up: stop rather than grow. */
const MAX_QUEUED = 256;

export class MlflowTracker implements Tracker {
  readonly name = "mlflow";
  private run: TrackedRun | null = null;
  private link: RunLinkFile | null = null;
  private ref: RunRef | null = null;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private stopped = false;
  private ended = false;
  private stepBuffer: MetricPoint[] = [];
  /** Artifact path → local file, uploaded at end() (the final version of each file). */
  private readonly artifacts = new Map<string, string>();
  private lastStepFlush = 0;
  private readonly warn: (message: string) => void;

  constructor(readonly store: MlflowStore, private readonly options: MlflowTrackerOptions = {}) {
    this.warn = options.warn ?? ((m) => process.emitWarning(m, { code: "KILN_MLFLOW" }));
  }

  /** The MLflow run once created or found (tests, `kiln runs`). */
  get runRef(): RunRef | null {
    return this.ref;
  }

  /** Resolves when everything queued so far has been sent or dropped (unbounded: tests). */
  async flush(): Promise<void> {
    this.flushSteps();
    await this.queue;
  }

  start(run: TrackedRun): void {
    this.run = run;
    this.lastStepFlush = Date.now();
    try {
      this.link = new RunLinkFile(run.runDir);
    } catch (err) {
      this.fail(`reading ${run.runDir}/mlflow.json: ${(err as Error).message}`);
      return;
    }
    this.enqueue("starting the run", () => this.open(run));
  }

  logScalars(kind: "epoch" | "step", step: number, scalars: Record<string, number>, timeMs?: number): void {
    if (this.stopped || !this.run) return;
    const timestamp = Math.round(timeMs ?? Date.now());
    const points = Object.entries(scalars)
      .filter(([, v]) => typeof v === "number")
      .map(([k, value]) => ({ key: sanitizeKey(k), value, timestamp, step: Math.round(step) }));
    if (kind === "step") {
      this.stepBuffer.push(...points);
      if (this.stepBuffer.length >= LIMITS.metricsPerBatch || Date.now() - this.lastStepFlush >= (this.options.stepFlushMs ?? 5000)) this.flushSteps();
      return;
    }
    this.flushSteps();
    if (points.length > 0) this.enqueue("logging metrics", () => this.send(points));
  }

  logArtifact(path: string, artifactDir?: string): void {
    if (!this.run || !this.link || this.ended) return;
    if (!existsSync(path)) {
      this.warn(`kiln: MLflow: ${path} does not exist; not logged as an artifact.`);
      return;
    }
    const artifactPath = artifactPathFor(path, artifactDir);
    try {
      // Recorded even when sending has stopped: a later sync sends it.
      this.link.requestArtifact({ path: linkPathOf(this.run.runDir, path), artifact_path: artifactPath });
    } catch (err) {
      this.fail(`writing mlflow.json: ${(err as Error).message}`);
      return;
    }
    this.artifacts.set(artifactPath, path);
  }

  async end(status: TrackedStatus, endedAt: number): Promise<void> {
    if (!this.run || this.ended) return;
    this.ended = true;
    this.flushSteps();
    const mlStatus = mlflowStatus(status);
    this.enqueue("ending the run", async () => {
      await this.store.updateRun(this.requireRef(), mlStatus, endedAt);
      this.link?.recordStatus(this.store.uri, mlStatus, endedAt);
    });
    // Artifacts last: large and slow, they must not keep the status from arriving.
    for (const [artifactPath, path] of this.artifacts) {
      this.enqueue(`uploading ${artifactPath}`, async () => {
        const before = statSync(path);
        await this.store.uploadArtifact(this.requireRef(), path, artifactPath);
        this.link?.recordArtifact(this.store.uri, artifactPath, before.size, before.mtimeMs);
      });
    }
    const waitMs = this.options.endWaitMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.queue.then(() => false),
      new Promise<boolean>((done) => (timer = setTimeout(() => done(true), waitMs))),
    ]);
    clearTimeout(timer);
    if (gaveUp) {
      this.fail(`${this.store.uri} did not take everything within ${waitMs / 1000} s`);
      this.options.abort?.();
    }
  }

  /** A new MLflow run, or the same one again when this kiln run resumes. */
  private async open(run: TrackedRun): Promise<void> {
    const link = this.link as RunLinkFile;
    const params = paramsOf(run.params);
    const saved = run.resumed ? link.get(this.store.uri) : null;
    if (saved) {
      const ref = refOf(saved);
      const snapshot = await this.store.getRun(ref);
      if (snapshot?.active) {
        this.ref = ref;
        if (snapshot.status !== "RUNNING") await this.store.updateRun(ref, "RUNNING", null);
        // Params are immutable in MLflow: send only those the run lacks (a resume may change some).
        const missing = params.filter((p) => !snapshot.params.has(p.key) && !saved.sent.params.includes(p.key));
        await sendBatch(this.store, link, ref, { metrics: [], params: missing, tags: [] });
        return;
      }
    }
    const experimentId = await this.store.experimentId(run.experiment);
    const ref = await this.store.createRun({
      experimentId, runName: run.name, startTime: Math.round(run.startedAt), userId: currentUser(), tags: runTags(run.name, run.runDir, run.task),
    });
    link.set({
      tracking_uri: this.store.uri, experiment_id: ref.experimentId, run_id: ref.runId, artifact_uri: ref.artifactUri,
      experiment_name: run.experiment, sent: { params: [], metrics: {}, artifacts: {} },
    });
    this.ref = ref;
    await sendBatch(this.store, link, ref, { metrics: [], params, tags: [] });
  }

  private async send(metrics: MetricPoint[]): Promise<void> {
    await sendBatch(this.store, this.link as RunLinkFile, this.requireRef(), { metrics, params: [], tags: [] });
  }

  private flushSteps(): void {
    this.lastStepFlush = Date.now();
    if (this.stepBuffer.length === 0 || this.stopped) return;
    const points = this.stepBuffer;
    this.stepBuffer = [];
    this.enqueue("logging metrics", () => this.send(points));
  }

  private enqueue(what: string, op: () => Promise<void>): void {
    if (this.stopped) return;
    if (this.queued >= MAX_QUEUED) {
      this.fail(`${this.store.uri} does not keep up (${MAX_QUEUED} operations waiting)`);
      return;
    }
    this.queued++;
    this.queue = this.queue.then(async () => {
      try {
        if (!this.stopped) await op();
      } catch (err) {
        this.fail(`${what}: ${(err as Error).message}`);
      } finally {
        this.queued--;
      }
    });
  }

  private requireRef(): RunRef {
    if (!this.ref) throw new Error("the MLflow run was not created");
    return this.ref;
  }

  private fail(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stepBuffer = [];
    const dir = this.run ? resolve(this.run.runDir) : "the run directory";
    this.warn(`kiln: MLflow logging to ${this.store.uri} stopped (${reason}). The run directory keeps everything; ` +
      `send it later with 'kiln runs sync ${dir}'.`);
  }
}
