// PyTorch checkpoints (.pt/.pth, the zip format of PyTorch ≥ 1.6) read
// without running Python or anything in the file: the zip is opened by
// zip.ts, `data.pkl` is run by the safe unpickler (pickle.ts) against a fixed
// table of tensor rebuilders, and storages come from the zip's `data/<key>`
// entries. The result is a name → float32 tensor map, from:
//   - a state_dict (OrderedDict of tensors);
//   - a dict holding one under `ema`, `model` or `state_dict` (Ultralytics'
//     own order of preference: the EMA when saved);
//   - whole pickled modules (Ultralytics' DetectionModel, FP16): tensors are
//     harvested from the inert records' `_parameters` and `_buffers`, named by
//     their path through `_modules` (`model.22.cv2.0.0.conv.weight`).
import { readFileSync } from "node:fs";
import { KilnError } from "../errors.js";
import {
  describe, PickleError, PyDict, PyGlobal, PyObject, PySet, PyTuple, unpickle,
  type GlobalHandler, type PyOpaque, type PyValue,
} from "./pickle.js";
import { bfloat16ToFloat, halfToFloat, type Float32Tensor } from "./safetensors.js";
import { looksLikeZip, readZip, ZipError } from "./zip.js";

type StorageDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";
const STORAGE_DTYPES: Record<string, StorageDtype> = {
  DoubleStorage: "F64", FloatStorage: "F32", HalfStorage: "F16", BFloat16Storage: "BF16", LongStorage: "I64",
  IntStorage: "I32", ShortStorage: "I16", CharStorage: "I8", ByteStorage: "U8", BoolStorage: "BOOL",
};
const ELEMENT_BYTES: Record<StorageDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const DTYPE_NAMES = ["float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int", "int16", "int8", "uint8", "bool"];

interface TorchStorage extends PyOpaque {
  readonly kind: "storage";
  readonly dtype: StorageDtype;
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly numel: number;
}

interface TorchTensor extends PyOpaque {
  readonly kind: "tensor";
  readonly storage: TorchStorage;
  readonly offset: number;
  readonly size: number[];
  readonly stride: number[];
}

/** What else a checkpoint says about its model, when it says it (Ultralytics' class names, yaml, image size). */
export interface CheckpointInfo {
  /** "state_dict", "dict:<key>" or "module:<class>" (the pickled module's class). */
  readonly layout: string;
  readonly names?: string[];
  readonly nc?: number;
  readonly imgsz?: number;
}

export interface TorchCheckpoint {
  readonly tensors: Map<string, Float32Tensor>;
  readonly info: CheckpointInfo;
}

const isTensor = (v: PyValue | undefined): v is TorchTensor => typeof v === "object" && v !== null && (v as PyOpaque).kind === "tensor";
const ints = (v: PyValue, what: string, fail: (m: string) => never): number[] => {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : fail(`${what} is a ${describe(v)}, not a tuple of integers`);
  return items.map((d) => (typeof d === "number" && Number.isSafeInteger(d) && d >= 0 ? d : fail(`${what} holds ${describe(d)} ${String(d)}, not a non-negative integer`)));
};

function rebuildTensor(args: PyValue[], fail: (m: string) => never): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (typeof storage !== "object" || storage === null || (storage as PyOpaque).kind !== "storage") fail(`a tensor is rebuilt from a ${describe(storage)}, not a storage`);
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) fail(`a tensor's storage offset is ${String(offset)}`);
  const s = storage as TorchStorage;
  const dims = ints(size ?? null, "a tensor's size", fail), strides = ints(stride ?? null, "a tensor's stride", fail);
  if (dims.length !== strides.length) fail(`a tensor has size [${dims}] but stride [${strides}]`);
  const numel = dims.reduce((a, b) => a * b, 1);
  if (numel > 0) {
    const last = (offset as number) + dims.reduce((a, d, i) => a + (d - 1) * strides[i], 0);
    if (last >= s.numel) fail(`a tensor [${dims}] at offset ${offset} with stride [${strides}] reads element ${last} of storage ${s.key}, which holds ${s.numel}`);
  }
  return { kind: "tensor", storage: s, offset: offset as number, size: dims, stride: strides };
}

