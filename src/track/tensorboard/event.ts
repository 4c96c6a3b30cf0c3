// TensorBoard's Event and Summary messages (tensorboard/compat/proto/event.proto,
// summary.proto, tensor.proto), encoded with kiln's protobuf writer. Only the
// fields kiln writes are named here.

import { ProtoWriter } from "../../io/protobuf.js";

export const FILE_VERSION = "brain.Event:2";

// Field numbers, from the .proto files.
const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5, sourceMetadata: 10 } as const;
const SUMMARY_VALUE = 1;
const VALUE = { tag: 1, simpleValue: 2, tensor: 8, metadata: 9 } as const;
const METADATA = { pluginData: 1, dataClass: 4 } as const;
const PLUGIN_NAME = 1;
const TENSOR = { dtype: 1, shape: 2, stringVal: 8 } as const;
const SHAPE_DIM = 2;
const DIM_SIZE = 1;
const DT_STRING = 7;
const DATA_CLASS_TENSOR = 2;

/** First record of every event file: TensorBoard checks the version before reading on. */
export function fileVersionEvent(wallTimeSec: number): Uint8Array {
  return new ProtoWriter()
    .double(EVENT.wallTime, wallTimeSec)
    .string(EVENT.fileVersion, FILE_VERSION)
    .message(EVENT.sourceMetadata, new ProtoWriter().string(1, "kiln"))
    .finish();
}

/**
 * Scalars as legacy `simple_value`s: TensorBoard migrates them to rank-0
 * float tensors when it loads them (formats.md §4), and they cost no metadata.
 */
export function scalarsEvent(wallTimeSec: number, step: number, scalars: Record<string, number>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(scalars)) {
    summary.message(SUMMARY_VALUE, new ProtoWriter().string(VALUE.tag, tag).float(VALUE.simpleValue, value));
  }
  return summaryEvent(wallTimeSec, step, summary);
}

/** Markdown for the text plugin: a rank-1 DT_STRING tensor with plugin "text". */
export function textEvent(wallTimeSec: number, step: number, tag: string, markdown: string): Uint8Array {
  const metadata = new ProtoWriter()
    .message(METADATA.pluginData, new ProtoWriter().string(PLUGIN_NAME, "text"))
    .varint(METADATA.dataClass, DATA_CLASS_TENSOR);
  const tensor = new ProtoWriter()
    .varint(TENSOR.dtype, DT_STRING)
    .message(TENSOR.shape, new ProtoWriter().message(SHAPE_DIM, new ProtoWriter().varint(DIM_SIZE, 1)))
    .string(TENSOR.stringVal, markdown);
  const value = new ProtoWriter().string(VALUE.tag, tag).message(VALUE.metadata, metadata).message(VALUE.tensor, tensor);
  return summaryEvent(wallTimeSec, step, new ProtoWriter().message(SUMMARY_VALUE, value));
}

function summaryEvent(wallTimeSec: number, step: number, summary: ProtoWriter): Uint8Array {
  const event = new ProtoWriter().double(EVENT.wallTime, wallTimeSec);
  const s = Math.round(step); // int64 on the wire
  if (s !== 0) event.varint(EVENT.step, s); // proto3 leaves defaults out
  return event.message(EVENT.summary, summary).finish();
}
