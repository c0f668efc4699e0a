export {loadLayout, parseLayout, LayoutError} from './load.js'
export {formatProblem, formatProblems, type Problem} from './source.js'
export * from './types.js'
