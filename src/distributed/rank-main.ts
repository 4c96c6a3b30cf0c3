// The program each rank runs when `kiln train ranks=N` launches mpirun: reads
// the launcher's spec and trains as one rank of the job (src/train/run.ts
// joins MPI). Rank 0 hands the result back to the launcher in a file.
import { readFileSync } from "node:fs";
import { trainConfigSchema } from "../config/index.js";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { runTraining } from "../train/run.js";
import { detectRankEnv } from "./env.js";
import { markRunFailed } from "./join.js";
import type { RankSpec } from "./launcher.js";

async function main(): Promise<number> {
  const spec = JSON.parse(readFileSync(process.argv[2], "utf8")) as RankSpec;
  const config = trainConfigSchema.parse(spec.config);
  const result = await runTraining(config, { explicit: spec.explicit });
  if ((process.env.OMPI_COMM_WORLD_RANK ?? "0") === "0") writeFileAtomicSync(spec.resultFile, JSON.stringify(result));
  // An interrupted run ends cleanly too (the result says so; the launcher exits 130): mpirun reads
  // any other code as a failed job.
  return 0;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  // Failures during training abort the job from run.ts; these come before it (the data, the model):
  // said by the rank, recorded in the launcher's run directory, then the exit handler aborts the job.
  const env = detectRankEnv();
  const who = env ? `rank ${env.rank}${env.size ? ` of ${env.size}` : ""}: ` : "";
  const message = err instanceof Error ? err.message : String(err);
  if (process.env.KILN_RUN_DIR) markRunFailed(process.env.KILN_RUN_DIR, `${who}${message}`);
  console.error(err instanceof KilnError ? `kiln: ${who}${message}` : err);
  process.exitCode = err instanceof KilnError ? err.exitCode || 1 : 1;
});
