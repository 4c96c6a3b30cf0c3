// Which rank of which job this process is, from what the launcher put in the
// environment: Open MPI's mpirun (OMPI_COMM_WORLD_*), PMIx launchers such as
// `srun --mpi=pmix` (PMIX_RANK with SLURM_*), and MPICH/Hydra (PMI_RANK/PMI_SIZE).
// MPI_Init is the authority; this only decides whether to join an MPI job at
// all, before the addon is loaded.

export interface RankEnv {
  rank: number;
  /** The job's size when the launcher says it (PMIx alone does not). */
  size: number | null;
  /** Ranks on this node (to share its cores), when known. */
  localSize: number | null;
  launcher: "mpirun" | "srun" | "pmi";
}

function int(v: string | undefined): number | null {
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Number(v);
}

/** The rank this process was started as by an MPI launcher, or null for a plain process. */
export function detectRankEnv(env: NodeJS.ProcessEnv = process.env): RankEnv | null {
  const ompiRank = int(env.OMPI_COMM_WORLD_RANK);
  if (ompiRank !== null) {
    return { rank: ompiRank, size: int(env.OMPI_COMM_WORLD_SIZE), localSize: int(env.OMPI_COMM_WORLD_LOCAL_SIZE), launcher: "mpirun" };
  }
  const pmixRank = int(env.PMIX_RANK);
  if (pmixRank !== null) {
    // srun --mpi=pmix: SLURM's own variables name the step's size and the tasks on this node.
    const perNode = int(env.SLURM_STEP_TASKS_PER_NODE?.split("(")[0]) ?? int(env.SLURM_NTASKS_PER_NODE);
    return { rank: pmixRank, size: int(env.SLURM_STEP_NUM_TASKS) ?? int(env.SLURM_NTASKS), localSize: perNode, launcher: "srun" };
  }
  const pmiRank = int(env.PMI_RANK);
  if (pmiRank !== null) return { rank: pmiRank, size: int(env.PMI_SIZE), localSize: int(env.MPI_LOCALNRANKS), launcher: "pmi" };
  return null;
}

/** Compute threads for one rank when none were asked for: the CPUs SLURM gave the task, or the node's cores shared by its ranks. */
export function threadsPerRank(cores: number, localSize: number | null, env: NodeJS.ProcessEnv = process.env): number {
  const slurm = int(env.SLURM_CPUS_PER_TASK);
  if (slurm !== null && slurm > 0) return slurm;
  return Math.max(1, Math.floor(cores / Math.max(1, localSize ?? 1)));
}
