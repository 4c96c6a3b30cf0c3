// kiln's configuration: one schema, its merge and validation, and the help it produces.
export { trainConfigSchema, TRAIN_KEYS, type TrainConfig, type TrainOptions } from "./schema.js";
export { DETECT_DEFAULTS, resolveTrainConfig, readConfigFile, typeCliValue, type ConfigSources, type RawOptions } from "./resolve.js";
export { parseArgs, type ParsedArgs } from "./argv.js";
export { trainHelp } from "./help.js";
export { trainDefaults, describeAllowed } from "./describe.js";
export { closestKey, editDistance } from "./closest.js";
