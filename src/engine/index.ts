// The apply engine: workflows in the topology, gates, checkpoints, resume, retry, lock, status.
export * from './types.js'
export * from './workflow.js'
export {WorkflowWriter, SKIP, OPS_CONFLICT, WRITER_UNAVAILABLE, type Mutation, type WriterOptions} from './writer.js'
export {Runner, type RunnerEvent, type RunnerOptions, type RunnerUI, type RunOutcome} from './runner.js'
export {apply, retry, type ApplyRequest, type ApplyResult, type ApplyUI, type RunSettings} from './apply.js'
export {approveWorkflow, forceUnlock, unfinishedWorkflowOf, type ApproveOptions} from './commands.js'
export {
  decideForLayout,
  decideForPlanFile,
  decideNoArg,
  isPlanFile,
  listWorkflows,
  sameDesired,
  unfinished,
  workflowLine,
  type Decision,
} from './select.js'
export {
  collectHistory,
  collectStatus,
  workflowStatus,
  STATUS_FORMAT_VERSION,
  type HistoryEntry,
  type WorkflowStatus,
} from './status.js'
