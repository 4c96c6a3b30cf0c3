// `kiln compare`: metric snapshots, their comparison and its text.
export { CLASSIFY_METRICS, DETECT_METRICS, metricSpecs, primaryMetric, type MetricSpec, type Task } from "./metric-specs.js";
export { snapshotFromJson, type EpochPick, type MetricSnapshot, type MetricValues } from "./extract.js";
export { loadMetrics, metricsFileOf, type LoadedMetrics } from "./load.js";
export { compareMetrics, verdictOf, DEFAULT_THRESHOLD_POINTS, type CompareOptions, type ComparedSide, type Comparison, type MetricChange, type Verdict } from "./compare.js";
export { formatComparison, verdictLine } from "./format.js";
