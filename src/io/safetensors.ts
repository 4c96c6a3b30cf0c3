// safetensors reading and writing (huggingface/safetensors; see
// ../shared/reference/formats.md §5.1). Layout: u64 little-endian header size
// N, N bytes of UTF-8 JSON, then the tensors' bytes. The reader trusts nothing:
// every violation is a SafetensorsError naming the file and the tensor.
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { writeFileAtomic, writeFileAtomicSync } from "./atomic.js";

/** The dtypes of the format, in the order of its Rust enum (the writer sorts by it). */
const DTYPE_SIZES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
} as const;
export type Dtype = keyof typeof DTYPE_SIZES;
const DTYPE_RANK = new Map(Object.keys(DTYPE_SIZES).map((d, i) => [d, i]));

/** As safetensors' MAX_HEADER_SIZE. */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** A tensor as stored: its dtype, shape and raw little-endian bytes (a view of the file). */
export interface StoredTensor {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export interface SafetensorsContents {
  /** In the file's data order. */
  readonly tensors: Map<string, StoredTensor>;
  /** `__metadata__`: string keys to string values (the format allows nothing else). */
  readonly metadata: Record<string, string>;
}

/** Float32 values with their shape: what a state dict loads from. */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type WritableData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/**
 * A tensor to write. Without `dtype` the array's own type decides (Float32Array → F32,
 * Float64Array → F64, Int32Array → I32, BigInt64Array → I64, Uint8Array → U8). With it,
 * the values are converted: e.g. F32 data as "F16" for a half export, or a float count
 * as "I64" (PyTorch's `num_batches_tracked`).
 */
export interface TensorToWrite {
  readonly shape: readonly number[];
  readonly data: WritableData;
  readonly dtype?: Dtype;
}

// ---- reading ------------------------------------------------------------------

/** Reads and validates a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await readFile(path), path);
}

export function readSafetensorsSync(path: string): SafetensorsContents {
  return decodeSafetensors(readFileSync(path), path);
}

/** Parses and validates safetensors bytes; `source` names the file in errors. */
export function decodeSafetensors(file: Uint8Array, source = "<buffer>"): SafetensorsContents {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (file.length < 8) fail(`${file.length} bytes is too short for a safetensors file (it starts with an 8-byte header size)`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerSize = view.getBigUint64(0, true);
  if (headerSize > BigInt(MAX_HEADER_BYTES)) fail(`header claims ${headerSize} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerSize);
  if (8 + n > file.length) fail(`header claims ${n} bytes but the file has only ${file.length - 8} after the size field (truncated?)`);

  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(8, 8 + n));
  } catch {
    fail("header is not valid UTF-8");
  }
  if (!text.startsWith("{")) fail("header does not start with '{' (not a safetensors file?)");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const duplicate = firstDuplicateTopLevelKey(text);
  if (duplicate !== null) fail(`header names "${duplicate}" twice`);

  const entries = header as Record<string, unknown>;
  const metadata = parseMetadata(entries["__metadata__"], fail);
  const infos: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(entries)) {
    if (name === "__metadata__") continue;
    infos.push({ name, ...parseTensorInfo(raw, (msg) => fail(`tensor "${name}": ${msg}`)) });
  }

  // Offsets must tile the byte buffer exactly: sorted, from 0, no gaps, no overlaps.
  const dataStart = 8 + n;
  const dataLength = file.length - dataStart;
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const t of infos) {
    const where = `tensor "${t.name}"`;
    if (t.begin < expected) fail(`${where}: data_offsets [${t.begin}, ${t.end}] overlap the previous tensor, which ends at ${expected}`);
    if (t.begin > expected) fail(`${where}: data_offsets [${t.begin}, ${t.end}] leave a gap after byte ${expected}`);
    const nbytes = numel(t.shape) * DTYPE_SIZES[t.dtype];
    if (t.end - t.begin !== nbytes) {
      fail(`${where}: data_offsets [${t.begin}, ${t.end}] span ${t.end - t.begin} bytes but ${t.dtype} [${t.shape.join(", ")}] needs ${nbytes}`);
    }
    if (t.end > dataLength) fail(`${where}: data_offsets end at ${t.end} but the file holds only ${dataLength} data bytes (truncated?)`);
    expected = t.end;
  }
  if (expected !== dataLength) fail(`the tensors cover ${expected} data bytes but the file holds ${dataLength}`);

  const tensors = new Map<string, StoredTensor>();
  for (const t of infos) {
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, bytes: file.subarray(dataStart + t.begin, dataStart + t.end) });
  }
  return { tensors, metadata };
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function parseMetadata(raw: unknown, fail: (msg: string) => never): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("__metadata__ must be an object of strings");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== "string") fail(`__metadata__ "${k}" is a ${v === null ? "null" : typeof v}; the format allows only string values`);
    out[k] = v as string;
  }
  return out;
}

function parseTensorInfo(raw: unknown, fail: (msg: string) => never): { dtype: Dtype; shape: number[]; begin: number; end: number } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("entry is not an object with dtype, shape and data_offsets");
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string" || !DTYPE_RANK.has(dtype)) fail(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  const dims = shape as number[];
  if (!Number.isSafeInteger(numel(dims) * DTYPE_SIZES[dtype as Dtype])) fail(`shape [${dims.join(", ")}] is absurdly large`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`);
  return { dtype: dtype as Dtype, shape: dims, begin, end };
}

/**
 * JSON.parse keeps the last of duplicate keys silently; the format forbids
 * them. This scans the header's top level for a key seen twice.
 */
function firstDuplicateTopLevelKey(json: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") depth--;
    else if (ch === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
      let k = j + 1;
      while (/\s/.test(json[k] ?? "")) k++;
      if (depth === 1 && json[k] === ":") {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = j;
    }
  }
  return null;
}

// ---- values -------------------------------------------------------------------

/** Copies the bytes into a fresh, aligned buffer (file views may be unaligned). */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
}

/**
 * The tensor's values as float32, whatever its dtype (integers and 64-bit
 * floats are rounded to the nearest float32). 8-bit floats are refused.
 */
export function toFloat32(t: StoredTensor, name = "tensor"): Float32Array {
  const n = numel(t.shape);
  const buf = alignedCopy(t.bytes);
  switch (t.dtype) {
    case "F32": return new Float32Array(buf, 0, n);
    case "F64": return Float32Array.from(new Float64Array(buf, 0, n));
    case "F16": return Float32Array.from(new Uint16Array(buf, 0, n), halfToFloat);
    case "BF16": return Float32Array.from(new Uint16Array(buf, 0, n), bfloat16ToFloat);
    case "I64": return Float32Array.from(new BigInt64Array(buf, 0, n), Number);
    case "U64": return Float32Array.from(new BigUint64Array(buf, 0, n), Number);
    case "I32": return Float32Array.from(new Int32Array(buf, 0, n));
    case "U32": return Float32Array.from(new Uint32Array(buf, 0, n));
    case "I16": return Float32Array.from(new Int16Array(buf, 0, n));
    case "U16": return Float32Array.from(new Uint16Array(buf, 0, n));
    case "I8": return Float32Array.from(new Int8Array(buf, 0, n));
    case "U8": return Float32Array.from(new Uint8Array(buf, 0, n));
    case "BOOL": return Float32Array.from(new Uint8Array(buf, 0, n), (b) => (b ? 1 : 0));
    default: throw new SafetensorsError(`${name}: reading ${t.dtype} as float32 is not supported`);
  }
}

/** Every tensor of a file as float32 (a state dict to load into a model). */
export function toFloat32Tensors(contents: SafetensorsContents, source = "<buffer>"): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  for (const [name, t] of contents.tensors) out.set(name, { shape: t.shape, data: toFloat32(t, `${source}: tensor "${name}"`) });
  return out;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE half (binary16) bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** A float32 value to IEEE half bits, rounding to nearest even (overflow to infinity). */
export function floatToHalf(v: number): number {
  scratchF32[0] = v;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A half subnormal: m · 2^-24 with m = (1.mant · 2^23) >> (14 - e).
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bfloat16ToFloat(h: number): number {
  scratchU32[0] = h << 16;
  return scratchF32[0];
}

/** A float32 value to bfloat16 bits, rounding to nearest even (as PyTorch). */
export function floatToBfloat16(v: number): number {
  scratchF32[0] = v;
  const x = scratchU32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- writing ------------------------------------------------------------------

function naturalDtype(data: WritableData): Dtype {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof BigInt64Array) return "I64";
  return "U8";
}

function encodeValues(name: string, t: TensorToWrite): Uint8Array {
  const dtype = t.dtype ?? naturalDtype(t.data);
  const n = numel(t.shape);
  if (t.data.length !== n) throw new SafetensorsError(`tensor "${name}": ${t.data.length} values for shape [${t.shape.join(", ")}] (${n})`);
  if (dtype === naturalDtype(t.data) || (dtype === "BOOL" && t.data instanceof Uint8Array)) {
    return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  }
  const out = new Uint8Array(n * DTYPE_SIZES[dtype]);
  const view = new DataView(out.buffer);
  const values = t.data;
  const num = (i: number): number => Number(values[i]);
  const int = (i: number): number => {
    const v = num(i);
    if (!Number.isInteger(v)) throw new SafetensorsError(`tensor "${name}": value ${v} at ${i} is not an integer, cannot be written as ${dtype}`);
    return v;
  };
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case "F32": view.setFloat32(i * 4, num(i), true); break;
      case "F64": view.setFloat64(i * 8, num(i), true); break;
      case "F16": view.setUint16(i * 2, floatToHalf(num(i)), true); break;
      case "BF16": view.setUint16(i * 2, floatToBfloat16(num(i)), true); break;
      case "I64": view.setBigInt64(i * 8, BigInt(int(i)), true); break;
      case "I32": view.setInt32(i * 4, int(i), true); break;
      case "U8": {
        const v = int(i);
        if (v < 0 || v > 255) throw new SafetensorsError(`tensor "${name}": value ${v} at ${i} does not fit in U8`);
        view.setUint8(i, v);
        break;
      }
      case "BOOL": view.setUint8(i, num(i) ? 1 : 0); break;
      default: throw new SafetensorsError(`tensor "${name}": writing ${dtype} is not supported`);
    }
  }
  return out;
}

