// An ONNX graph under construction and its encoding as a ModelProto
// (onnx/onnx.proto: ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto; field numbers from that file).
import { floatToHalf } from "../safetensors.js";
import { ProtoWriter } from "../protobuf.js";

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;
export const ONNX_FLOAT16 = 10;

export type AttrValue = number | string | readonly number[] | { float: number } | { floats: readonly number[] } | { int: number };

interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Record<string, AttrValue>;
}

interface Initializer {
  name: string;
  dims: readonly number[];
  type: number;
  raw: Uint8Array;
}

/** A dimension: a size, or a symbolic name (a dynamic axis). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: number;
  dims: readonly Dim[];
}

export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  private readonly used = new Set<string>();

  /** Stores float weights as float16 (each followed by a Cast to float, so the graph computes in float32). */
  constructor(readonly halfWeights = false) {}

  /** A fresh value name with the given stem. */
  fresh(stem: string): string {
    let name = `${stem}_${this.counter++}`;
    while (this.used.has(name)) name = `${stem}_${this.counter++}`;
    this.used.add(name);
    return name;
  }

  /** Reserves an exact name (inputs, outputs, parameter names). */
  reserve(name: string): string {
    this.used.add(name);
    return name;
  }

  /** Adds a node; returns its first output's name. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs?: string[]): string {
    const outs = outputs ?? [this.fresh(op.toLowerCase())];
    this.nodes.push({ op, inputs, outputs: outs, name: this.fresh(`n_${op}`), attrs });
    return outs[0];
  }

  /** A float32 constant (a weight): float16 on disk with a Cast when halfWeights. Returns the name to use. */
  floats(name: string, data: Float32Array, dims: readonly number[]): string {
    const stored = this.reserve(this.halfWeights ? `${name}_f16` : name);
    if (!this.halfWeights) {
      this.initializers.push({ name: stored, dims, type: ONNX_FLOAT, raw: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
      return stored;
    }
    const raw = new Uint8Array(data.length * 2);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setUint16(2 * i, floatToHalf(data[i]), true);
    this.initializers.push({ name: stored, dims, type: ONNX_FLOAT16, raw });
    return this.node("Cast", [stored], { to: { int: ONNX_FLOAT } }, [this.reserve(name)]);
  }

  /** An int64 constant (shapes, axes, indices). */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh("i64");
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
    this.initializers.push({ name, dims, type: ONNX_INT64, raw });
    return name;
  }

  /** A float32 constant that is not a weight (never halved). */
  constFloats(values: Float32Array | readonly number[], dims: readonly number[]): string {
    const name = this.fresh("f32");
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    this.initializers.push({ name, dims, type: ONNX_FLOAT, raw: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
    return name;
  }

  /** Serialises the graph as an ONNX ModelProto. */
  encode(opts: { opset: number; producerVersion: string; graphName: string; docString?: string; metadata?: Record<string, string> }): Uint8Array {
    const graph = new ProtoWriter();
    for (const n of this.nodes) graph.message(1, encodeNode(n));
    graph.string(2, opts.graphName);
    for (const t of this.initializers) graph.message(5, encodeTensor(t));
    for (const v of this.inputs) graph.message(11, encodeValueInfo(v));
    for (const v of this.outputs) graph.message(12, encodeValueInfo(v));
    const model = new ProtoWriter();
    // IR version 8 goes with opsets 14–18; onnxruntime reads it.
    model.varint(1, opts.opset >= 19 ? 9 : 8);
    model.string(2, "kiln");
    model.string(3, opts.producerVersion);
    if (opts.docString) model.string(6, opts.docString);
    model.message(7, graph);
    model.message(8, new ProtoWriter().string(1, "").varint(2, opts.opset));
    for (const [k, v] of Object.entries(opts.metadata ?? {})) model.message(14, new ProtoWriter().string(1, k).string(2, v));
    return model.finish();
  }
}

function encodeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs)) w.message(5, encodeAttr(k, v));
  return w;
}

// AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
function encodeAttr(name: string, v: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof v === "string") return w.string(4, v).varint(20, 3);
  if (typeof v === "number") return Number.isInteger(v) ? w.varint(3, v).varint(20, 2) : w.float(2, v).varint(20, 1);
  if (Array.isArray(v)) return w.varints(8, v as number[]).varint(20, 7);
  if ("float" in v) return w.float(2, v.float).varint(20, 1);
  if ("int" in v) return w.varint(3, v.int).varint(20, 2);
  for (const f of (v as { floats: readonly number[] }).floats) w.float(7, f);
  return w.varint(20, 6);
}

// TensorProto: dims 1, data_type 2, name 8, raw_data 9.
function encodeTensor(t: Initializer): ProtoWriter {
  return new ProtoWriter().varints(1, t.dims).varint(2, t.type).string(8, t.name).bytes(9, t.raw);
}

// ValueInfoProto{name 1, type 2: TypeProto{tensor_type 1: {elem_type 1, shape 2: {dim 1: {dim_value 1 | dim_param 2}}}}}.
function encodeValueInfo(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) shape.message(1, typeof d === "number" ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, v.elemType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}
