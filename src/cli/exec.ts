import {Args, Flags} from '@oclif/core'
import {ShardformError} from '../errors.js'
import type {TabletRecord} from '../topo/records.js'
import {table} from '../util/table.js'
import {BaseCommand} from './base.js'

/** A cell as text: NULL, binary as 0x…, everything else as the server sent it (lossless strings). */
function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  if (Buffer.isBuffer(v)) return `0x${v.toString('hex')}`
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

function jsonCell(v: unknown): unknown {
  if (v === undefined) return null
  if (Buffer.isBuffer(v)) return `0x${v.toString('hex')}`
  return v
}

export default class Exec extends BaseCommand {
  static override summary =
    "Run SQL on one tablet as shardform's admin user (Vitess's ExecuteFetchAsDba) and print the result."
  static override description = `Connects to the tablet named in the topology, in its keyspace's database, with the admin user's password
from the variable the tablet record names (or the credentials file). One statement per call.`
  static override examples = [
    '<%= config.bin %> exec test-100 "SELECT COUNT(*) FROM messages"',
    '<%= config.bin %> exec test-200 "SELECT * FROM messages LIMIT 5" --json',
    '<%= config.bin %> exec test-100 "SELECT CURRENT_USER()" --app',
  ]
  static override args = {
    tablet: Args.string({required: true, description: 'tablet alias, e.g. test-100'}),
    sql: Args.string({required: true, description: 'one SQL statement'}),
  }
  static override flags = {
    json: Flags.boolean({summary: 'Print JSON: {tablet, columns, rows} or {tablet, affectedRows, …}.'}),
    app: Flags.boolean({summary: "Run as the tablet's application user instead of the admin user."}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Exec)
    const store = await this.topo(flags.topo)
    const {tabletPath} = await import('../topo/paths.js')
    const rec = await store.get<TabletRecord>(tabletPath(args.tablet))
    if (!rec)
      throw new ShardformError(
        `tablet ${args.tablet} is not in the topology ${store.url}; see the tablets with: shardform topo show`,
      )
    const t = rec.value
    const {connectTablet} = await import('../mysql/connect.js')
    const conn = await connectTablet(t, flags.app ? 'app' : 'admin', {database: t.database})
    let result: unknown
    let fields: Array<{name: string}> | undefined
    try {
      ;[result, fields] = (await conn.query({sql: args.sql, rowsAsArray: true})) as unknown as [
        unknown,
        Array<{name: string}> | undefined,
      ]
    } catch (err) {
      const e = err as {code?: string; errno?: number; message: string}
      throw new ShardformError(
        `tablet ${t.alias} (${t.host}:${t.port}): ${e.message}${e.code ? ` (${e.code}${e.errno ? ` ${e.errno}` : ''})` : ''}`,
      )
    } finally {
      await conn.end().catch(() => undefined)
    }
    if (Array.isArray(result) && fields) {
      const columns = fields.map((f) => f.name)
      const rows = result as unknown[][]
      if (flags.json) return this.json({tablet: t.alias, columns, rows: rows.map((r) => r.map(jsonCell))})
      this.out(
        table(
          columns,
          rows.map((r) => r.map(cell)),
        ).trimEnd(),
      )
      this.out(
        `${rows.length} row${rows.length === 1 ? '' : 's'} from ${t.alias} (${t.keyspace}/${t.shard}, ${t.type})`,
      )
      return
    }
    const h = result as {affectedRows?: number; insertId?: number | string; info?: string; warningStatus?: number}
    if (flags.json)
      return this.json({
        tablet: t.alias,
        affectedRows: h.affectedRows ?? 0,
        insertId: h.insertId ?? 0,
        info: h.info ?? '',
        warnings: h.warningStatus ?? 0,
      })
    this.out(
      `OK on ${t.alias}: ${h.affectedRows ?? 0} row(s) affected${h.insertId && String(h.insertId) !== '0' ? `, insert id ${h.insertId}` : ''}${h.warningStatus ? `, ${h.warningStatus} warning(s)` : ''}${h.info ? ` (${h.info.trim()})` : ''}`,
    )
  }
}