const utf8Compare = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/**
 * Serialises tensors and string metadata as the reference writer does: tensors
 * sorted by dtype (largest alignment first, the format's enum order) then name,
 * header padded with spaces so the data starts 8-byte aligned.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new SafetensorsError(`__metadata__ "${k}" must be a string (JSON.stringify structured values)`);
  }
  const items = [...tensors].map(([name, t]) => {
    if (name === "__metadata__") throw new SafetensorsError('a tensor cannot be named "__metadata__"');
    return { name, dtype: t.dtype ?? naturalDtype(t.data), shape: [...t.shape], bytes: encodeValues(name, t) };
  });
  items.sort((a, b) => DTYPE_RANK.get(b.dtype)! - DTYPE_RANK.get(a.dtype)! || utf8Compare(a.name, b.name));

  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header["__metadata__"] = metadata;
  let offset = 0;
  for (const it of items) {
    header[it.name] = { dtype: it.dtype, shape: it.shape, data_offsets: [offset, offset + it.bytes.length] };
    offset += it.bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);

  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const it of items) {
    out.set(it.bytes, at);
    at += it.bytes.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file, fsync, rename). */
export async function writeSafetensors(path: string, tensors: ReadonlyMap<string, TensorToWrite>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function writeSafetensorsSync(path: string, tensors: ReadonlyMap<string, TensorToWrite>, metadata: Record<string, string> = {}): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
}
