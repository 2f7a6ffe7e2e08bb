/** Neural-collapse measurement: streaming accumulators (./accumulate.ts) and pure metrics. */
export {
  ClassMeansAccumulator,
  WithinClassAccumulator,
  CollapseAccumulator,
  collapseStats,
  validateBatch,
} from './accumulate.js';
export type { FeatureArray, LabelArray, CollapseShape, ClassMeans, CollapseStats } from './accumulate.js';
export {
  measureCollapse,
  nc1Pinv,
  recentreQ,
  cdnv,
  withinTotalRatio,
  equinorm,
  equiangularity,
  simplexEtfDistance,
  orthogonalFrameDistance,
  selfDuality,
  selfDualityEtf,
  classMeanRank,
  globalMean,
  centreRows,
  gram,
  rowProducts,
} from './measure.js';
export type { Classifier, MeasureOptions, CollapseMetrics, Nc1Result, RankResult } from './measure.js';
export { nc4, nearestClassMean, linearPredictions } from './nc4.js';
export type { ClassMeansLike, Nc4Counts } from './nc4.js';
export { balancedness, balancednessChain } from './balancedness.js';
export type { WeightMatrix } from './balancedness.js';
