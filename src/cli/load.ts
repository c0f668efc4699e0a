import {Args, Flags} from '@oclif/core'
import {ShardformError} from '../errors.js'
import type {LoadSummary} from '../load/generator.js'
import {BaseCommand} from './base.js'

function parseMix(text: string): {insert: number; update: number; delete: number} {
  const parts = text.split(',').map((p) => Number(p.trim()))
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n) || n < 0) || parts[0] === 0) {
    throw new ShardformError(
      `--mix takes insert,update,delete shares such as 70,20,10 (inserts above 0), not "${text}"`,
    )
  }
  return {insert: parts[0]!, update: parts[1]!, delete: parts[2]!}
}

export function renderLoadSummary(s: LoadSummary): string {
  const l = s.latencyMs
  const kinds = Object.entries(s.errorKinds)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')
  return [
    `Load on ${s.keyspace}.${s.table}: ${(s.durationMs / 1000).toFixed(1)} s, ${s.acknowledged} acknowledged changes, ${s.ratePerSec}/s (target ${s.targetRate || 'unlimited'}/s, concurrency ${s.concurrency})`,
    `  ops: insert ${s.ops.insert}, update ${s.ops.update}, delete ${s.ops.delete}; rows alive ${s.liveRows}`,
    `  errors: ${s.errors}${kinds ? ` (${kinds})` : ''}${s.uncertain ? `, ${s.uncertain} with unknown outcome (journaled as uncertain)` : ''}`,
    ...s.firstErrors.slice(0, 5).map((e) => `    ${e}`),
    `  buffered writes: ${s.buffered.buffered} (max ${s.buffered.maxBufferedMs} ms held), buffer timeouts: ${s.buffered.bufferTimeouts}`,
    `  latency ms: p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  max ${l.max}`,
    ...(s.journal
      ? [`  journal: ${s.journal}  (check with: shardform load verify --journal ${s.journal} ${s.keyspace})`]
      : []),
  ].join('\n')
}

export default class Load extends BaseCommand {
  static override summary =
    'The guestbook client: insert, update and delete `messages` rows through the router, journaling every acknowledged change.'
  static override description = `Writes go through the router (SrvKeyspace-aware, with write buffering during a cutover). Each insert has a
random page over the whole BIGINT UNSIGNED range and a unique time_created_ns; updates and deletes pick rows this
run wrote. Every acknowledged change is appended to the journal, for \`shardform load verify\`. Stops after
--duration seconds, or on Ctrl-C / SIGTERM (in-flight operations finish, the journal is flushed).
Exit 1 when any operation failed.`
  static override examples = [
    '<%= config.bin %> load test_keyspace --rate 200 --duration 30 --journal .shardform/guestbook.journal',
    '<%= config.bin %> load test_keyspace --journal j.jsonl   # until Ctrl-C',
  ]
  static override args = {
    keyspace: Args.string({required: true, description: 'keyspace with the guestbook messages table'}),
  }
  static override flags = {
    rate: Flags.integer({
      summary: 'Target operations per second, all workers together (0 = unlimited).',
      default: 50,
      min: 0,
    }),
    duration: Flags.integer({summary: 'Seconds to run (0 = until Ctrl-C or SIGTERM).', default: 0, min: 0}),
    concurrency: Flags.integer({summary: 'Operations in flight at once.', default: 4, min: 1, max: 512}),
    journal: Flags.string({summary: 'Append every acknowledged change to FILE (JSON lines).', helpValue: 'FILE'}),
    mix: Flags.string({summary: 'insert,update,delete shares.', default: '70,20,10', helpValue: 'I,U,D'}),
    'buffer-window': Flags.integer({
      summary: 'Seconds a write refused by a read-only shard is held before it fails.',
      default: 10,
      min: 0,
    }),
    json: Flags.boolean({summary: 'Print the summary as JSON.'}),
    quiet: Flags.boolean({summary: 'No progress lines.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Load)
    const mix = parseMix(flags.mix)
    const store = await this.topo(flags.topo)
    const {runLoad} = await import('../load/generator.js')
    const ac = new AbortController()
    const stop = () => ac.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let summary: LoadSummary
    try {
      summary = await runLoad({
        keyspace: args.keyspace,
        store,
        rate: flags.rate,
        durationMs: flags.duration * 1000,
        concurrency: flags.concurrency,
        mix,
        journalFile: flags.journal,
        bufferWindowMs: flags['buffer-window'] * 1000,
        signal: ac.signal,
        progressMs: 5000,
        onProgress:
          flags.quiet || flags.json
            ? undefined
            : (p) =>
                process.stderr.write(
                  `  ${(p.elapsedMs / 1000).toFixed(0)} s: ${p.acknowledged} acknowledged, ${p.ratePerSec.toFixed(0)}/s, ${p.errors} errors${p.holding ? `, ${p.holding} held by the buffer` : ''}\n`,
                ),
      })
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    if (flags.json) this.json(summary)
    else this.out(renderLoadSummary(summary))
    if (summary.errors > 0) this.exit(1)
  }
}
