// kiln's library API.
export * from "./engine/kernels.js";
export { kernels, setBackend } from "./engine/backend.js";
export { train, val, predict, type TrainOptions, type TrainConfig, type TrainResult, type RunHooks, type ValOptions, type ValResult, type PredictOptions, type PredictResult, type Prediction } from "./api.js";
export { KilnError } from "./errors.js";
