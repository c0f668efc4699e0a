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
positions, releases the claims and deregisters.`
  static override examples = [
    '<%= config.bin %> server --topo etcd://127.0.0.1:2379/shardform',
    '<%= config.bin %> server --id db-host-1 --log-format json',
  ]
  static override flags = {
    id: Flags.string({
      summary: 'Name of this server (unique among live servers). Default: the host name.',
      helpValue: 'NAME',
    }),
    'log-format': Flags.string({summary: 'Log lines as text or JSON.', options: ['text', 'json'], default: 'text'}),
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
      try {
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
        await store.close().catch(() => undefined)
      }
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