/** The fixed table: the only callables a checkpoint may REDUCE, each building a plain value. */
const HANDLERS: Map<string, GlobalHandler> = new Map<string, GlobalHandler>([
  ["torch._utils._rebuild_tensor_v2", rebuildTensor],
  ["torch._utils._rebuild_tensor", rebuildTensor],
  ["torch._utils._rebuild_parameter", (a, fail) => (isTensor(a[0]) ? a[0] : fail(`_rebuild_parameter of a ${describe(a[0])}`))],
  ["torch._utils._rebuild_parameter_with_state", (a, fail) => (isTensor(a[0]) ? a[0] : fail(`_rebuild_parameter_with_state of a ${describe(a[0])}`))],
  ["collections.OrderedDict", (a) => {
    const d = new PyDict();
    const pairs = a[0];
    if (Array.isArray(pairs)) for (const p of pairs) if (p instanceof PyTuple && typeof p.items[0] === "string") d.map.set(p.items[0], p.items[1]);
    return d;
  }],
  ["torch.Size", (a) => (a[0] instanceof PyTuple ? a[0] : new PyTuple(Array.isArray(a[0]) ? a[0] : []))],
  ["torch.device", (a) => String(a[0])],
  ["builtins.set", (a) => new PySet(Array.isArray(a[0]) ? a[0] : [])],
  ["builtins.frozenset", (a) => new PySet(Array.isArray(a[0]) ? a[0] : [])],
  ["builtins.slice", (a) => new PyTuple(a)],
  ["builtins.bytearray", (a) => (a[0] instanceof Uint8Array ? a[0] : new Uint8Array(0))],
  ["builtins.complex", (a) => new PyTuple(a)],
  ["_codecs.encode", (a) => (typeof a[0] === "string" ? Uint8Array.from(a[0], (c) => c.charCodeAt(0) & 0xff) : new Uint8Array(0))],
  ["torch._tensor._rebuild_from_type_v2", (a, fail): PyValue => {
    // (func, type, args, state): only a tensor rebuilder from this table may be named as func.
    const [fn, , args] = a;
    if (!(fn instanceof PyGlobal) || !(args instanceof PyTuple)) fail("_rebuild_from_type_v2 without a function and arguments");
    const handler: GlobalHandler | undefined = HANDLERS.get((fn as PyGlobal).qualified);
    if (!handler || !(fn as PyGlobal).qualified.startsWith("torch._utils._rebuild_")) fail(`_rebuild_from_type_v2 names ${(fn as PyGlobal).qualified}, which kiln does not run`);
    return handler!((args as PyTuple).items, fail);
  }],
]);
const CONSTANTS = new Set([
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
  ...DTYPE_NAMES.map((d) => `torch.${d}`),
  "torch.Tensor", "torch.nn.parameter.Parameter", "torch.storage.UntypedStorage",
]);
/** Classes Ultralytics and torch checkpoints pickle whole; they become inert records (nothing is imported). */
const INERT_MODULES = ["torch.", "ultralytics.", "numpy.", "collections", "argparse", "pathlib", "datetime", "types"];

/** True when the bytes look like the pre-1.6 PyTorch format (a bare pickle starting with its magic number). */
function isLegacyTorch(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x80 && bytes[1] <= 5;
}

/** Reads a PyTorch zip checkpoint file; every problem is a KilnError naming the file. */
export function readTorchCheckpoint(path: string): TorchCheckpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KilnError(`cannot read ${path}: ${(err as Error).message}. Fix: pass an existing .pt/.pth file.`);
  }
  return decodeTorchCheckpoint(bytes, path);
}

