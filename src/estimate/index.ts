export {estimatePlan, estimateForPlan, type EstimateOptions} from './collect.js'
export * from './model.js'
