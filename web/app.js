// shardform dashboard: plain ES modules, no build step. Routes: #/ (keyspaces, workflows, servers) and
// #/workflows/<id> (one workflow). Data from /api/v1/, live through its server-sent-event streams.
import {api, subscribe} from './api.js'
import {badge, fill, fmt, h} from './dom.js'
import {renderKeyspaces} from './keyspaces.js'
import {workflowPage} from './workflow.js'

const main = document.getElementById('main')
let page

function route() {
  page?.abort()
  page = new AbortController()
  const m = /^#\/workflows\/(.+)$/.exec(location.hash)
  if (m) workflowPage(main, decodeURIComponent(m[1]), page.signal)
  else {
    document.title = 'shardform'
    homePage(main, page.signal)
  }
  window.scrollTo(0, 0)
}

window.addEventListener('hashchange', route)
route()

function homePage(root, signal) {
  const ks = h('section', {class: 'keyspaces'}, h('p', {class: 'muted', text: 'Loading keyspaces…'}))
  const wfs = h('section', {class: 'workflows'})
  const servers = h('section', {class: 'servers'})
  const notice = h('div', {class: 'notice'})
  fill(root, notice, ks, wfs, servers)
  // A browser keeps about six connections per server (HTTP/1.1), and every event stream holds one: the home page
  // follows at most STREAMS of them (the serving maps of the first keyspaces, then unfinished workflows) and
  // looks again every few seconds for the rest; the workflow page follows its one stream.
  const followed = new Set()
  const timers = new Map()

  async function loadKeyspaces() {
    const r = await api('/api/v1/keyspaces')
    const list = r.keyspaces ?? r
    renderKeyspaces(ks, list)
    for (const k of list) follow(`/api/v1/keyspaces/${encodeURIComponent(k.keyspace)}/serving/events`, loadKeyspaces)
  }
  async function loadWorkflows() {
    const r = await api('/api/v1/workflows')
    const list = r.workflows ?? r
    renderWorkflows(wfs, list)
    for (const w of list)
      if (!w.finished) follow(`/api/v1/workflows/${encodeURIComponent(w.id)}/events`, () => soon(loadWorkflows))
  }
  async function loadServers() {
    const r = await api('/api/v1/servers')
    renderServers(servers, r.servers ?? r)
  }
  function follow(path, then) {
    if (followed.has(path) || followed.size >= STREAMS) return
    followed.add(path)
    subscribe(path, () => soon(then), signal)
  }
  // Events come in bursts (a stream publishes twice a second): one read for each burst.
  function soon(fn) {
    clearTimeout(timers.get(fn))
    timers.set(
      fn,
      setTimeout(() => fn().catch(() => undefined), 300),
    )
  }
  const all = () =>
    Promise.all([loadKeyspaces(), loadWorkflows(), loadServers()]).then(
      () => fill(notice),
      (err) => fill(notice, h('p', {class: 'error', text: `Cannot reach the API: ${err.message}`})),
    )
  all()
  // New workflows and servers appear without an event of their own: look again now and then.
  const poll = setInterval(all, 5_000)
  signal.addEventListener('abort', () => {
    clearInterval(poll)
    for (const t of timers.values()) clearTimeout(t)
  })
}

const STREAMS = 3

const GROUPS = [
  ['running', (w) => w.state === 'running'],
  ['waiting', (w) => w.state === 'waiting' || w.state === 'paused'],
  ['failed', (w) => w.state === 'failed'],
  ['done', (w) => w.finished],
]

function renderWorkflows(el, list) {
  fill(
    el,
    h('h2', {text: 'Workflows'}),
    list.length
      ? GROUPS.map(([name, pick]) => {
          const ws = list.filter(pick)
          return ws.length
            ? h(
                'div',
                {class: 'wf-group', data: {group: name}},
                h('h3', {text: `${name[0].toUpperCase()}${name.slice(1)} (${ws.length})`}),
                h(
                  'table',
                  {class: 'wf-list'},
                  h(
                    'thead',
                    {},
                    h(
                      'tr',
                      {},
                      ['Workflow', 'Keyspace', 'State', 'Phase', 'Tasks', 'Created'].map((x) => h('th', {text: x})),
                    ),
                  ),
                  h(
                    'tbody',
                    {},
                    ws.map((w) =>
                      h(
                        'tr',
                        {data: {workflow: w.id}},
                        h(
                          'td',
                          {},
                          h('a', {class: 'mono', href: `#/workflows/${encodeURIComponent(w.id)}`, text: w.id}),
                        ),
                        h('td', {class: 'mono', text: w.keyspace}),
                        h(
                          'td',
                          {},
                          badge(w.state),
                          w.waiting ? h('span', {class: 'muted', text: ` ${w.waiting.description}`}) : null,
                        ),
                        h('td', {text: w.current_phase ?? '–'}),
                        h('td', {
                          text: `${w.tasks.done}/${w.tasks.total}${w.tasks.failed ? ` (${w.tasks.failed} failed)` : ''}`,
                        }),
                        h('td', {text: fmt.dateTime(w.created_at)}),
                      ),
                    ),
                  ),
                ),
              )
            : null
        })
      : h('p', {class: 'muted', text: 'No workflow yet: `shardform apply` records one.'}),
  )
}

function renderServers(el, list) {
  fill(
    el,
    h('h2', {text: 'Servers'}),
    list.length
      ? h(
          'ul',
          {class: 'server-list'},
          list.map((s) =>
            h(
              'li',
              {},
              h('span', {class: 'mono', text: s.id}),
              ` on ${s.host} pid ${s.pid}`,
              s.workflows?.length
                ? ` · runs ${s.workflows.map((w) => `${w.keyspace} (${w.operation})`).join(', ')}`
                : ' · idle',
            ),
          ),
        )
      : h('p', {class: 'muted', text: 'No live server.'}),
  )
}
