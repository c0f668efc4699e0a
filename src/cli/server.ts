import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {Flags} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class Server extends BaseCommand {
  static override summary =
    'Run workflows in the background: claim unfinished workflows and keep their replication alive.'
  static override description = `Runs in the foreground until SIGTERM or Ctrl-C, logging one line per event. Registers under
servers/<id> in the topology; claims each unfinished workflow whose keyspace lock is free (the lock is the claim) and
runs it with the same engine as apply. It never approves: at a gate it waits for \`shardform approve\`, with filtered
and reverse replication running. With several servers (one per host, same topology), each takes a workflow only while
no other live server holds fewer; one that dies loses its claims within --lock-ttl and another resumes from the stored
checkpoints. While a workflow waits, its streams are work items any live server claims (fair share by item count)
and runs from the stored positions; the driver takes one back when a phase needs it. SIGTERM interrupts at committed
positions, releases the claims and deregisters.
With --listen it also serves the HTTP API (/api/v1/), the dashboard (/) and /metrics, approvals and retries included;
on any address other than loopback only with --token-file (see "HTTP API and metrics" in the README).`
  static override examples = [
    '<%= config.bin %> server --topo etcd://127.0.0.1:2379/shardform',
    '<%= config.bin %> server --id db-host-1 --log-format json',
    '<%= config.bin %> server --listen 127.0.0.1:7780',
    '<%= config.bin %> server --listen 0.0.0.0:7780 --token-file /etc/shardform/tokens',
  ]
  static override flags = {
    id: Flags.string({
      summary: 'Name of this server (unique among live servers). Default: the host name.',
      helpValue: 'NAME',
    }),
    'log-format': Flags.string({summary: 'Log lines as text or JSON.', options: ['text', 'json'], default: 'text'}),
    listen: Flags.string({
      summary:
        'Also serve the HTTP API, the dashboard and /metrics on HOST:PORT (default host 127.0.0.1). Off unless given.',
      description: `Any address other than loopback (127.0.0.1, ::1, localhost) needs --token-file, or the server refuses to start.
See "HTTP API and metrics" in the README.`,
      helpValue: 'HOST:PORT',
    }),
    'token-file': Flags.string({
      summary:
        'Named bearer tokens for --listen, one "name: token" a line (mode 0600). With it every API request needs one.',
      helpValue: 'FILE',
      dependsOn: ['listen'],
    }),
    'lock-ttl': Flags.integer({
      summary: 'Lease of the registration and of each claim in seconds: a dead server loses its work this long after.',
      default: 10,
      min: 1,
    }),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Server)
    const [{Server: ServerLoop}, registry, {openTopoWaiting}, {serverLogger}, {workflowRuntime}] = await Promise.all([
      import('../server/server.js'),
      import('../server/registry.js'),
      import('../server/start.js'),
      import('./views/server-log.js'),
      import('./runtime.js'),
    ])
    const id = registry.checkServerId(flags.id ?? registry.defaultServerId())
    // Checked before anything starts: a bad address or token file is a one-paragraph error, exit 1.
    const http = flags.listen
      ? await import('../http/start.js').then((m) => ({m, cfg: m.httpConfig(flags.listen!, flags['token-file'])}))
      : undefined
    const run = randomBytes(4).toString('hex')
    let claims = 0
    const log = serverLogger(flags['log-format'] as 'text' | 'json', process.stdout)
    const say = (type: 'unreachable' | 'stopping', message: string) =>
      log({at: new Date().toISOString(), server: id, type, message})
    const ac = new AbortController()
    let signals = 0
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) process.exit(130)
      say('stopping', `${sig}: handing back every workflow at a committed position (again to exit at once)`)
      ac.abort(new Error(sig))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      const store = await openTopoWaiting(flags.topo, (m) => say('unreachable', m), ac.signal)
      if (!store) return
      let web: {url: string; close(): Promise<void>} | undefined
      try {
        if (http) {
          const {renderPlanText} = await import('./views/plan-text.js')
          const {colors} = await import('../util/color.js')
          web = await http.m.startHttp(
            {
              store,
              version: this.config.version,
              hints: flags.topo ? {topo: flags.topo} : {},
              planText: (plan) => renderPlanText(plan, colors(false)),
              log: (message) => log({at: new Date().toISOString(), server: id, type: 'error', message}),
            },
            http.cfg,
          )
          const auth = http.cfg.tokens ? `bearer tokens from ${http.cfg.tokens.file}` : 'no token (loopback only)'
          log({
            at: new Date().toISOString(),
            server: id,
            type: 'listening',
            message: `HTTP API, dashboard and /metrics on ${web.url}/ (${auth})`,
          })
        }
        const server = new ServerLoop({
          store,
          id,
          version: this.config.version,
          // A new stream owner per claim: a server that lost a workflow (paused past its lease) and is later given it
          // again must be able to take its streams back from the server in between (stream fencing).
          // The driver hands the streams out as work items while the workflow waits (any live server runs them).
          runtime: () =>
            workflowRuntime({owner: `server ${id} ${hostname()}:${process.pid} ${run} claim ${++claims}`, server: id}),
          ttlSeconds: flags['lock-ttl'],
          log,
          hints: flags.topo ? {topo: flags.topo} : {},
        })
        await server.run(ac.signal)
      } finally {
        await web?.close().catch(() => undefined)
        await store.close().catch(() => undefined)
      }
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
