/**
 * WoodFisher (Singh & Alistarh, NeurIPS 2020): one-shot OBS pruning with a block-diagonal
 * empirical Fisher inverted by Woodbury rank-1 updates. Implemented as global I-OBS with η = 0
 * and one step; see {@link woodfisherPrune} in ./global-iobs.ts.
 */
export { woodfisherPrune, globalMagnitudePrune } from './global-iobs.js';
export { woodburyInverse, fisherInverse } from './fisher.js';
