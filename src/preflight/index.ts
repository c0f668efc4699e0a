// Pre-flight checks: read-only checks of a plan's tablets, made by `plan` and before `apply` starts a workflow.
export {
  runPreflight,
  preflightForPlan,
  skippedPreflight,
  evaluate,
  CHECK_ORDER,
  type PreflightOptions,
} from './runner.js'
export {renderPreflightText, failedChecks, countByStatus} from './render.js'
export {estimateReshard, DEFAULT_ROWS_PER_SECOND, type DurationEstimate} from './estimate.js'
export {planTargets, type Target} from './targets.js'
