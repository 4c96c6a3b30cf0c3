// Data-parallel training over MPI: rank detection, the MPI addon, gradient
// all-reduce in the training loop, and the mpirun launcher for ranks=N.
export { detectRankEnv, threadsPerRank, type RankEnv } from "./env.js";
export { Communicator, mpiAvailable, mpiAddonPath, MPI_INSTALL_FIX } from "./mpi.js";
export { DataParallel, DEFAULT_BUCKET_FLOATS, type ReduceTimings } from "./parallel.js";
export { joinRanks, localShard, markRunFailed, rankGather, rankLog, rankSum, SilentLog, type RankContext, type RankGather } from "./join.js";
export { launchRanks, mpirunCommand, type RankSpec } from "./launcher.js";
