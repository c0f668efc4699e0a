export {plan, PlanError, type PlanOptions} from './planner.js'
export {planToJSON} from './render.js'
export {savePlan, loadPlanFile, planStaleness, planFileContent, type PlanFile, type Staleness} from './planfile.js'
export * from './types.js'
