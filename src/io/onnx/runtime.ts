// Running an exported model with onnxruntime-node (CPU): the session, and the
// model metadata kiln wrote into the file (metadata_props "kiln_model"), read
// straight from the protobuf so nothing else is needed to label the outputs.
import { readFileSync } from "node:fs";
import { KilnError } from "../../errors.js";

/** Reads ModelProto.metadata_props (field 14: StringStringEntryProto{key 1, value 2}) from ONNX bytes. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  const varint = (): number => {
    let v = 0, shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new Error("truncated varint");
      const b = bytes[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
      shift += 7;
      if (shift > 63) throw new Error("varint too long");
    }
  };
  const fields = (end: number, visit: (field: number, start: number, len: number) => void): void => {
    while (pos < end) {
      const key = varint();
      const field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const len = varint();
        const start = pos;
        if (start + len > end) throw new Error("truncated field");
        visit(field, start, len);
        pos = start + len;
      } else throw new Error(`unsupported wire type ${wire}`);
    }
  };
  const text = (start: number, len: number): string => new TextDecoder().decode(bytes.subarray(start, start + len));
  fields(bytes.length, (field, start, len) => {
    if (field !== 14) return;
    let key = "", value = "";
    fields(start + len, (f, s, l) => {
      if (f === 1) key = text(s, l);
      if (f === 2) value = text(s, l);
    });
    out[key] = value;
  });
  return out;
}

export interface OnnxSession {
  readonly inputName: string;
  readonly outputNames: readonly string[];
  readonly metadata: Record<string, string>;
  /** Runs the model on a float32 batch [N, C, H, W]; returns each output's values and dims. */
  run(images: Float32Array, shape: readonly number[]): Promise<{ data: Float32Array; dims: readonly number[] }[]>;
}

/** Opens an ONNX file with onnxruntime-node (loaded on demand: only `predict --model x.onnx` needs it). */
export async function openOnnx(path: string): Promise<OnnxSession> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KilnError(`cannot read ${path}: ${(err as Error).message}. Fix: pass an .onnx file written by kiln export.`);
  }
  let metadata: Record<string, string>;
  try {
    metadata = readOnnxMetadata(bytes);
  } catch (err) {
    throw new KilnError(`${path} is not a readable ONNX model (${(err as Error).message}).`);
  }
  const ort = await import("onnxruntime-node");
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(bytes);
  } catch (err) {
    throw new KilnError(`onnxruntime cannot load ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
  const inputName = session.inputNames[0];
  return {
    inputName, outputNames: session.outputNames, metadata,
    async run(images, shape) {
      const result = await session.run({ [inputName]: new ort.Tensor("float32", images, [...shape]) });
      return session.outputNames.map((n) => ({ data: result[n].data as Float32Array, dims: result[n].dims }));
    },
  };
}
