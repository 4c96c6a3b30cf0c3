// Scalars out of a growing TensorBoard event file: TFRecord frames (u64
// length, masked CRC, data, masked CRC) holding Event messages whose Summary
// values carry a tag and a simple_value. Only whole, intact records are
// decoded; a record still being written waits for the next read.
import { maskedCrc32c } from "../track/tensorboard/crc32c.js";
import { ByteTail } from "./tail.js";

export interface Scalar { tag: string; step: number; value: number; wallTime: number }

// Field numbers of tensorboard/compat/proto/event.proto and summary.proto.
const EVENT_WALL_TIME = 1;
const EVENT_STEP = 2;
const EVENT_SUMMARY = 5;
const SUMMARY_VALUE = 1;
const VALUE_TAG = 1;
const VALUE_SIMPLE = 2;

interface Field { no: number; wire: number; varint: number; bytes: Uint8Array | null; at: number }

/** Iterates the fields of one protobuf message (varint, 64-bit, length-delimited, 32-bit). */
function* fields(buf: Uint8Array): Generator<Field> {
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (i >= buf.length) throw new Error("truncated varint");
      const b = buf[i++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    const at = i;
    if (wire === 0) yield { no, wire, varint: varint(), bytes: null, at };
    else if (wire === 1) {
      if (i + 8 > buf.length) throw new Error("truncated fixed64");
      i += 8;
      yield { no, wire, varint: 0, bytes: null, at };
    } else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new Error("truncated bytes");
      const bytes = buf.subarray(i, i + len);
      i += len;
      yield { no, wire, varint: 0, bytes, at };
    } else if (wire === 5) {
      if (i + 4 > buf.length) throw new Error("truncated fixed32");
      i += 4;
      yield { no, wire, varint: 0, bytes: null, at };
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** The scalar values of one serialized Event (none for the version record or text summaries). */
export function decodeEventScalars(data: Uint8Array): Scalar[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let wallTime = 0;
  let step = 0;
  const values: { tag: string; value: number }[] = [];
  for (const f of fields(data)) {
    if (f.no === EVENT_WALL_TIME && f.wire === 1) wallTime = view.getFloat64(f.at, true);
    else if (f.no === EVENT_STEP && f.wire === 0) step = f.varint;
    else if (f.no === EVENT_SUMMARY && f.bytes) {
      for (const v of fields(f.bytes)) {
        if (v.no !== SUMMARY_VALUE || !v.bytes) continue;
        const valueView = new DataView(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength);
        let tag: string | null = null;
        let value: number | null = null;
        for (const x of fields(v.bytes)) {
          if (x.no === VALUE_TAG && x.bytes) tag = Buffer.from(x.bytes).toString("utf8");
          else if (x.no === VALUE_SIMPLE && x.wire === 5) value = valueView.getFloat32(x.at, true);
        }
        if (tag !== null && value !== null) values.push({ tag, value });
      }
    }
  }
  return values.map((v) => ({ ...v, step, wallTime }));
}

/** Follows one event file; each read returns the scalars of the records completed since the last. */
export class EventFileTail {
  private readonly tail: ByteTail;
  private pending: Buffer = Buffer.alloc(0);
  private broken = false;

  constructor(readonly path: string) {
    this.tail = new ByteTail(path);
  }

  read(): { scalars: Scalar[]; reset: boolean } {
    const chunk = this.tail.read();
    if (chunk === null) return { scalars: [], reset: false };
    if (chunk.reset) {
      this.pending = Buffer.alloc(0);
      this.broken = false;
    }
    if (this.broken) return { scalars: [], reset: chunk.reset };
    let buf = chunk.bytes.length ? Buffer.concat([this.pending, chunk.bytes]) : this.pending;
    const scalars: Scalar[] = [];
    while (buf.length >= 12) {
      const len = Number(buf.readBigUInt64LE(0));
      // TensorBoard too stops at the first damaged record: nothing after it can be trusted.
      if (buf.readUInt32LE(8) !== maskedCrc32c(buf.subarray(0, 8))) {
        this.broken = true;
        break;
      }
      if (buf.length < 16 + len) break;
      const data = buf.subarray(12, 12 + len);
      if (buf.readUInt32LE(12 + len) !== maskedCrc32c(data)) {
        this.broken = true;
        break;
      }
      try {
        scalars.push(...decodeEventScalars(data));
      } catch {
        // A message kiln cannot decode is skipped, as TensorBoard skips unknown plugins.
      }
      buf = buf.subarray(16 + len);
    }
    this.pending = Buffer.from(buf);
    return { scalars, reset: chunk.reset };
  }
}
