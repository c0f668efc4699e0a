// `load verify`: replay a journal into the expected final state of every key, then read the shards serving now and
// check that every acknowledged row is there exactly once, in the shard whose key range holds its keyspace id,
// with its last acknowledged content, and that deleted rows are gone.
import {ShardformError, errorMessage} from '../errors.js'
import {keyRangeContains, keyRangeFromJSON} from '../keyspace/keyrange.js'
import {tableRouting, type TableRouting} from '../keyspace/vschema.js'
import {tabletOptions, qid} from '../mysql/connect.js'
import {servingPrimaries} from '../mysql/schema-file.js'
import {keyspacePath} from '../topo/paths.js'
import type {KeyspaceRecord} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'
import {messageHash, readJournal, type JournalChange} from './journal.js'

export interface VerifyOptions {
  store: TopoStore
  keyspace: string
  journalFile: string
  /** Rows that are in no journal count as problems (default: reported, not a failure). */
  strict?: boolean
  /** How many differences to keep in the report (default 10). */
  maxDifferences?: number
  table?: string
}

export type DifferenceKind = 'missing' | 'duplicated' | 'misplaced' | 'wrong_content' | 'not_deleted' | 'unexpected'

export interface Difference {
  kind: DifferenceKind
  page: string
  ts: string
  /** Shards the row was found in. */
  shards: string[]
  detail: string
}

export interface VerifyCounts {
  /** Change lines replayed. */
  journalChanges: number
  /** Distinct keys in the journal. */
  keys: number
  /** Keys that must be present. */
  expected: number
  /** Keys that must be absent (deleted). */
  deleted: number
  /** Keys whose outcome is uncertain (either outcome accepted). */
  uncertain: number
  /** Rows read from the serving shards. */
  rowsRead: number
  /** Expected keys found exactly once with the right content, in the right shard. */
  present: number
  missing: number
  duplicated: number
  misplaced: number
  wrongContent: number
  notDeleted: number
  /** Rows in no journal (other clients may write): a problem only with strict. */
  unexpected: number
}

export interface VerifyReport {
  keyspace: string
  table: string
  journal: string
  shards: Array<{shard: string; tablet: string; rows: number}>
  counts: VerifyCounts
  differences: Difference[]
  ok: boolean
}

/** What a key must look like at the end. */
interface Expect {
  /** Acceptable content hashes when present. */
  hashes: string[]
  /** May it be absent? */
  absentOk: boolean
  /** May it be present? */
  presentOk: boolean
  uncertain: boolean
  /** Shards it was found in. */
  seen?: string[]
  wrong?: boolean
  misplaced?: boolean
}

/** Replay one change into the expected state of its key. */
function apply(prev: Expect | undefined, c: JournalChange): Expect {
  if (!c.uncertain) {
    if (c.op === 'delete') return {hashes: [], absentOk: true, presentOk: false, uncertain: false}
    return {hashes: [c.h ?? ''], absentOk: false, presentOk: true, uncertain: false}
  }
  // Unknown outcome: the old state or the new one.
  const old: Expect = prev ?? {hashes: [], absentOk: true, presentOk: false, uncertain: false}
  if (c.op === 'delete') return {...old, absentOk: true, uncertain: true}
  return {hashes: [...new Set([...old.hashes, c.h ?? ''])], absentOk: old.absentOk, presentOk: true, uncertain: true}
}