export function decodeTorchCheckpoint(bytes: Uint8Array, source: string): TorchCheckpoint {
  if (!looksLikeZip(bytes)) {
    if (isLegacyTorch(bytes)) {
      throw new KilnError(`${source} is in PyTorch's old (pre-1.6, non-zip) format, which kiln does not read. Fix: re-save it in PyTorch: ` +
        "torch.save(torch.load(path, weights_only=True), 'new.pt') (the zip format is the default since 1.6).");
    }
    throw new KilnError(`${source} is not a PyTorch checkpoint (no zip archive inside). Fix: pass a file written by torch.save, a .safetensors file, or a kiln checkpoint.`);
  }
  try {
    return decodeZipCheckpoint(bytes, source);
  } catch (err) {
    if (err instanceof ZipError || err instanceof PickleError) throw new KilnError(`cannot import ${err.message}`);
    throw err;
  }
}

function decodeZipCheckpoint(bytes: Uint8Array, source: string): TorchCheckpoint {
  const entries = readZip(bytes, source);
  const pkl = entries.find((e) => e.name.endsWith("/data.pkl") && e.name.split("/").length === 2);
  if (!pkl) throw new KilnError(`${source}: a zip archive without <folder>/data.pkl is not a PyTorch checkpoint`);
  const prefix = pkl.name.slice(0, -"data.pkl".length);
  const byName = new Map(entries.map((e) => [e.name, e.data]));
  const storages = new Map<string, TorchStorage>();

  const persistentLoad = (pid: PyValue, fail: (m: string) => never): PyValue => {
    if (!(pid instanceof PyTuple) || pid.items[0] !== "storage") fail(`a persistent id ${describe(pid)} that is not a tensor storage`);
    const [, type, key, , numel] = (pid as PyTuple).items;
    if (!(type instanceof PyGlobal) || !(type.name in STORAGE_DTYPES)) fail(`a storage of type ${describe(type)}, not one of torch.${Object.keys(STORAGE_DTYPES).join("/")}`);
    if (typeof key !== "string" || !/^[\w.-]+$/.test(key)) fail(`a storage key ${JSON.stringify(key)}`);
    const k = key as string;
    const dtype = STORAGE_DTYPES[(type as PyGlobal).name];
    const known = storages.get(k);
    if (known) return known;
    const data = byName.get(`${prefix}data/${k}`);
    if (!data) fail(`storage ${k} has no entry ${prefix}data/${k} in the archive`);
    const count = data!.length / ELEMENT_BYTES[dtype];
    if (!Number.isInteger(count) || (typeof numel === "number" && numel > count)) {
      fail(`storage ${k} declares ${String(numel)} ${dtype} elements but its entry holds ${data!.length} bytes`);
    }
    const s: TorchStorage = { kind: "storage", dtype, key: k, bytes: data!, numel: count };
    storages.set(k, s);
    return s;
  };

  const root = unpickle(pkl.data, { source, handlers: HANDLERS, constants: CONSTANTS, inertModules: INERT_MODULES, persistentLoad });
  return harvest(root, source);
}

/** Finds the weights in what the pickle built. */
function harvest(root: PyValue, source: string): TorchCheckpoint {
  if (root instanceof PyDict && [...root.map.values()].some(isTensor)) {
    return { tensors: tensorsOfDict(root, "", source), info: { layout: "state_dict" } };
  }
  if (root instanceof PyObject) return fromModule(root, "module", source);
  if (root instanceof PyDict) {
    for (const key of ["ema", "model", "state_dict", "model_state_dict", "net", "module"]) {
      const v = root.get(key);
      if (v instanceof PyDict && [...v.map.values()].some(isTensor)) {
        return { tensors: tensorsOfDict(v, "", source), info: { layout: `dict:${key}`, ...ultralyticsInfo(root, null) } };
      }
      if (v instanceof PyObject) {
        const found = fromModule(v, `dict:${key}`, source);
        return { tensors: found.tensors, info: { ...found.info, ...ultralyticsInfo(root, v) } };
      }
    }
    const keys = [...root.map.keys()].map(String).slice(0, 12).join(", ");
    throw new KilnError(`${source} holds a dict without weights kiln recognises (keys: ${keys}). Fix: save a state_dict, or a dict with it under "model", "state_dict" or "ema".`);
  }
  throw new KilnError(`${source} holds a ${describe(root)}, not a state_dict or a model. Fix: save model.state_dict() with torch.save.`);
}

