// `kiln runs`: finding, summarising, listing, showing, comparing and annotating runs.
export { DEFAULT_LOGDIR, findRunDirs, isRunDir, resolveRun } from "./discover.js";
export { HEARTBEAT_STALE_MS, effectiveStatus, isPidAlive, statusLabel, type ListedStatus, type RunRecord, type RunStatus } from "./liveness.js";
export { readRunFiles, type FileProblem, type RunFiles } from "./read-run.js";
export { summarizeRun, bestSnapshot, taskOf, type RunSummary } from "./summary.js";
export { filterRuns, sortRuns, parseSortKey, formatRunList, formatStart, SORT_KEYS, type RunFilter, type SortKey } from "./list.js";
export { runDetails, formatRunDetails, type RunDetails } from "./show.js";
export { compareRuns, formatRunsComparison, type ComparedRun, type RunsComparison } from "./compare-runs.js";
export { appendNote, readNotes, EXPERIMENT_LOG, type ExperimentLog, type Note } from "./experiment-log.js";
export { formatTable, useColor, paint, type Cell, type Column, type Color } from "./table.js";