export async function verifyJournal(opts: VerifyOptions): Promise<VerifyReport> {
  const table = opts.table ?? 'messages'
  const maxDiff = opts.maxDifferences ?? 10
  const expected = new Map<string, Expect>()
  let journalChanges = 0
  for await (const line of readJournal(opts.journalFile)) {
    if ('type' in line) {
      if (line.type === 'start' && line.keyspace !== opts.keyspace) {
        throw new ShardformError(`${opts.journalFile} was written for keyspace ${line.keyspace}, not ${opts.keyspace}`)
      }
      continue
    }
    if (line.failed) continue
    journalChanges++
    const key = `${line.page}:${line.ts}`
    expected.set(key, apply(expected.get(key), line))
  }

  const ks = await opts.store.get<KeyspaceRecord>(keyspacePath(opts.keyspace))
  if (!ks) throw new ShardformError(`keyspace "${opts.keyspace}" does not exist in ${opts.store.url}`)
  let routing: TableRouting | undefined
  if (ks.value.sharded) {
    routing = tableRouting(ks.value.vschema, table)
    if (routing.kind !== 'sharded')
      throw new ShardformError(
        `table ${table} is not sharded by a vindex in keyspace ${opts.keyspace}; verify checks the guestbook table`,
      )
    if (routing.vindex.column !== 'page')
      throw new ShardformError(
        `table ${table} is sharded by ${routing.vindex.column}, not page; verify checks the guestbook layout`,
      )
  }
  const targets = await servingPrimaries(opts.store, opts.keyspace)

  const differences: Difference[] = []
  const note = (d: Difference) => {
    if (differences.length < maxDiff) differences.push(d)
  }
  let rowsRead = 0
  let unexpected = 0
  let misplacedUnknown = 0
  const shardRows: VerifyReport['shards'] = []
  const mysql = await import('mysql2')

  await Promise.all(
    targets.map(async ({shard, tablet}) => {
      const kr = keyRangeFromJSON(shard.keyRange)
      const conn = mysql.createConnection({...tabletOptions(tablet, 'admin'), database: tablet.database})
      conn.on('error', () => undefined) // surfaced through the stream
      let rows = 0
      try {
        // Streamed: memory holds the journal's keys, never a shard's rows.
        const stream = conn
          .query(`SELECT page, time_created_ns, message FROM ${qid(table)}`)
          .stream({highWaterMark: 1000})
        for await (const r of stream as AsyncIterable<{
          page: string
          time_created_ns: string
          message: string | null
        }>) {
          rows++
          const page = String(r.page)
          const ts = String(r.time_created_ns)
          const key = `${page}:${ts}`
          const placed = !routing || routing.kind !== 'sharded' || keyRangeContains(kr, routing.vindex.fn(page))
          const e = expected.get(key)
          if (!e) {
            unexpected++
            if (!placed) {
              misplacedUnknown++
              note({
                kind: 'misplaced',
                page,
                ts,
                shards: [shard.name],
                detail: `a row in no journal sits in shard ${shard.name}, whose key range does not hold its keyspace id ${ksid(routing, page)}`,
              })
            } else if (opts.strict) {
              note({
                kind: 'unexpected',
                page,
                ts,
                shards: [shard.name],
                detail: `in shard ${shard.name} but in no journal`,
              })
            }
            continue
          }
          ;(e.seen ??= []).push(shard.name)
          if (!placed) {
            e.misplaced = true
            note({
              kind: 'misplaced',
              page,
              ts,
              shards: [shard.name],
              detail: `in shard ${shard.name}, whose key range does not hold its keyspace id ${ksid(routing, page)}`,
            })
          }
          if (e.presentOk && !e.hashes.includes(messageHash(r.message))) e.wrong = true
        }
      } catch (err) {
        throw new ShardformError(
          `reading ${table} from tablet ${tablet.alias} (shard ${shard.name}) failed: ${errorMessage(err)}`,
        )
      } finally {
        conn.destroy()
      }
      shardRows.push({shard: shard.name, tablet: tablet.alias, rows})
      rowsRead += rows
    }),
  )

  const counts: VerifyCounts = {
    journalChanges,
    keys: expected.size,
    expected: 0,
    deleted: 0,
    uncertain: 0,
    rowsRead,
    present: 0,
    missing: 0,
    duplicated: 0,
    misplaced: misplacedUnknown,
    wrongContent: 0,
    notDeleted: 0,
    unexpected,
  }
  for (const [key, e] of expected) {
    const [page, ts] = key.split(':') as [string, string]
    const seen = e.seen ?? []
    if (e.uncertain) counts.uncertain++
    else if (e.presentOk) counts.expected++
    else counts.deleted++
    let bad = false
    if (seen.length === 0) {
      if (!e.absentOk) {
        counts.missing++
        note({kind: 'missing', page, ts, shards: [], detail: 'acknowledged, but in no serving shard'})
      }
      continue
    }
    if (!e.presentOk) {
      counts.notDeleted++
      note({
        kind: 'not_deleted',
        page,
        ts,
        shards: seen,
        detail: `deleted (acknowledged), still in shard ${seen.join(', ')}`,
      })
      continue
    }
    if (seen.length > 1) {
      counts.duplicated++
      bad = true
      note({
        kind: 'duplicated',
        page,
        ts,
        shards: seen,
        detail: `present ${seen.length} times, in shards ${seen.join(', ')}`,
      })
    }
    if (e.misplaced) {
      counts.misplaced++
      bad = true
    }
    if (e.wrong) {
      counts.wrongContent++
      bad = true
      note({
        kind: 'wrong_content',
        page,
        ts,
        shards: seen,
        detail: `message differs from the last acknowledged one (shard ${seen.join(', ')})`,
      })
    }
    if (!bad) counts.present++
  }
  shardRows.sort((a, b) => a.shard.localeCompare(b.shard))
  const problems =
    counts.missing +
    counts.duplicated +
    counts.misplaced +
    counts.wrongContent +
    counts.notDeleted +
    (opts.strict ? counts.unexpected : 0)
  return {
    keyspace: opts.keyspace,
    table,
    journal: opts.journalFile,
    shards: shardRows,
    counts,
    differences,
    ok: problems === 0,
  }
}

function ksid(routing: TableRouting | undefined, page: string): string {
  return routing?.kind === 'sharded' ? routing.vindex.fn(page).toString('hex') : '-'
}

/** The report as text: counts, then the first differences. */
export function renderVerifyReport(r: VerifyReport): string {
  const c = r.counts
  const lines = [
    `Verified ${r.journal} against keyspace ${r.keyspace} (${r.shards.map((s) => `${s.shard}: ${s.rows} rows on ${s.tablet}`).join(', ')}):`,
    `  journal: ${c.journalChanges} acknowledged changes over ${c.keys} keys — ${c.expected} expected present, ${c.deleted} deleted, ${c.uncertain} uncertain`,
    `  present ${c.present}, missing ${c.missing}, duplicated ${c.duplicated}, misplaced ${c.misplaced}, wrong content ${c.wrongContent}, deleted but present ${c.notDeleted}, unexpected ${c.unexpected}${c.unexpected ? ' (rows in no journal: other clients?)' : ''}`,
  ]
  if (r.differences.length) {
    lines.push(`First ${r.differences.length} difference(s):`)
    for (const d of r.differences)
      lines.push(`  ${d.kind.padEnd(13)} page=${d.page} time_created_ns=${d.ts}: ${d.detail}`)
  }
  lines.push(
    r.ok
      ? 'OK: every acknowledged change is there, once, in the right shard.'
      : 'FAILED: the shards do not hold what the journal acknowledged.',
  )
  return lines.join('\n')
}
