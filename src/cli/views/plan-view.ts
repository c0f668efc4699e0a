// One interface for the plan's views (`plan --format`, `show --format`): text, JSON and markdown.
import {planToJSON} from '../../plan/render.js'
import type {Plan} from '../../plan/types.js'
import type {Colors} from '../../util/color.js'
import {renderPlanMarkdown, type PreflightLike} from './plan-markdown.js'
import {renderPlanText} from './plan-text.js'

export type PlanFormat = 'text' | 'json' | 'markdown'
export const PLAN_FORMATS: PlanFormat[] = ['text', 'json', 'markdown']

/** What a view is given: the plan, pre-flight results when they were made, where the topology is. */
export interface PlanDocument {
  plan: Plan
  preflight?: PreflightLike
  topoUrl?: string
}

export interface PlanView {
  /** The whole output, ending with a newline. */
  render(doc: PlanDocument): string
}

export function planView(format: PlanFormat, colors: Colors): PlanView {
  switch (format) {
    case 'json':
      return {
        render: (d) =>
          JSON.stringify({...planToJSON(d.plan), ...(d.preflight ? {preflight: d.preflight} : {})}, null, 2) + '\n',
      }
    case 'markdown':
      return {render: (d) => renderPlanMarkdown(d.plan, d.preflight)}
    case 'text':
      return {render: (d) => renderPlanText(d.plan, colors, d.topoUrl)}
  }
}
