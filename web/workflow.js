// The workflow page: header, open gate (Approve first / rest), phase → task tree with progress, streams with their
// lag charts, the plan it was made from (with the layout diff) and its history. Updated live from the workflow's
// event stream; the DOM is rebuilt per section, the charts are kept.
import {api, subscribe} from './api.js'
import {LagChart} from './chart.js'
import {badge, fill, fmt, h} from './dom.js'
import {planView} from './plan.js'

const enc = encodeURIComponent

export function workflowPage(root, id, signal) {
  const s = {
    notice: h('div', {class: 'notice', role: 'status'}),
    head: h('section', {class: 'wf-head'}),
    gate: h('section', {class: 'gate'}),
    tree: h('section', {class: 'tree'}),
    streams: h('section', {class: 'streams'}),
    plan: h('section', {class: 'plan'}),
    history: h('section', {class: 'history'}),
  }
  fill(
    root,
    h('p', {class: 'crumbs'}, h('a', {href: '#/', text: '← all keyspaces and workflows'})),
    s.notice,
    s.head,
    s.gate,
    s.tree,
    s.streams,
    s.plan,
    s.history,
  )
  const charts = new Map()
  let last
  let historyAt = ''

  const say = (text, kind = 'error') => fill(s.notice, text ? h('p', {class: kind, text}) : null)

  async function post(action, body, button) {
    button.disabled = true
    say('')
    try {
      await api(`/api/v1/workflows/${enc(id)}/${action}`, {method: 'POST', body})
      await refresh()
    } catch (err) {
      say(`${action} failed: ${err.message}`)
      button.disabled = false
    }
  }

  // Sections are rebuilt only when their part of the snapshot changed (streams publish every few seconds).
  const seen = new Map()
  const changed = (key, part) => {
    const text = JSON.stringify(part) ?? ''
    if (seen.get(key) === text) return false
    seen.set(key, text)
    return true
  }

  function render(st) {
    last = st
    const {streams, phases, waiting, ...head} = st
    if (changed('head', head)) renderHead(s.head, st)
    if (changed('gate', waiting)) renderGate(s.gate, st, post)
    if (changed('tree', phases)) renderTree(s.tree, st, post)
    if (changed('streams', streams)) renderStreams(s.streams, st, charts)
    if (st.updated_at !== historyAt) {
      historyAt = st.updated_at
      loadHistory()
    }
  }

  async function refresh() {
    const r = await api(`/api/v1/workflows/${enc(id)}`)
    render(r.workflow ?? r)
  }

  async function loadHistory() {
    const r = await api(`/api/v1/workflows/${enc(id)}/history`).catch(() => undefined)
    if (r) renderHistory(s.history, r.events ?? r.history ?? r)
  }

  refresh()
    .then(() => api(`/api/v1/workflows/${enc(id)}/plan`))
    .then((p) => fill(s.plan, planView(p.plan ?? p, p.layout_diff)))
    .catch((err) => say(err.status === 404 ? `No workflow ${id}.` : `Cannot load workflow ${id}: ${err.message}`))
  subscribe(
    `/api/v1/workflows/${enc(id)}/events`,
    (name, data) => {
      if (name !== 'workflow' || !data || typeof data !== 'object') return
      const st = data.workflow ?? data
      if (st.phases && (!last || st.updated_at >= last.updated_at || st.streams)) render(st)
    },
    signal,
  )
}

function renderHead(el, st) {
  document.title = `${st.id} (${st.state}) · shardform`
  const server = st.lock?.server
    ? `server ${st.lock.server} (${st.lock.who ?? ''})`
    : st.lock
      ? `${st.lock.who ?? 'an apply'}`
      : st.finished
        ? '–'
        : 'nobody (stopped)'
  fill(
    el,
    h('h1', {}, 'Workflow ', h('span', {class: 'mono', text: st.id}), ' ', badge(st.state)),
    h(
      'dl',
      {class: 'facts'},
      fact('Keyspace', st.keyspace),
      fact('Layout', st.layout),
      fact('Kind', st.kind),
      fact('Current phase', st.current_phase ?? '–'),
      fact(
        'Tasks',
        `${st.tasks.done} of ${st.tasks.total} done${st.tasks.failed ? `, ${st.tasks.failed} failed` : ''}`,
      ),
      fact('Run by', server),
      fact('Created', `${fmt.dateTime(st.created_at)} by ${st.created_by}`),
      st.finished_at ? fact('Finished', fmt.dateTime(st.finished_at)) : null,
    ),
    h('div', {class: 'overall'}, bar(st.tasks.done, st.tasks.total)),
    st.stopped
      ? h(
          'p',
          {class: 'error'},
          'No process runs this workflow now (it stopped). Start a shardform server, or resume it: ',
          h('code', {text: st.resume_command ?? 'shardform apply'}),
        )
      : null,
  )
}

