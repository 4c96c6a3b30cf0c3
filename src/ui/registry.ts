// Every run under the log folder, kept in memory, and the watches that turn
// file changes into deltas. Watches exist only while someone listens (an open
// events stream); the JSON API polls file sizes and times itself, so it is
// right without them.
import { readdirSync, watch, type FSWatcher } from "node:fs";
import { join, relative, sep } from "node:path";
import { findRunDirs } from "../runs/discover.js";
import { emptyDelta, isEmptyDelta, RunState, type RunDelta } from "./run-state.js";

export type DeltaListener = (delta: RunDelta, state: RunState) => void;

// Changes arrive in bursts (a row, then metrics.json, then a plot); one poll per burst.
const DEBOUNCE_MS = 100;
// Where fs.watch cannot be had (too many watches, a network file system): a poll of sizes and times.
const FALLBACK_POLL_MS = 2000;

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/** The id of a run: its path below the log folder with `/` (classify/train3). */
export const runIdOf = (logdir: string, dir: string): string => relative(logdir, dir).split(sep).join("/");

export class RunRegistry {
  private readonly states = new Map<string, RunState>();
  private readonly listeners = new Set<DeltaListener>();
  private readonly watchers = new Map<string, FSWatcher | NodeJS.Timeout>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(readonly logdir: string) {}

  /** Finds runs not seen before; returns their states (already polled once). */
  rescan(): RunState[] {
    const added: RunState[] = [];
    for (const dir of findRunDirs(this.logdir)) {
      const id = runIdOf(this.logdir, dir);
      if (this.states.has(id)) continue;
      const state = new RunState(id, dir);
      state.poll();
      this.states.set(id, state);
      added.push(state);
      if (this.listeners.size > 0) this.watchRun(state);
    }
    return added;
  }

  /** A run by id, polled so it is current; undefined for an id that is not a run here. */
  get(id: string): RunState | undefined {
    if (!this.states.has(id)) this.rescan();
    const state = this.states.get(id);
    if (state) this.refresh(state);
    return state;
  }

  /** Every run, each brought up to date. */
  all(): RunState[] {
    this.rescan();
    for (const state of this.states.values()) this.refresh(state);
    return [...this.states.values()];
  }

  /** Polls a run and tells listeners what changed. */
  private refresh(state: RunState): void {
    const delta = state.poll();
    if (!isEmptyDelta(delta)) for (const l of this.listeners) l(delta, state);
  }

  subscribe(listener: DeltaListener): () => void {
    if (this.listeners.size === 0) this.startWatching();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopWatching();
    };
  }

  close(): void {
    this.listeners.clear();
    this.stopWatching();
  }

  private startWatching(): void {
    this.rescan();
    this.watchFolders();
    for (const state of this.states.values()) this.watchRun(state);
  }

  private stopWatching(): void {
    for (const w of this.watchers.values()) {
      if ("close" in w) w.close();
      else clearInterval(w);
    }
    this.watchers.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** The log folder and its task folders: a new run appears as a new folder in one of them. */
  private watchFolders(): void {
    const onChange = (): void => this.debounce("\0scan", () => {
      for (const state of this.rescan()) for (const l of this.listeners) l({ ...emptyDelta(state.id), changed: ["record", "config", "metrics", "files"] }, state);
      this.watchFolders();
    });
    // Also folders that are not runs yet: a trainer makes its folder before it writes args.yaml there.
    const folders = [this.logdir];
    for (const child of subdirs(this.logdir)) {
      folders.push(child);
      for (const grandchild of subdirs(child)) if (!this.states.has(runIdOf(this.logdir, grandchild))) folders.push(grandchild);
    }
    for (const folder of folders) this.watchPath(`\0dir:${folder}`, folder, onChange);
  }

  private watchRun(state: RunState): void {
    this.watchPath(state.id, state.dir, () => this.debounce(state.id, () => this.refresh(state)));
  }

  private watchPath(key: string, path: string, onChange: () => void): void {
    if (this.watchers.has(key)) return;
    try {
      const w = watch(path, { persistent: false }, onChange);
      w.on("error", () => {
        w.close();
        this.watchers.set(key, setInterval(onChange, FALLBACK_POLL_MS).unref());
      });
      this.watchers.set(key, w);
    } catch {
      this.watchers.set(key, setInterval(onChange, FALLBACK_POLL_MS).unref());
    }
  }

  private debounce(key: string, fn: () => void): void {
    if (this.timers.has(key)) return;
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      fn();
    }, DEBOUNCE_MS));
  }
}

