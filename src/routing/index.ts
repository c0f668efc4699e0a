// Public routing API: the SrvKeyspace-aware router with topology watch and write buffering.
export {Router, type RouterStats} from './router.js'
export {RouterError, isReadOnlyError, type RouterErrorCode} from './errors.js'
// Everything in types.ts is public: options, route targets, results, snapshots, the default buffer window.
export * from './types.js'