const fact = (k, v) => [h('dt', {text: k}), h('dd', {text: v})]

const STAGE_BUTTONS = {
  first: [
    ['first', 'Approve first'],
    ['all', 'Approve all'],
  ],
  rest: [['rest', 'Approve rest']],
  all: [['all', 'Approve']],
}

function renderGate(el, st, post) {
  const w = st.waiting
  if (!w) return fill(el)
  fill(
    el,
    h('h2', {text: 'Waiting for approval'}),
    h(
      'p',
      {},
      'Gate ',
      h('span', {class: 'mono', text: w.gate}),
      ': ',
      w.description,
      w.since ? h('span', {class: 'muted', text: ` — waiting since ${fmt.dateTime(w.since)}`}) : null,
    ),
    h('p', {class: 'muted'}, 'Tasks: ', w.tasks.join(', '), ' · from the CLI: ', h('code', {text: w.command})),
    h(
      'div',
      {class: 'buttons'},
      (STAGE_BUTTONS[w.stage] ?? STAGE_BUTTONS.all).map(([stage, label]) =>
        h('button', {
          class: stage === 'all' && w.stage === 'first' ? 'secondary' : 'primary',
          data: {stage},
          text: label,
          onclick: (ev) => post('approve', {stage, phase: w.phase}, ev.currentTarget),
        }),
      ),
    ),
  )
}

function renderTree(el, st, post) {
  fill(
    el,
    h('h2', {text: 'Phases and tasks'}),
    h(
      'ol',
      {class: 'phases'},
      st.phases.map((ph) =>
        h(
          'li',
          {class: `phase state-${ph.state}`, data: {phase: ph.name, state: ph.state}},
          h(
            'div',
            {class: 'phase-head'},
            h('span', {class: 'phase-name', text: ph.name}),
            badge(ph.state),
            h('span', {class: 'muted', text: `${ph.mode} · gate: ${ph.gate}`}),
          ),
          phaseTasks(el, ph, post, () => renderTree(el, st, post)),
        ),
      ),
    ),
  )
}

const TASKS_SHOWN = 20

/**
 * A phase's task list. One of more than TASKS_SHOWN tasks (a 256 → 512 split's create_shards has 512) lists its
 * failed, waiting and running ones and counts the rest, until "Show all" (remembered across updates).
 */
function phaseTasks(el, ph, post, rerender) {
  const expanded = new Set((el.dataset.expanded ?? '').split(' ').filter(Boolean))
  const all = expanded.has(ph.name) || ph.tasks.length <= TASKS_SHOWN
  const rank = {failed: 0, waiting_approval: 1, running: 2}
  const notable = new Set(
    ph.tasks
      .filter((t) => t.state in rank)
      .sort((a, b) => rank[a.state] - rank[b.state])
      .slice(0, TASKS_SHOWN),
  )
  const shown = all ? ph.tasks : ph.tasks.filter((t) => notable.has(t))
  const hidden = ph.tasks.filter((t) => !shown.includes(t))
  const counts = {}
  for (const t of hidden) counts[t.state] = (counts[t.state] ?? 0) + 1
  const toggle = (on) => {
    if (on) expanded.add(ph.name)
    else expanded.delete(ph.name)
    el.dataset.expanded = [...expanded].join(' ')
    rerender()
  }
  return h(
    'div',
    {},
    h(
      'ul',
      {class: 'tasks'},
      shown.map((t) => taskRow(t, post)),
    ),
    hidden.length
      ? h(
          'p',
          {class: 'muted more-tasks'},
          `${hidden.length}${shown.length ? ' more' : ''} task(s): `,
          Object.entries(counts)
            .map(([state, n]) => `${n} ${state.replace('_', ' ')}`)
            .join(', '),
          ' ',
          h('button', {class: 'secondary show-all', text: `Show all ${ph.tasks.length}`, onclick: () => toggle(true)}),
        )
      : null,
    expanded.has(ph.name) && ph.tasks.length > TASKS_SHOWN
      ? h('button', {class: 'secondary show-all', text: 'Show fewer', onclick: () => toggle(false)})
      : null,
  )
}

