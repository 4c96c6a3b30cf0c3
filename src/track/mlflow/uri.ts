// MLFLOW_TRACKING_URI as MLflow reads it: http(s) is a server, file: or a bare
// path is a local file store; other schemes (sqlite:, postgresql:, databricks)
// need MLflow itself.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FileStore } from "./file-store.js";
import { RestStore, type RestStoreOptions } from "./rest.js";
import type { MlflowStore } from "./store.js";

export type TrackingTarget =
  | { kind: "file"; root: string }
  | { kind: "rest"; uri: string }
  | { kind: "unsupported"; uri: string };

export const DEFAULT_TRACKING_URI = "./mlruns";

export function resolveTrackingUri(uri?: string): TrackingTarget {
  const given = uri ?? process.env.MLFLOW_TRACKING_URI ?? DEFAULT_TRACKING_URI;
  const text = given.trim() === "" ? DEFAULT_TRACKING_URI : given.trim();
  if (/^https?:\/\//i.test(text)) return { kind: "rest", uri: text.replace(/\/+$/, "") };
  if (/^file:\/\//i.test(text)) return { kind: "file", root: fileURLToPath(text) };
  if (/^file:/i.test(text)) return { kind: "file", root: resolve(text.slice("file:".length)) };
  // A Windows drive letter is a path, not a scheme.
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text)) return { kind: "unsupported", uri: text };
  return { kind: "file", root: resolve(text) };
}

export function openStore(target: TrackingTarget, rest: RestStoreOptions = {}): MlflowStore {
  if (target.kind === "file") return new FileStore(target.root);
  if (target.kind === "rest") return new RestStore(target.uri, rest);
  throw new Error(unsupportedMessage(target.uri));
}

export function unsupportedMessage(uri: string): string {
  return `MLFLOW_TRACKING_URI=${uri} is not supported by kiln, which writes MLflow's file store (a folder) or talks to ` +
    `a tracking server: start one on it ('mlflow server --backend-store-uri ${uri}') and set MLFLOW_TRACKING_URI=http://127.0.0.1:5000`;
}
