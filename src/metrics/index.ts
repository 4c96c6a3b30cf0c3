// Evaluation metrics: pure functions and the report files they feed.
export {
  classificationReport,
  classificationReportFromPredictions,
  confusionMatrix,
  normalizeRows,
  predictionsFromLogits,
  worstClasses,
  type AverageMetrics,
  type ClassificationReport,
  type ClassMetrics,
  type ReportOptions,
} from "./classification.js";
export { sklearnReportDict, writeClassificationReport, type ConfusionFile, type SklearnRow } from "./report-files.js";