function fromModule(module: PyObject, layout: string, source: string): TorchCheckpoint {
  const tensors = new Map<string, Float32Tensor>();
  const seen = new Set<PyObject>();
  const walk = (m: PyObject, prefix: string): void => {
    if (seen.has(m)) return;
    seen.add(m);
    const skip = m.attr("_non_persistent_buffers_set");
    const nonPersistent = new Set(skip instanceof PySet ? skip.items.map(String) : []);
    for (const group of ["_parameters", "_buffers"]) {
      const d = m.attr(group);
      if (!(d instanceof PyDict)) continue;
      for (const [k, v] of d.map) {
        if (v === null || (group === "_buffers" && nonPersistent.has(String(k)))) continue;
        if (!isTensor(v)) throw new KilnError(`${source}: ${prefix}${String(k)} in ${group} is a ${describe(v)}, not a tensor`);
        tensors.set(`${prefix}${String(k)}`, materialize(v, `${prefix}${String(k)}`, source));
      }
    }
    const children = m.attr("_modules");
    if (children instanceof PyDict) {
      for (const [k, child] of children.map) if (child instanceof PyObject) walk(child, `${prefix}${String(k)}.`);
    }
  };
  walk(module, "");
  if (tensors.size === 0) throw new KilnError(`${source}: the pickled ${module.cls.qualified} holds no parameters or buffers (not an nn.Module?)`);
  return { tensors, info: { layout: `${layout === "module" ? "module" : layout}:${module.cls.qualified}`, ...ultralyticsInfo(null, module) } };
}

/** Ultralytics keeps the class names on the model (`names`), nc in its `yaml`, and the image size in `train_args`. */
function ultralyticsInfo(ckpt: PyDict | null, model: PyObject | null): { names?: string[]; nc?: number; imgsz?: number } {
  const out: { names?: string[]; nc?: number; imgsz?: number } = {};
  const names = model?.attr("names");
  if (names instanceof PyDict) {
    const list = [...names.map].sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => String(v));
    if (list.length) out.names = list;
  } else if (Array.isArray(names)) out.names = names.map(String);
  const yaml = model?.attr("yaml");
  if (yaml instanceof PyDict && typeof yaml.get("nc") === "number") out.nc = yaml.get("nc") as number;
  const args = ckpt?.get("train_args");
  if (args instanceof PyDict && typeof args.get("imgsz") === "number") out.imgsz = args.get("imgsz") as number;
  return out;
}

function tensorsOfDict(d: PyDict, prefix: string, source: string): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  for (const [k, v] of d.map) {
    if (isTensor(v)) out.set(`${prefix}${String(k)}`, materialize(v, `${prefix}${String(k)}`, source));
  }
  return out;
}

/** The tensor's elements (by size, stride and offset into its storage) as float32. */
function materialize(t: TorchTensor, name: string, source: string): Float32Tensor {
  const { storage, size, stride, offset } = t;
  const n = size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const bytes = storage.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = elementReader(storage.dtype, view);
  if (!read) throw new KilnError(`${source}: tensor ${name} has dtype ${storage.dtype}, which kiln cannot read as float32`);
  const rank = size.length;
  const idx = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = read(at);
    // Advance the multi-index (row-major), moving `at` by the strides.
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      at += stride[d];
      if (idx[d] < size[d]) break;
      at -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return { shape: size, data: out };
}

function elementReader(dtype: StorageDtype, v: DataView): ((i: number) => number) | null {
  switch (dtype) {
    case "F32": return (i) => v.getFloat32(i * 4, true);
    case "F64": return (i) => v.getFloat64(i * 8, true);
    case "F16": return (i) => halfToFloat(v.getUint16(i * 2, true));
    case "BF16": return (i) => bfloat16ToFloat(v.getUint16(i * 2, true));
    case "I64": return (i) => Number(v.getBigInt64(i * 8, true));
    case "I32": return (i) => v.getInt32(i * 4, true);
    case "I16": return (i) => v.getInt16(i * 2, true);
    case "I8": return (i) => v.getInt8(i);
    case "U8": case "BOOL": return (i) => v.getUint8(i);
    default: return null;
  }
}
