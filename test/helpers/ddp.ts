// Shared by the data-parallel tests: a checkpoint's tensors as floats, the
// worst normwise difference of two runs' model weights, results.csv columns.
import { readFileSync } from "node:fs";
import { readSafetensorsSync } from "../../src/io/safetensors.js";
import { normwiseError } from "./compare.js";

export function floats(path: string): Map<string, Float32Array> {
  const c = readSafetensorsSync(path);
  return new Map([...c.tensors].map(([k, t]) => [k, new Float32Array(Uint8Array.prototype.slice.call(t.bytes).buffer)]));
}

/** The model's weight tensors of two checkpoints compared: the worst normwise error and its tensor. */
export function worstWeightError(got: string, want: string): { error: number; key: string; count: number } {
  const a = floats(want);
  const b = floats(got);
  const keys = [...a.keys()].filter((k) => k.startsWith("model.") && (k.endsWith(".weight") || k.endsWith(".bias")));
  let worst = { error: 0, key: "", count: keys.length };
  for (const k of keys) {
    const { error } = normwiseError(b.get(k)!, a.get(k)!);
    if (!(error <= worst.error)) worst = { error, key: k, count: keys.length }; // NaN wins too
  }
  return worst;
}

/** One column of results.csv, a number per epoch. */
export function resultsColumn(csvPath: string, column: string): number[] {
  const [head, ...rows] = readFileSync(csvPath, "utf8").trim().split("\n");
  const col = head.split(",").indexOf(column);
  if (col < 0) throw new Error(`${csvPath} has no column ${column} (${head})`);
  return rows.map((r) => Number(r.split(",")[col]));
}
