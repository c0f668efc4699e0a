// One interface for the plan's views (`plan --format`, `show --format`): text, JSON and markdown.
import {planToJSON} from '../../plan/render.js'
import type {Plan, PreflightReport} from '../../plan/types.js'
import {renderPreflightText} from '../../preflight/render.js'
import type {Colors} from '../../util/color.js'
import {renderPlanMarkdown} from './plan-markdown.js'
import {renderPlanText} from './plan-text.js'

export type PlanFormat = 'text' | 'json' | 'markdown'
export const PLAN_FORMATS: PlanFormat[] = ['text', 'json', 'markdown']

/** What a view is given: the plan, pre-flight results when they were made, where the topology is. */
export interface PlanDocument {
  plan: Plan
  preflight?: PreflightReport
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
      return {
        render: (d) => {
          const text = renderPlanText(d.plan, colors, d.topoUrl)
          if (!d.preflight || d.plan.kind === 'noop') return text
          return `${text.trimEnd()}\n\n${renderPreflightText(d.preflight, colors)}`
        },
      }
  }
}
