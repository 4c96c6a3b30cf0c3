// ONNX export of a kiln model: fold BatchNorm into the convolutions, trace
// one forward pass (trace.ts), and for a detector append Ultralytics' output
// head in the graph: the three maps flattened and concatenated, DFL expectation
// over 16 bins, distances to boxes around the anchor points, × stride, as
// (B, 4 + nc, A) rows of cx, cy, w, h then the class sigmoids. `nms` adds
// ONNX NonMaxSuppression (class-aware) and a (K, 7) detections output.
import { randn, Rng, tidy, type Tensor } from "../../engine/index.js";
import type { AnyModule } from "../../nn/index.js";
import { YOLOv8 } from "../../models/yolo/yolov8.js";
import { makeAnchors } from "../../models/yolo/anchors.js";
import { OnnxGraph, ONNX_FLOAT, type Dim } from "./graph.js";
import { ExportError, traceModel } from "./trace.js";

export interface OnnxExportOptions {
  /** Input size [channels, height, width]. */
  input: [number, number, number];
  /** ONNX opset (default 17; 13 or more). */
  opset?: number;
  /** A free batch dimension (named "batch"). */
  dynamic?: boolean;
  /** Weights stored as float16 (cast to float32 in the graph; the file is about half the size). */
  half?: boolean;
  /** Detector only: NonMaxSuppression in the graph. */
  nms?: { conf: number; iou: number; maxDet: number };
  /** Written into the model's metadata_props (class names, image size…). */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

export interface OnnxExport {
  bytes: Uint8Array;
  /** Output names in order. */
  outputs: string[];
}

/** Exports `model` (a classifier, or a YOLOv8 detector). The model is fused in place: pass a copy you can spare. */
export function exportOnnx(model: AnyModule, options: OnnxExportOptions): OnnxExport {
  const opset = options.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new ExportError(`kiln: export: opset ${opset} is not supported (13 to 21)`);
  model.fuse();
  const g = new OnnxGraph(options.half ?? false);
  const batch: Dim = options.dynamic ? "batch" : 1;
  const [c, h, w] = options.input;
  const inputName = g.reserve("images");
  g.inputs.push({ name: inputName, elemType: ONNX_FLOAT, dims: [batch, c, h, w] });
  const outputs = tidy(() => {
    const x = randn([1, c, h, w], new Rng(0));
    const traced = traceModel(model, x, g, inputName, options.dynamic ?? false);
    if (model instanceof YOLOv8) return detectionHead(g, model, traced.outputs, traced.values, batch, options.nms);
    if (traced.outputs.length !== 1) throw new ExportError("kiln: export: a classifier must have one output");
    const out = g.node("Identity", [traced.outputs[0]], {}, [g.reserve("output0")]);
    g.outputs.push({ name: out, elemType: ONNX_FLOAT, dims: [batch, ...traced.values[0].shape.slice(1)] });
    return [out];
  });
  const bytes = g.encode({ opset, producerVersion: options.producerVersion ?? "0", graphName: "kiln", metadata: options.metadata });
  return { bytes, outputs };
}

function detectionHead(g: OnnxGraph, model: YOLOv8, maps: string[], values: Tensor[], batch: Dim, nms: OnnxExportOptions["nms"]): string[] {
  const regMax = model.detect.regMax, nc = model.nc, no = 4 * regMax + nc;
  const b = batch === 1 ? 1 : 0; // Reshape's 0 copies the (dynamic) batch
  const sizes = values.map((v) => [v.shape[2], v.shape[3]] as const);
  const anchors = makeAnchors(sizes, model.detect.strides);
  const A = anchors.count;
  const flat = maps.map((m, i) => g.node("Reshape", [m, g.int64s([b, no, sizes[i][0] * sizes[i][1]])]));
  const all = g.node("Concat", flat, { axis: 2 }); // [B, no, A]
  const slice = (x: string, start: number, end: number, axis: number): string => g.node("Slice", [x, g.int64s([start]), g.int64s([end]), g.int64s([axis])]);
  const boxLogits = g.node("Reshape", [slice(all, 0, 4 * regMax, 1), g.int64s([b, 4, regMax, A])]);
  const probs = g.node("Softmax", [boxLogits], { axis: 2 });
  const bins = g.constFloats(Float32Array.from({ length: regMax }, (_, i) => i), [1, 1, regMax, 1]);
  const dist = g.node("ReduceSum", [g.node("Mul", [probs, bins]), g.int64s([2])], { keepdims: 0 }); // [B, 4, A]
  const points = new Float32Array(2 * A), strides = new Float32Array(A);
  for (let a = 0; a < A; a++) {
    points[a] = anchors.points[2 * a];
    points[A + a] = anchors.points[2 * a + 1];
    strides[a] = anchors.strides[a];
  }
  const anchorPts = g.constFloats(points, [1, 2, A]);
  const stride = g.constFloats(strides, [1, 1, A]);
  const x1y1 = g.node("Sub", [anchorPts, slice(dist, 0, 2, 1)]);
  const x2y2 = g.node("Add", [anchorPts, slice(dist, 2, 4, 1)]);
  const centre = g.node("Mul", [g.node("Add", [x1y1, x2y2]), g.constFloats([0.5], [])]);
  const wh = g.node("Sub", [x2y2, x1y1]);
  const boxes = g.node("Mul", [g.node("Concat", [centre, wh], { axis: 1 }), stride]); // [B, 4, A] cx cy w h
  const scores = g.node("Sigmoid", [slice(all, 4 * regMax, no, 1)]); // [B, nc, A]
  const out = g.node("Concat", [boxes, scores], { axis: 1 }, [g.reserve("output0")]);
  g.outputs.push({ name: out, elemType: ONNX_FLOAT, dims: [batch, 4 + nc, A] });
  if (!nms) return [out];

  // NonMaxSuppression over centre-format boxes [B, A, 4] and scores [B, nc, A] → selected (batch, class, box) [K, 3].
  const boxesT = g.node("Transpose", [boxes], { perm: [0, 2, 1] });
  const selected = g.node("NonMaxSuppression", [boxesT, scores, g.int64s([nms.maxDet]), g.constFloats([nms.iou], [1]), g.constFloats([nms.conf], [1])],
    { center_point_box: 1 });
  const xyxy = g.node("Transpose", [g.node("Mul", [g.node("Concat", [x1y1, x2y2], { axis: 1 }), stride])], { perm: [0, 2, 1] }); // [B, A, 4]
  const col = (i: number): string => slice(selected, i, i + 1, 1); // [K, 1]
  const batchBox = g.node("Concat", [col(0), col(2)], { axis: 1 });
  const picked = g.node("GatherND", [xyxy, batchBox]); // [K, 4]
  const conf = g.node("Unsqueeze", [g.node("GatherND", [scores, selected]), g.int64s([1])]); // [K, 1]
  const asFloat = (s: string): string => g.node("Cast", [s], { to: { int: ONNX_FLOAT } });
  const dets = g.node("Concat", [asFloat(col(0)), picked, conf, asFloat(col(1))], { axis: 1 }, [g.reserve("detections")]);
  g.outputs.push({ name: dets, elemType: ONNX_FLOAT, dims: ["detections", 7] });
  return [out, dets];
}
