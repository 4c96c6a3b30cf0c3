// State-dict names, shapes and parameter counts of every model against
// PyTorch's. The constants were computed by hand with Debian's PyTorch 1.13 /
// torchvision 0.14 (/usr/bin/python3), hashing one "name shape\n" line per
// state-dict entry ("x"-joined shape, "" for scalars) in state_dict() order:
//   m = torchvision.models.resnet18(num_classes=10); sd = m.state_dict()
//   lines = "".join(f"{k} {'x'.join(map(str, v.shape))}\n" for k, v in sd.items())
//   len(sd), sum(p.numel() for p in m.parameters()), hashlib.sha256(lines.encode()).hexdigest()
// mnist_cnn: the same over the reference network written in PyTorch
// (conv1, conv2, fc1, fc2). yolov8n nc=3: the same over the 355 names and shapes
// of the real Ultralytics checkpoint's keys.json (../shared/data/ultralytics-yolov8n-rects),
// parameters = the entries that are not running stats or counters. yolov8 nc=80:
// Ultralytics' published parameter counts (yolov8n 3,157,200; s 11,166,560; m 25,902,640).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { randn, Rng } from "../src/engine/index.js";
import { createModel, type ModelName } from "../src/models/index.js";
import { BatchNorm2d, type Module } from "../src/nn/index.js";

const PYTORCH: [ModelName, number, number, number, string][] = [
  ["resnet18", 10, 122, 11181642, "7932d3f0ccd2f45a6f309bcc6ef0dc6aabfdc7b9d19f86be51a51cee94d7c9b6"],
  ["resnet18", 1000, 122, 11689512, "621ab29f1ec64cb2ede5955c705c37d04b0b339b10d7438ce04ff651eeb20f40"],
  ["resnet34", 10, 218, 21289802, "540cfba97ed2fb23f7ec9bf79f6da03e0c71c071ee043890461b958f14b78647"],
  ["resnet50", 10, 320, 23528522, "53ecb968be660a31dc03fed313d8bdf96300c35a662fa4f1016fc559cbcb4fac"],
  ["resnet50", 1000, 320, 25557032, "f597b4313ecfa83398602f93569c7cd9cf9f74aa12db671dbcaace0370be44b2"],
  ["mobilenet_v2", 10, 314, 2236682, "c8e520ae1fcf712c10b36749986ace85b58957450f94191f8b9080cb9db202d8"],
  ["mobilenet_v2", 1000, 314, 3504872, "f01be8f41ed95aaf57f79d9ded0636f4dc5d0bb8ec965af0f636c8972f7b60e6"],
  ["mnist_cnn", 10, 8, 421642, "772e36cc3927a769a14fde7e46e071608251e665584d478a218ef94f75bce47f"],
  ["yolov8n", 3, 355, 3011433, "a75a313fefddf8f3ea84a3bc37e459b4f2c5081ad0775d7ac89802da0ff21c92"],
];

const ULTRALYTICS_PARAMS: [ModelName, number][] = [["yolov8n", 3157200], ["yolov8s", 11166560], ["yolov8m", 25902640]];

function signature(model: Module<never, unknown>): { entries: number; params: number; hash: string; lines: string } {
  const sd = model.stateDict();
  const lines = [...sd].map(([k, v]) => `${k} ${v.shape.join("x")}\n`).join("");
  return { entries: sd.size, params: model.numParameters(), hash: createHash("sha256").update(lines).digest("hex"), lines };
}

for (const [name, nc, entries, params, hash] of PYTORCH) {
  test(`${name} (nc=${nc}) has PyTorch's state-dict names, shapes and parameter count`, () => {
    const model = createModel(name, { nc, rng: new Rng(1) });
    const sig = signature(model);
    assert.equal(sig.entries, entries);
    assert.equal(sig.params, params);
    assert.equal(sig.hash, hash, `names or shapes differ from PyTorch's; kiln's list:\n${sig.lines}`);
    model.dispose();
  });
}

for (const [name, params] of ULTRALYTICS_PARAMS) {
  test(`${name} (nc=80) has Ultralytics' parameter count`, () => {
    const model = createModel(name, { nc: 80, rng: new Rng(1) });
    assert.equal(model.numParameters(), params);
    model.dispose();
  });
}

test("spot checks of names against torchvision and Ultralytics", () => {
  const keys = (name: ModelName, nc: number): string[] => [...createModel(name, { nc, rng: new Rng(1) }).stateDict().keys()];
  const r18 = keys("resnet18", 10);
  assert.deepEqual(r18.slice(0, 7), ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight"]);
  assert.ok(r18.includes("layer2.0.downsample.0.weight") && r18.includes("layer2.0.downsample.1.running_var"));
  assert.deepEqual(r18.slice(-2), ["fc.weight", "fc.bias"]);
  const mb = keys("mobilenet_v2", 10);
  assert.deepEqual(mb.slice(0, 2), ["features.0.0.weight", "features.0.1.weight"]);
  assert.ok(mb.includes("features.1.conv.0.0.weight") && mb.includes("features.1.conv.1.weight") && mb.includes("features.2.conv.3.running_mean"));
  assert.deepEqual(mb.slice(-2), ["classifier.1.weight", "classifier.1.bias"]);
  const yolo = keys("yolov8n", 80);
  assert.equal(yolo[0], "model.0.conv.weight");
  assert.ok(yolo.includes("model.2.m.0.cv1.conv.weight") && yolo.includes("model.9.cv2.bn.num_batches_tracked"));
  assert.ok(yolo.includes("model.22.cv2.0.0.conv.weight") && yolo.includes("model.22.cv3.2.2.bias"));
  assert.equal(yolo[yolo.length - 1], "model.22.dfl.conv.weight");
});

test("num_batches_tracked is a shape-[] float counting training batches only", () => {
  const bn = new BatchNorm2d(3);
  assert.deepEqual(bn.stateDict().get("num_batches_tracked")!.shape, []);
  const x = randn([2, 3, 2, 2], new Rng(0));
  bn.forward(x);
  bn.forward(x);
  bn.eval().forward(x);
  assert.equal(bn.numBatchesTracked.item(), 2);
});
