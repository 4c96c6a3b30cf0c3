// A small CNN's full training step against PyTorch: from the same initial
// parameters and batch, 3 SGD steps (momentum 0.9, weight decay 5e-4, lr 0.01)
// must leave every parameter and buffer where PyTorch's do; a Conv-BN-ReLU
// variant does the same with SGD, Nesterov, Adam and AdamW
// (test/fixtures/training.safetensors, made by generate.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { crossEntropy, flatten, fromData, maxPool2d, relu, Rng, setBackend, tidy, type Tensor } from "../src/engine/index.js";
import { BatchNorm2d, Conv2d, Linear, Module } from "../src/nn/index.js";
import { Adam, AdamW, SGD } from "../src/optim/index.js";
import { mnistCnn } from "../src/models/index.js";
import { FixtureFile } from "./helpers/fixtures.js";
import { assertClose } from "./helpers/compare.js";
import { hashUniform } from "./helpers/hash-init.js";

/**
 * Parameters and buffers after the steps, max|kiln − torch| / max|torch| per tensor:
 * the 1e-5 relative. The fixture is the float64 answer; PyTorch's own float32
 * run lands within 1.7e-7 of it with SGD and 7e-7 with Adam (torch_f32_err). The 3 steps
 * move every tensor by 1e-3 to 1e-1 of its scale, so a gradient wrong by more than about
 * 1% fails.
 */
const STATE_TOLERANCE = 1e-5;
/** The mean cross-entropy over 16 images of 10 classes: a few float32 sums (see torch-fixtures.test.ts). */
const LOSS_TOLERANCE = 1e-5;

/**
 * generate.py's MnistCnn(bn=True): mnist_cnn with Conv-BN-ReLU, narrowed to
 * 8/16/32 channels to keep its fixture small.
 */
class MnistCnnBn extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor() {
    super();
    const rng = new Rng(0); // overwritten by the fixture's initialisation
    this.conv1 = this.registerModule("conv1", new Conv2d(1, 8, 3, { padding: 1, bias: false, rng }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(8));
    this.conv2 = this.registerModule("conv2", new Conv2d(8, 16, 3, { padding: 1, bias: false, rng }));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(16));
    this.fc1 = this.registerModule("fc1", new Linear(16 * 7 * 7, 32, { rng }));
    this.fc2 = this.registerModule("fc2", new Linear(32, 10, { rng }));
  }

  forward(x: Tensor): Tensor {
    let y = maxPool2d(relu(this.bn1.forward(this.conv1.forward(x))), { kernelSize: 2 });
    y = maxPool2d(relu(this.bn2.forward(this.conv2.forward(y))), { kernelSize: 2 });
    return this.fc2.forward(relu(this.fc1.forward(flatten(y, 1))));
  }
}

/** Fixture model name → the kiln model. */
const MODELS: Record<string, () => Module> = {
  mnist_cnn: () => mnistCnn({ nc: 10 }),
  mnist_cnn_bn: () => new MnistCnnBn(),
};

/** An optimizer as generate.py records it, by PyTorch's argument names. */
interface OptimizerSpec {
  name: string;
  lr: number;
  weight_decay: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  betas?: [number, number];
  eps?: number;
}

/** Fixture optimizer name → kiln's. */
const OPTIMIZERS: Record<string, (params: Tensor[], o: OptimizerSpec) => { step(): void; zeroGrad(): void }> = {
  sgd: (params, o) => new SGD(params, { lr: o.lr, momentum: o.momentum, dampening: o.dampening, weightDecay: o.weight_decay,
    nesterov: o.nesterov }),
  adam: (params, o) => new Adam(params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay }),
  adamw: (params, o) => new AdamW(params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay }),
};

interface TrainingCase {
  model: string;
  init: Record<string, { seed: number; lo: number; hi: number }>;
  optimizer: OptimizerSpec;
  steps: number;
}

const fixtures = new FixtureFile("training");

function checkTraining(name: string): void {
  const c = fixtures.meta<TrainingCase>(name);
  const build = MODELS[c.model];
  assert.ok(build, `training.safetensors has model "${c.model}" but the test cannot build it: add it to MODELS`);
  const makeOptimizer = OPTIMIZERS[c.optimizer.name];
  assert.ok(makeOptimizer, `training.safetensors has optimizer "${c.optimizer.name}" but the test has no kiln one: add it to OPTIMIZERS`);
  const model = build();
  try {
    const params = new Map(model.namedParameters());
    assert.deepEqual([...params.keys()].sort(), Object.keys(c.init).sort(), `${name}: kiln's parameter names differ from PyTorch's`);
    for (const [key, s] of Object.entries(c.init)) {
      const p = params.get(key)!;
      p.data.set(hashUniform(p.numel, s.seed, s.lo, s.hi));
    }
    const x = fixtures.tensor(`${name}.in.x`);
    const targets = fixtures.ints(`${name}.in.targets`);
    const optimizer = makeOptimizer(model.parameters(), c.optimizer);
    model.train();
    const losses: number[] = [];
    for (let step = 0; step < c.steps; step++) {
      losses.push(tidy(() => {
        const loss = crossEntropy(model.forward(fromData(x.data.slice(), x.shape)), targets);
        loss.backward();
        optimizer.step();
        optimizer.zeroGrad();
        return loss.item();
      }));
    }
    assertClose(`${name} losses`, { shape: [losses.length], data: Float32Array.from(losses) },
      fixtures.tensor(`${name}.losses`), LOSS_TOLERANCE);

    const state = model.stateDict();
    const expected = fixtures.names(`${name}.final.`);
    assert.deepEqual([...state.keys()].sort(), expected, `${name}: kiln's state-dict names differ from PyTorch's`);
    for (const key of expected) {
      assertClose(`${name} ${key} after ${c.steps} steps`, state.get(key)!, fixtures.tensor(`${name}.final.${key}`), STATE_TOLERANCE);
    }
  } finally {
    model.dispose();
  }
}

// Both backends: the reference one's optimizer and kernels then meet PyTorch end
// to end too (mnist_cnn takes about 3 s there).
for (const backend of ["native", "reference"] as const) {
  for (const name of fixtures.cases()) {
    test(`${backend}: ${name} after 3 optimizer steps equals PyTorch's within 1e-5`, () => {
      setBackend(backend);
      checkTraining(name);
    });
  }
}
