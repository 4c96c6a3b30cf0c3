// Reading an instances file and a results file from disk: I/O and JSON syntax
// problems become KilnErrors naming the file (and the line of a syntax error).
import { readFile } from "node:fs/promises";
import { KilnError } from "../../errors.js";
import { findJsonError } from "./json-error.js";
import type { CocoGroundTruth, CocoResult } from "./types.js";
import { validateGroundTruth, validateResults } from "./validate.js";

/** Reads and parses a JSON file; `what` says what it should be, for the messages. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : (err as Error).message;
    throw new KilnError(`cannot read ${what} ${path}: ${why}.`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte-order mark, as some editors write
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const at = findJsonError(text);
    const where = at ? ` at line ${at.line}, column ${at.column}: expected ${at.expected}` : `: ${(err as Error).message.split("\n")[0]}`;
    throw new KilnError(`${path}: not valid JSON${where}. Fix the file (is it complete?), then run again.`);
  }
}

/** Reads and validates a COCO instances file and a results file (a list of detections). */
export async function readCocoFiles(gtPath: string, dtPath: string): Promise<{ gt: CocoGroundTruth; dt: CocoResult[] }> {
  const gt = validateGroundTruth(await readJsonFile(gtPath, "the ground truth"), gtPath);
  const dt = validateResults(await readJsonFile(dtPath, "the detections"), dtPath, gt, gtPath);
  return { gt, dt };
}
