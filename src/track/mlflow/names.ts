// What MLflow accepts, in one place: key characters, value lengths, batch
// limits (mlflow/utils/validation.py, service.proto), the status enum, and how
// values are written so that both the file store and the server take them.

export const LIMITS = {
  /** Key length (MAX_ENTITY_KEY_LENGTH). */
  key: 250,
  /** Param value length (MAX_PARAM_VAL_LENGTH, MLflow >= 2.3). */
  paramValue: 6000,
  /** Tag value length (MAX_TAG_VAL_LENGTH is 8000 in 3.x, 5000 in older servers: take the smaller). */
  tagValue: 5000,
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  /** The proto documents 1 MB per log-batch request; leave room for the JSON around the items. */
  batchBytes: 900_000,
} as const;

export type MlflowStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";

/** RunStatus as the file store's meta.yaml holds it: an integer. */
export const STATUS_CODE: Record<MlflowStatus, number> = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 };

export function statusFromCode(code: unknown): MlflowStatus {
  const found = (Object.keys(STATUS_CODE) as MlflowStatus[]).find((s) => STATUS_CODE[s] === code);
  return found ?? "RUNNING";
}

/** kiln's run status → MLflow's: an interrupted run is what MLflow calls KILLED. */
export function mlflowStatus(status: "finished" | "interrupted" | "failed"): MlflowStatus {
  return status === "finished" ? "FINISHED" : status === "interrupted" ? "KILLED" : "FAILED";
}

/**
 * A key MLflow takes in every version and on every OS: alphanumerics, `_ - . /`
 * and space (':' is legal in MLflow 3 on Linux only, so it becomes '_'), and a
 * normalized relative path, because the file store turns keys into file paths
 * ("train/loss" → metrics/train/loss). Parentheses are dropped, as Ultralytics'
 * own callback does (metrics/mAP50-95(B) → metrics/mAP50-95B).
 */
export function sanitizeKey(key: string): string {
  const cleaned = key.replace(/[()]/g, "").replace(/[^A-Za-z0-9_\-. /]/g, "_");
  const parts = cleaned.split("/").filter((p) => p !== "" && p !== ".").map((p) => (p === ".." ? "_" : p));
  const joined = parts.join("/").slice(0, LIMITS.key).replace(/\/+$/, "");
  return joined === "" ? "_" : joined;
}

/** A param's value as text; MLflow stores every param as a string. */
export function paramText(value: unknown): string {
  const text = value === null || value === undefined ? "null" : typeof value === "object" ? JSON.stringify(value) : String(value);
  return text.slice(0, LIMITS.paramValue);
}

export function tagText(value: string): string {
  return value.slice(0, LIMITS.tagValue);
}

/**
 * A float as Python's str() writes it (the file store writes metric lines with
 * Python's formatting): shortest round-trip digits, exponent form below 1e-4
 * or from 1e16, "1.0" for integers, nan/inf spelled Python's way.
 */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = value.toExponential().split("e");
  const exp = Number(expText);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace(/^-/, "").replace(".", "");
  if (exp < -4 || exp >= 16) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${whole}.${frac === "" ? "0" : frac}`;
}

/** A metric value for JSON: proto3's JSON mapping spells non-finite doubles as strings. */
export function jsonDouble(value: number): number | string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}
