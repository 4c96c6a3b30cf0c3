// `npm run bench -- <name> [flags]`: runs one benchmark. Each prints JSON lines
// on stdout and its progress on stderr; each module exports `main(argv)`.
const BENCHMARKS: Record<string, string> = {
  ddp: "./ddp.js",
  detect: "./detect.js",
  engine: "./engine.js",
  eval: "./eval.js",
  fashion: "./fashion.js",
  infer: "./infer.js",
  loader: "./loader.js",
  sgemm: "./sgemm.js",
  ui: "./ui.js",
};

interface Benchmark {
  main(argv: string[]): Promise<void>;
}

async function run(): Promise<void> {
  const [name, ...argv] = process.argv.slice(2);
  const path = name === undefined ? undefined : BENCHMARKS[name];
  if (path === undefined) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join("|")}> [flags]\n` +
      "  ddp: data-parallel over MPI: all-reduce GB/s (kiln's addon vs MPI's C) and resnet18_64 images/s, 2 ranks × 1 thread vs 1 rank × 2 threads; flags --sizes N,N --iters N --steps N --warmup N --case NAME --ranks N\n" +
      "  detect: YOLOv8n training step with the real detection loss, kiln vs PyTorch\n" +
      "  eval: kiln eval (COCO bbox) on a generated >= 5,000-image case vs pycocotools; flags --images N --categories N --seed N --runs N --python PATH --peer none\n" +
      "  engine: kiln vs PyTorch training steps; flags --case NAME (repeatable), --peer torch|none, --pairs N, --steps N, --warmup N\n" +
      "  infer: batch-1 inference latency, resnet18 at 224 and yolov8n at 320: kiln vs PyTorch vs onnxruntime-node on kiln's exported ONNX; flags --case resnet18_224|yolov8n_320, --rounds N, --iters N, --warmup N, --peer torch|none\n" +
      "  fashion: kiln's default cnn recipe on Fashion-MNIST vs the same in PyTorch; flags --epochs N, --batch N, --fraction F, --pairs N, --peer torch|none, --data DIR\n" +
      "  sgemm: SGEMM and convolution GFLOP/s vs PyTorch (torch.mm, aten convolution); flags --threads N, --conv-only, --gemm-only, --peer torch|none\n" +
      "  ui: kiln ui's run list (GET /api/runs, end to end) over a generated log folder; flags --runs N (default 1000), --epochs N (50), --requests N (10)\n" +
      "  loader: DataLoader images/s (JPEG decode + augment at 224) vs resnet18's training step at 224; flags --images N, --epochs N, --prefetch N, --steps N, --warmup N\n");
    process.exitCode = 2;
    return;
  }
  const bench = (await import(path)) as Partial<Benchmark>;
  if (typeof bench.main !== "function") throw new Error(`bench/${name}.ts must export main(argv: string[]): Promise<void>`);
  await bench.main(argv);
}

await run();
