// Public routing API: the SrvKeyspace-aware router with topology watch and write buffering.
export {Router, type RouterStats} from './router.js'
export {RouterError, isReadOnlyError, type RouterErrorCode} from './errors.js'
export {
  DEFAULT_BUFFER_WINDOW_MS,
  type ExecuteOptions,
  type ExecuteResult,
  type RouteTarget,
  type RouterOptions,
  type RoutingSnapshot,
} from './types.js'
