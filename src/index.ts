// kiln's library API.
export * from "./engine/kernels.js";
export { kernels, setBackend } from "./engine/backend.js";
