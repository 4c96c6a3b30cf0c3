// A minimal protobuf writer for the formats kiln writes itself (TensorBoard
// events, ONNX models): varint, 64-bit, length-delimited and 32-bit fields,
// rather than a protobuf runtime for a handful of fields. A message is a list
// of chunks, so multi-megabyte tensors are never copied into a growing array.

// Wire types: the low three bits of each field key.
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const utf8 = new TextEncoder();

/** Builds one message; nested messages are built separately and added with `message()`. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  /** int32/int64/uint64/enum/bool; negatives take ten bytes (two's complement), as protobuf requires. */
  varint(field: number, value: number | bigint | boolean): this {
    this.key(field, VARINT);
    this.rawVarint(typeof value === "boolean" ? (value ? 1n : 0n) : BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  double(field: number, value: number): this {
    this.key(field, FIXED64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    return this.push(b);
  }

  float(field: number, value: number): this {
    this.key(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.push(b);
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, LENGTH_DELIMITED);
    this.rawVarint(BigInt(value.length));
    return this.push(value);
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A nested message: its chunks are moved over, not copied into one array first. */
  message(field: number, value: ProtoWriter): this {
    this.key(field, LENGTH_DELIMITED);
    this.rawVarint(BigInt(value.size));
    for (const c of value.chunks) this.push(c);
    return this;
  }

  /** Repeated integers, one field each (unpacked, as ONNX's proto2 dims and ints are declared). */
  varints(field: number, values: readonly (number | bigint)[]): this {
    for (const v of values) this.varint(field, v);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  private key(field: number, wire: number): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new RangeError(`protobuf field number ${field}`);
    this.rawVarint(BigInt(field) * 8n + BigInt(wire));
  }

  private rawVarint(v: bigint): void {
    const b: number[] = [];
    while (v > 0x7fn) {
      b.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    b.push(Number(v));
    this.push(Uint8Array.from(b));
  }

  private push(b: Uint8Array): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }
}
