// Public routing API: the SrvKeyspace-aware router with topology watch and write buffering.
export {
  DEFAULT_BUFFER_WINDOW_MS,
  Router,
  RouterError,
  isReadOnlyError,
  type ExecuteOptions,
  type ExecuteResult,
  type RouteTarget,
  type RouterErrorCode,
  type RouterOptions,
  type RouterStats,
  type RoutingSnapshot,
} from './router.js'
