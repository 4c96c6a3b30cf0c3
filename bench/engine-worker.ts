// One fresh kiln process of the engine benchmark: warm-up steps, then timed
// training steps of one case; prints one JSON line. Run by bench/engine.ts.
import { parseArgs } from "node:util";
import { Rng, kernels, randn, tidy } from "../src/engine/index.js";
import { SGD } from "../src/optim/index.js";
import { ENGINE_CASES } from "./engine-cases.js";
import { median, intFlag } from "./stats.js";

export interface WorkerResult {
  case: string;
  images_per_s: number;
  step_ms: number;
  peak_rss_mb: number;
  threads: number;
  isa: string;
  backend: string;
  /** Parameter count: the same architecture gives PyTorch's. */
  params: number;
  loss: number;
}

function main(): void {
  const { values } = parseArgs({
    options: { case: { type: "string" }, steps: { type: "string" }, warmup: { type: "string" } },
    strict: true,
  });
  const name = values.case ?? "";
  const c = ENGINE_CASES[name];
  if (!c) throw new Error(`unknown case "${name}"`);
  const steps = intFlag("--steps", values.steps, c.steps);
  const warmup = intFlag("--warmup", values.warmup, 3, 0);

  const rng = new Rng(0);
  const { model, forwardLoss } = c.build();
  const x = randn([c.batch, ...c.input], rng);
  const targets = Int32Array.from({ length: c.batch }, () => rng.nextUint32() % c.classes);
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  model.train();

  // The training step a user writes.
  const step = (): number => tidy(() => {
    const loss = forwardLoss(x, targets);
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return loss.item();
  });

  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  let loss = NaN;
  for (let i = 0; i < steps; i++) {
    const start = process.hrtime.bigint();
    loss = step();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  if (!Number.isFinite(loss)) throw new Error(`${name}: the loss is not finite (${loss})`);
  const info = kernels().info();
  const result: WorkerResult = {
    case: name,
    images_per_s: (c.batch * steps * 1000) / times.reduce((a, b) => a + b, 0),
    step_ms: median(times),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    threads: info.threads,
    isa: info.isa,
    backend: info.name,
    params: model.numParameters(),
    loss,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
