// `kiln ui`: the local dashboard over the run directories.
export { startUiServer, DEFAULT_HOST, DEFAULT_PORT, type UiServer, type UiServerOptions } from "./server.js";
export { listRuns, runDetails, compareAgainst, type ListedRun, type RunDetails, type CompareResult } from "./api.js";
export { RunRegistry } from "./registry.js";
export { RunState, type RunDelta } from "./run-state.js";
