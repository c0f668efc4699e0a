export {estimatePlan, type EstimateOptions} from './collect.js'
export * from './model.js'
