/**
 * Dense linear algebra for surgeon: GEMM engines (pure TypeScript and onnxruntime), Cholesky,
 * triangular inverse, SPD inverse / inverse-factor helpers, dampening, largest eigenvalue.
 */
export type { GemmEngine, GemmOptions, GramSum, Matrix, SyrkOptions } from './engine.js';
export { syrk } from './engine.js';
export { gemmSync, syrkSync, TypeScriptEngine } from './gemm-ts.js';
export { OnnxRuntimeEngine, buildGemmModel, loadOrt, buildSyrkModel, syrkBlock, SYRK_BLOCKED_MIN_D } from './gemm-ort.js';
export type { OnnxRuntimeEngineOptions, Precision, OpKey } from './gemm-ort.js';
export { AutoEngine, createEngine, AUTO_TS_MAX_FLOPS } from './create-engine.js';
export type { CreateEngineOptions } from './create-engine.js';
export { NotPositiveDefiniteError, cholesky, choleskySync, choleskyBlockInPlace, defaultBlockSize } from './cholesky.js';
export type { CholeskyOptions } from './cholesky.js';
export { invertLowerTriangular, invertLowerUnblocked, TRIANGULAR_LEAF } from './triangular.js';
export { spdInverse, upperCholeskyOfInverse, lowerTriangularGram, lambdaMax, dampHessian, dampedDiagonal } from './spd.js';
export type { DampedHessian, LambdaMaxOptions } from './spd.js';
export { symeig, symPinv } from './symeig.js';
export type { SymEig, SymEigOptions, SymPinv } from './symeig.js';
export { BufferPool } from './pool.js';
export type { BufferPoolOptions } from './pool.js';
export { UPPER_INVERSE_LEAF, STRUCTURED_PRODUCT_LEAF } from './upper-inverse.js';
export type { UpperInverseOptions } from './upper-inverse.js';
