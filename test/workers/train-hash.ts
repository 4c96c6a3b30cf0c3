// Child-process worker for the determinism test: runs a few seeded SGD steps
// of each model and prints a SHA-256 of every parameter and buffer. Does
// nothing unless KILN_WORKER=train-hash (the test runner loads every file
// under test/).
import { createHash } from "node:crypto";
import { crossEntropy, manualSeed, randn, Rng, tidy } from "../../src/engine/index.js";
import { mobilenetV2, resnet18 } from "../../src/models/index.js";
import type { Module } from "../../src/nn/index.js";
import type { Tensor } from "../../src/engine/index.js";
import { SGD } from "../../src/optim/index.js";

function trainHash(model: Module<[Tensor], Tensor>, batch: number, size: number, steps: number): string {
  const rng = new Rng(7);
  const x = randn([batch, 3, size, size], rng);
  const targets = Int32Array.from({ length: batch }, (_, i) => (i * 3) % 10);
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  model.train();
  for (let s = 0; s < steps; s++) {
    tidy(() => {
      const loss = crossEntropy(model.forward(x), targets);
      loss.backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  const h = createHash("sha256");
  for (const [name, t] of [...model.namedParameters(), ...model.namedBuffers()]) {
    h.update(name);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest("hex");
}

if (process.env.KILN_WORKER === "train-hash") {
  manualSeed(1);
  const resnet = trainHash(resnet18({ nc: 10 }), 4, 32, 3);
  const mobilenet = trainHash(mobilenetV2({ nc: 10 }), 4, 32, 2);
  console.log(JSON.stringify({ resnet, mobilenet }));
}
