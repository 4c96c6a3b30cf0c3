// The optional MPI addon (build/Release/kiln_mpi.node, built by `npm install`
// only where mpicc exists) behind a small typed communicator over
// MPI_COMM_WORLD. Loading it where MPI is absent is a KilnError that says how
// to install it.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KilnError } from "../errors.js";

interface MpiAddon {
  init(): { rank: number; size: number; thread: number; library: string };
  allreduceSum(data: Float32Array | Float64Array): void;
  allreduceSumAsync(data: Float32Array | Float64Array): Promise<void>;
  iallreduceSum(data: Float32Array | Float64Array): number;
  testSum(id: number): boolean;
  waitSum(id: number): void;
  allgather(bytes: Uint8Array): Uint8Array[];
  barrier(): void;
  wtime(): number;
  finalize(): void;
  abort(code: number): void;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "binding.gyp"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("kiln: cannot find the package root (binding.gyp)");
    dir = parent;
  }
  return dir;
}

export const MPI_INSTALL_FIX = "Fix: install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) and rebuild kiln's addon (npm rebuild kiln, or npm run build in a checkout).";

/** build/Release/kiln_mpi.node, or KILN_MPI_ADDON when set. */
export function mpiAddonPath(): string {
  return process.env.KILN_MPI_ADDON ?? join(packageRoot(), "build", "Release", "kiln_mpi.node");
}

let addon: MpiAddon | null = null;

function loadAddon(): MpiAddon {
  if (addon) return addon;
  const path = mpiAddonPath();
  if (!existsSync(path)) throw new KilnError(`data-parallel training needs MPI, and kiln's MPI addon (${path}) was not built: mpicc was not found when kiln was installed. ${MPI_INSTALL_FIX}`);
  try {
    addon = createRequire(import.meta.url)(path) as MpiAddon;
  } catch (err) {
    throw new KilnError(`kiln's MPI addon ${path} did not load (${err instanceof Error ? err.message : String(err)}). ${MPI_INSTALL_FIX}`);
  }
  return addon;
}

/** A sum in flight (MPI_Iallreduce): test() moves it on and says whether it is done; wait() finishes it. */
export interface SumRequest {
  test(): boolean;
  wait(): void;
}

/** Whether the MPI addon is built (without loading it). */
export function mpiAvailable(): boolean {
  return existsSync(mpiAddonPath());
}

/** MPI_COMM_WORLD of this process, initialised once. */
export class Communicator {
  readonly rank: number;
  readonly size: number;
  readonly library: string;
  private readonly mpi: MpiAddon;
  private finished = false;

  private constructor(mpi: MpiAddon) {
    this.mpi = mpi;
    const info = mpi.init();
    this.rank = info.rank;
    this.size = info.size;
    this.library = info.library.split("\n")[0].split(",")[0].trim();
  }

  private static instance: Communicator | null = null;

  /** Initialises MPI (once per process) and returns the world communicator. */
  static world(): Communicator {
    Communicator.instance ??= new Communicator(loadAddon());
    return Communicator.instance;
  }

  /** In-place elementwise sum over every rank. */
  sum(data: Float32Array | Float64Array): void {
    if (this.size > 1) this.mpi.allreduceSum(data);
  }

  /**
   * The same sum on a libuv worker thread while this thread computes. Until it
   * settles, make no other MPI call and leave `data` alone.
   */
  async sumAsync(data: Float32Array | Float64Array): Promise<void> {
    if (this.size > 1) await this.mpi.allreduceSumAsync(data);
  }

  /**
   * The same sum, non-blocking (MPI_Iallreduce): posted now, done when test()
   * says so or wait() returns; leave `data` alone until then. Every rank must
   * start its sums in the same order, and finish them before any other
   * collective that depends on them.
   */
  startSum(data: Float32Array | Float64Array): SumRequest {
    if (this.size === 1) return { test: () => true, wait: () => undefined };
    const id = this.mpi.iallreduceSum(data);
    let done = false;
    return {
      test: () => (done ||= this.mpi.testSum(id)),
      wait: () => {
        if (!done) this.mpi.waitSum(id);
        done = true;
      },
    };
  }

  /** Every rank's value (JSON), in rank order. */
  allgather<T>(value: T): T[] {
    if (this.size === 1) return [value];
    const parts = this.mpi.allgather(new TextEncoder().encode(JSON.stringify(value ?? null)));
    return parts.map((p) => JSON.parse(new TextDecoder().decode(p)) as T);
  }

  barrier(): void {
    if (this.size > 1) this.mpi.barrier();
  }

  /** Seconds on MPI's clock. */
  wtime(): number {
    return this.mpi.wtime();
  }

  /**
   * Ends MPI at exit: MPI_Finalize after a clean end (every rank gets there
   * together), MPI_Abort otherwise, so a failing rank takes the job down at
   * once instead of leaving the others waiting in a collective.
   */
  finalizeOnExit(isClean: () => boolean): void {
    process.on("exit", (code) => {
      if (this.finished) return;
      this.finished = true;
      if (code === 0 || isClean()) this.mpi.finalize();
      else this.mpi.abort(code || 1);
    });
  }

  /** Ends every rank of the job now (this one included) with `code`. */
  abort(code: number): never {
    this.finished = true;
    this.mpi.abort(code);
    process.exit(code);
  }
}
