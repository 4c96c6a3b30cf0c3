// Pipeline state (kiln.state.yaml): what later commands default to.
export {
  STATE_FILE, PipelineStateError, defaultModelFromState, readPipelineState, recordStage, recordTrainingRun, setBaseline, statePath,
  writePipelineState, type BaselineRecord, type PipelineState, type StageInfo, type StageRecord,
} from "./pipeline-state.js";
export { baselineVerdictAfterTraining } from "./baseline.js";