function taskRow(t, post) {
  const p = t.progress
  return h(
    'li',
    {class: `task state-${t.state}`, data: {task: t.id, state: t.state}},
    h(
      'div',
      {class: 'task-head'},
      h('span', {class: 'task-id mono', text: t.id}),
      badge(t.state === 'waiting_approval' ? 'waiting' : t.state),
      t.attempts > 1 ? h('span', {class: 'muted', text: `attempt ${t.attempts}`}) : null,
      t.server && t.state === 'running' ? h('span', {class: 'muted', text: `on server ${t.server}`}) : null,
      !t.approved && t.state === 'pending' ? h('span', {class: 'muted', text: 'needs approval'}) : null,
      t.state === 'failed'
        ? h('button', {
            class: 'retry',
            text: 'Retry',
            onclick: (ev) => post('retry', {task: t.id}, ev.currentTarget),
          })
        : null,
    ),
    p && (t.state === 'running' || t.state === 'done' || t.state === 'failed') ? progress(p, t.state) : null,
    t.error ? h('p', {class: 'task-error', text: t.error}) : null,
  )
}

function progress(p, state) {
  const parts = []
  if (typeof p.done === 'number')
    parts.push(`${fmt.n(p.done)}${typeof p.total === 'number' ? ` / ${fmt.n(p.total)}` : ''} ${p.unit ?? ''}`.trim())
  if (state === 'running' && typeof p.rate === 'number') parts.push(`${fmt.n(Math.round(p.rate))} ${p.unit ?? ''}/s`)
  if (state === 'running' && typeof p.etaSeconds === 'number') parts.push(`ETA ${fmt.duration(p.etaSeconds)}`)
  if (typeof p.lagMs === 'number') parts.push(`lag ${fmt.ms(p.lagMs)}`)
  if (p.message) parts.push(p.message)
  // A bar only where there is a total (a diff counts rows compared without one; waiting for replication has none).
  const known = typeof p.done === 'number' && typeof p.total === 'number' && p.total > 0
  return h(
    'div',
    {class: 'progress'},
    known ? bar(p.done, p.total) : null,
    h('span', {class: 'progress-text', text: parts.join(' · ')}),
  )
}

function bar(done, total) {
  const pct = typeof done === 'number' && total > 0 ? Math.min(100, (100 * done) / total) : 0
  return h(
    'div',
    {class: 'bar', role: 'progressbar', 'aria-valuenow': Math.round(pct), 'aria-valuemin': 0, 'aria-valuemax': 100},
    h('div', {class: 'bar-fill', style: {width: `${pct}%`}}),
  )
}

function renderStreams(el, st, charts) {
  const streams = st.streams?.streams ?? []
  if (!streams.length) {
    if (!charts.size) fill(el)
    return
  }
  const t = Date.parse(st.streams.updated_at) / 1000
  const cards = streams.map((x) => {
    let c = charts.get(x.id)
    if (!c) charts.set(x.id, (c = new LagChart()))
    if (typeof x.lagMs === 'number' && Number.isFinite(t)) c.add(t, x.lagMs)
    return h(
      'div',
      {class: 'stream', data: {stream: x.id}},
      h(
        'div',
        {class: 'stream-head'},
        h('span', {class: 'mono', text: `${x.source} → ${x.destination}`}),
        badge(x.state),
        h('span', {class: 'lag', text: `lag ${fmt.ms(x.lagMs)}`}),
      ),
      h('p', {class: 'muted', text: `${fmt.n(x.transactions)} transactions · ${fmt.n(x.rowChanges)} row changes`}),
      x.error ? h('p', {class: 'task-error', text: x.error}) : null,
      c.el,
    )
  })
  fill(
    el,
    h('h2', {text: 'Filtered replication'}),
    h('p', {class: 'muted', text: `as of ${fmt.time(st.streams.updated_at)}; lag over the last 10 minutes`}),
    h('div', {class: 'stream-list'}, cards),
  )
}

const HISTORY_SHOWN = 12

function renderHistory(el, events, all = el.dataset.all === 'yes') {
  const list = [...(Array.isArray(events) ? events : [])].reverse()
  const rows = all ? list : list.slice(0, HISTORY_SHOWN)
  fill(
    el,
    h('h2', {text: `History (${list.length} events, newest first)`}),
    h(
      'table',
      {class: 'events'},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Time', 'Who', 'Event', 'Task', 'Message'].map((x) => h('th', {text: x})),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((e) =>
          h(
            'tr',
            {data: {type: e.type}},
            h('td', {class: 'mono', text: fmt.dateTime(e.at)}),
            h('td', {text: e.who}),
            h('td', {text: e.type}),
            h('td', {class: 'mono', text: e.task ?? e.phase ?? ''}),
            h('td', {text: e.message}),
          ),
        ),
      ),
    ),
    list.length > HISTORY_SHOWN
      ? h('button', {
          class: 'secondary show-all',
          text: all ? `Show the latest ${HISTORY_SHOWN}` : `Show all ${list.length}`,
          onclick: () => {
            el.dataset.all = all ? 'no' : 'yes'
            renderHistory(el, events)
          },
        })
      : null,
  )
}
