// The few protobuf encodings ONNX needs, by hand (the wire format is small):
// varints (int32/int64/enums), length-delimited fields (strings, bytes,
// nested messages, packed repeated ints) and fixed32 floats. A message is
// built as a list of chunks, so multi-megabyte tensors are never copied into
// one growing array.

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private varint(v: number | bigint): void {
    // Negative int64 values are ten bytes of two's complement, as protobuf requires.
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  /** int32, int64, enum or bool. */
  int(field: number, v: number | bigint | boolean): this {
    this.tag(field, 0);
    this.varint(typeof v === "boolean" ? (v ? 1 : 0) : v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    this.tag(field, 2);
    this.varint(m.size);
    for (const c of m.chunks) this.push(c);
    return this;
  }

  /** Repeated integers, one field each (ONNX's dims and ints are declared unpacked in proto2). */
  ints(field: number, vs: readonly (number | bigint)[]): this {
    for (const v of vs) this.int(field, v);
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
}
