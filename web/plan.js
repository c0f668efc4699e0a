// The plan a workflow was made from: the layout diff (changes, the vschema diff), the reshard groups and the phases.
import {fmt, h} from './dom.js'

const SYMBOL = {create: '+', retire: '-', update: '~', move: '→'}

export function planView(plan, layoutDiff) {
  const diff = plan?.vschema_diff ?? plan?.vschemaDiff ?? layoutDiff
  if (!plan || !Array.isArray(plan.changes)) return h('p', {class: 'muted', text: 'No plan recorded.'})
  const s = plan.summary ?? {}
  return h(
    'div',
    {class: 'plan-view'},
    h('h2', {text: 'Plan'}),
    h(
      'p',
      {},
      `${plan.kind} of keyspace `,
      h('strong', {text: plan.keyspace}),
      ` to match ${plan.layout ?? plan.desired?.file ?? 'the layout'}; made ${fmt.dateTime(plan.created_at)}. `,
      `${s.create ?? 0} to create, ${s.retire ?? 0} to retire, ${s.update ?? 0} to update, ${s.move ?? 0} traffic moves, ${s.tasks ?? 0} tasks.`,
    ),
    foldable(
      `Layout diff (${plan.changes.length} changes)`,
      'Layout diff',
      plan.changes.length,
      h(
        'ul',
        {class: 'changes'},
        plan.changes.map((ch) =>
          h(
            'li',
            {class: `change action-${ch.action}`},
            h('span', {class: 'symbol', text: SYMBOL[ch.action] ?? '?'}),
            h('span', {class: 'mono', text: `${ch.kind} ${ch.name}`}),
            ch.detail ? h('span', {class: 'muted', text: ch.detail}) : null,
            ch.kind === 'vschema' && diff ? vschemaDiff(diff) : null,
          ),
        ),
      ),
    ),
    plan.groups?.length
      ? foldable(
          `Reshard groups (${plan.groups.length})`,
          'Reshard groups',
          plan.groups.length,
          h(
            'ul',
            {},
            plan.groups.map((g) =>
              h('li', {class: 'mono', text: `${g.range}: ${g.sources.join(', ')} → ${g.destinations.join(', ')}`}),
            ),
          ),
        )
      : null,
    h(
      'details',
      {class: 'plan-phases'},
      h('summary', {text: `Phases and tasks as planned (${plan.phases.length} phases, ${s.tasks ?? 0} tasks)`}),
      h(
        'ol',
        {},
        plan.phases.map((ph) =>
          h(
            'li',
            {},
            h('strong', {text: ph.name}),
            h('span', {class: 'muted', text: ` ${ph.mode}, gate: ${ph.gate}`}),
            h(
              'ul',
              {},
              ph.tasks.map((t) =>
                h('li', {}, h('span', {class: 'mono', text: t.id}), ' ', h('span', {class: 'muted', text: t.detail})),
              ),
            ),
          ),
        ),
      ),
    ),
    plan.notes?.length
      ? [
          h('h3', {text: 'Notes'}),
          h(
            'ul',
            {},
            plan.notes.map((n) => h('li', {text: n})),
          ),
        ]
      : null,
  )
}

/** Lists of up to FOLD_OVER items are shown under a heading; longer ones (a 256 → 512 split changes 1,792 things)
 * fold under a summary that says how many. */
const FOLD_OVER = 40

function foldable(summary, heading, count, list) {
  if (count <= FOLD_OVER) return [h('h3', {text: heading}), list]
  return h('details', {class: 'plan-list'}, h('summary', {text: summary}), list)
}

function vschemaDiff(text) {
  return h(
    'pre',
    {class: 'diff'},
    text
      .split('\n')
      .map((line) =>
        h(
          'span',
          {class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : ''},
          line + '\n',
        ),
      ),
  )
}
