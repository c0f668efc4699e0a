// `shardform schema load`: run a schema file on every serving primary of a keyspace, statement by statement.
import {ShardformError, errorMessage} from '../errors.js'
import {shardPath, srvKeyspacePath, keyspacePath, tabletPath} from '../topo/paths.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'
import {connectTablet} from './connect.js'

/**
 * Split SQL text into statements at `;` outside quotes ('…', "…", `…`) and comments (-- …, # …, /* … *\/).
 * Comments are kept inside statements (MariaDB executable comments matter); empty statements are dropped.
 * DELIMITER is not supported (stored programs): such a file is refused.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = []
  let start = 0
  let i = 0
  const n = sql.length
  while (i < n) {
    const c = sql[i]
    if (c === "'" || c === '"' || c === '`') {
      i++
      while (i < n && sql[i] !== c) i += sql[i] === '\\' && c !== '`' ? 2 : 1
      i++
    } else if (c === '-' && sql[i + 1] === '-' && (i + 2 >= n || /\s/.test(sql[i + 2]))) {
      while (i < n && sql[i] !== '\n') i++
    } else if (c === '#') {
      while (i < n && sql[i] !== '\n') i++
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? n : end + 2
    } else if (c === ';') {
      out.push(sql.slice(start, i))
      i++
      start = i
    } else {
      if ((i === 0 || sql[i - 1] === '\n') && /^delimiter\s/i.test(sql.slice(i, i + 10))) {
        throw new ShardformError(
          'DELIMITER is not supported in schema files (stored programs); create those separately',
        )
      }
      i++
    }
  }
  out.push(sql.slice(start))
  return out.filter((s) => stripComments(s).trim() !== '').map((s) => s.trim())
}

function stripComments(s: string): string {
  return s.replace(/\/\*(?!!)[\s\S]*?\*\//g, '').replace(/(^|\n)\s*(--\s|#)[^\n]*/g, '$1')
}

export interface SchemaLoadResult {
  shard: string
  tablet: string
  statements: number
  ms: number
  error?: string
}

/** The primary tablet of every shard serving primary traffic, in SrvKeyspace order. */
export async function servingPrimaries(
  store: TopoStore,
  keyspace: string,
): Promise<Array<{shard: ShardRecord; tablet: TabletRecord}>> {
  const ks = await store.get<KeyspaceRecord>(keyspacePath(keyspace))
  if (!ks)
    throw new ShardformError(
      `keyspace "${keyspace}" does not exist in ${store.url}; create it with: shardform topo init <layout>`,
    )
  const srv = await store.get<SrvKeyspaceRecord>(srvKeyspacePath(keyspace))
  const names = srv?.value.partitions.primary ?? []
  if (!names.length)
    throw new ShardformError(`keyspace "${keyspace}" has no shard serving primary traffic in ${store.url}`)
  return Promise.all(
    names.map(async (name) => {
      const shard = await store.get<ShardRecord>(shardPath(keyspace, name))
      if (!shard) throw new ShardformError(`SrvKeyspace of ${keyspace} lists shard ${name}, which has no Shard record`)
      if (!shard.value.primary) throw new ShardformError(`shard ${keyspace}/${name} has no primary tablet`)
      const tablet = await store.get<TabletRecord>(tabletPath(shard.value.primary))
      if (!tablet)
        throw new ShardformError(
          `shard ${keyspace}/${name} names primary ${shard.value.primary}, which has no Tablet record`,
        )
      return {shard: shard.value, tablet: tablet.value}
    }),
  )
}

/**
 * Run `sql` (one or more statements) on every serving primary of the keyspace as shardform's admin user, in its
 * database. Shards run in parallel; within one, statements run in order and the first failure stops that shard.
 */
export async function loadSchema(store: TopoStore, keyspace: string, sql: string): Promise<SchemaLoadResult[]> {
  const statements = splitStatements(sql)
  if (!statements.length) throw new ShardformError('the schema file holds no SQL statement')
  const targets = await servingPrimaries(store, keyspace)
  return Promise.all(
    targets.map(async ({shard, tablet}): Promise<SchemaLoadResult> => {
      const started = Date.now()
      let done = 0
      try {
        const conn = await connectTablet(tablet, 'admin', {database: tablet.database})
        try {
          for (const st of statements) {
            await conn.query(st)
            done++
          }
        } finally {
          await conn.end().catch(() => undefined)
        }
        return {shard: shard.name, tablet: tablet.alias, statements: done, ms: Date.now() - started}
      } catch (err) {
        const which =
          done < statements.length
            ? ` (statement ${done + 1}: ${statements[done].slice(0, 60).replace(/\s+/g, ' ')}…)`
            : ''
        return {
          shard: shard.name,
          tablet: tablet.alias,
          statements: done,
          ms: Date.now() - started,
          error: `${errorMessage(err)}${which}`,
        }
      }
    }),
  )
}
