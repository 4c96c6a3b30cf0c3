// A tracker is a sink: the trainer tells it what happened (the run started,
// scalars at a step, an artifact to keep, the run ended) and it records that
// somewhere else (TensorBoard event files, an MLflow store). The run directory
// stays the truth; a tracker never stops or slows training, so its methods do
// not throw for remote trouble: they warn once and keep what was missed for
// `kiln runs sync`.

export type TrackedStatus = "finished" | "interrupted" | "failed";

export interface TrackedRun {
  /** The run directory (runs/classify/train3). */
  runDir: string;
  /** The run's name: the directory's base name. */
  name: string;
  task: "classify" | "detect";
  /** The experiment it belongs to: the project folder's base name (e.g. "classify"). */
  experiment: string;
  /** The frozen config (args.yaml), flat key → value. */
  params: Record<string, string | number | boolean | null>;
  /** Milliseconds since the Unix epoch. */
  startedAt: number;
  /** True when this process resumes an earlier run in the same directory. */
  resumed: boolean;
}

export interface Tracker {
  readonly name: string;
  start(run: TrackedRun): void;
  /**
   * Scalars at one step. kind "epoch": step is the 1-based epoch and names are
   * results.csv's columns ("train/loss", "val/acc", "lr/pg0", …); kind "step":
   * step is the global optimizer iteration and the name is "train/batch_loss".
   */
  logScalars(kind: "epoch" | "step", step: number, scalars: Record<string, number>, timeMs?: number): void;
  /** A file of the run directory to keep with the run (plots, args.yaml, best weights); artifactDir is the folder under the tracker's artifact root. */
  logArtifact(path: string, artifactDir?: string): void;
  /** The run ended: flush, close files, send what is pending (bounded time). */
  end(status: TrackedStatus, endedAt: number): Promise<void>;
}
