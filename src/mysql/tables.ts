// What the data plane needs to know of a database: its tables (columns, primary key, CREATE statement) and views.
import type {Connection} from 'mysql2/promise'
import {qid} from './connect.js'

export interface ColumnInfo {
  name: string
  /** information_schema DATA_TYPE, lower case: int, bigint, varchar, float, … */
  dataType: string
  /** Full COLUMN_TYPE, e.g. "bigint(20) unsigned". */
  columnType: string
  charset: string | null
  nullable: boolean
  generated: boolean
}

export interface TableInfo {
  name: string
  columns: ColumnInfo[]
  /** Primary key column names, in key order. */
  primaryKey: string[]
  create: string
}

export interface ViewInfo {
  name: string
  /** Without definer and SQL SECURITY: what must match between copies. */
  create: string
  /** The statement as the source has it (definer included). */
  original: string
}

export interface SchemaInfo {
  tables: TableInfo[]
  views: ViewInfo[]
  /** Names of triggers (shardform refuses to reshard tables with triggers). */
  triggers: Array<{name: string; table: string}>
}

const INTEGER = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'year'])
const EXACT_NUMERIC = new Set([...INTEGER, 'decimal', 'numeric'])
const APPROX = new Set(['float', 'double', 'real'])
const BINARY = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'bit',
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
])

export const isIntegerColumn = (c: ColumnInfo) => INTEGER.has(c.dataType)
/** Columns whose SQL literal is a bare number (exact). */
export const isNumericColumn = (c: ColumnInfo) => EXACT_NUMERIC.has(c.dataType) || APPROX.has(c.dataType)
export const isFloatColumn = (c: ColumnInfo) => c.dataType === 'float'
export const isBinaryColumn = (c: ColumnInfo) => BINARY.has(c.dataType)
/** A text column whose bytes differ from its utf8mb4 text (the vindex must see utf8mb4, as Vitess does). */
export const needsUtf8Conversion = (c: ColumnInfo) =>
  c.charset !== null && c.charset !== 'utf8mb4' && c.charset !== 'binary' && !isBinaryColumn(c)

type Row = Record<string, unknown>

function str(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
}

/** Tables and views of `database`, with columns and primary keys. One round trip per kind, not per table. */
export async function describeSchema(conn: Connection, database: string): Promise<SchemaInfo> {
  const [tablesRows] = (await conn.query(
    'SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
    [database],
  )) as unknown as [Row[]]
  const [colRows] = (await conn.query(
    'SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, IS_NULLABLE, EXTRA, ORDINAL_POSITION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION',
    [database],
  )) as unknown as [Row[]]
  const [keyRows] = (await conn.query(
    "SELECT TABLE_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX",
    [database],
  )) as unknown as [Row[]]
  const [trigRows] = (await conn.query(
    'SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME',
    [database],
  )) as unknown as [Row[]]
  const triggers = trigRows.map((r) => ({name: str(r.TRIGGER_NAME), table: str(r.EVENT_OBJECT_TABLE)}))
  const tables: TableInfo[] = []
  const views: ViewInfo[] = []
  for (const t of tablesRows) {
    const name = str(t.TABLE_NAME)
    if (str(t.TABLE_TYPE) === 'VIEW') {
      const [[row]] = (await conn.query(`SHOW CREATE VIEW ${qid(database)}.${qid(name)}`)) as unknown as [Row[]]
      views.push({name, create: normalizeView(str(row['Create View'])), original: str(row['Create View'])})
      continue
    }
    const [[row]] = (await conn.query(`SHOW CREATE TABLE ${qid(database)}.${qid(name)}`)) as unknown as [Row[]]
    tables.push({
      name,
      columns: colRows
        .filter((c) => str(c.TABLE_NAME) === name)
        .map((c) => ({
          name: str(c.COLUMN_NAME),
          dataType: str(c.DATA_TYPE).toLowerCase(),
          columnType: str(c.COLUMN_TYPE).toLowerCase(),
          charset: c.CHARACTER_SET_NAME === null ? null : str(c.CHARACTER_SET_NAME),
          nullable: str(c.IS_NULLABLE) === 'YES',
          generated: /VIRTUAL|PERSISTENT|STORED/i.test(str(c.EXTRA)),
        })),
      primaryKey: keyRows.filter((k) => str(k.TABLE_NAME) === name).map((k) => str(k.COLUMN_NAME)),
      create: normalizeTable(str(row['Create Table'])),
    })
  }
  return {tables, views, triggers}
}

/** CREATE TABLE text without what legitimately differs between copies (the AUTO_INCREMENT counter). */
export function normalizeTable(create: string): string {
  return create.replace(/ AUTO_INCREMENT=\d+/, '')
}

/** CREATE VIEW text without the definer and security clause noise that differs between servers. */
export function normalizeView(create: string): string {
  return create.replace(/ DEFINER=`[^`]*`@`[^`]*`/, '').replace(/ SQL SECURITY (DEFINER|INVOKER)/, '')
}

/** The columns a copy reads and writes: stored ones (generated columns are computed by the destination). */
export function copyColumns(t: TableInfo): ColumnInfo[] {
  return t.columns.filter((c) => !c.generated)
}

/** SELECT list that reads every copy column losslessly (FLOAT through DOUBLE: its text form keeps only 6 digits). */
export function selectList(t: TableInfo): string {
  return copyColumns(t)
    .map((c) => (isFloatColumn(c) ? `CAST(${qid(c.name)} AS DOUBLE)` : qid(c.name)))
    .join(', ')
}
