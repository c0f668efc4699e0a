// Versions of the workflow record. Every write stamps the record with its format (RECORD_FORMAT) and the shardform
// version that wrote it. A record in a newer format than this code knows is never run or changed here (its fields may
// mean what this version cannot tell): it is refused with the version that wrote it, the one to upgrade to. Records
// without a stamp (written before stamps, snake_case or camelCase: see record.ts) are read as they always were.
import {compareVersions, SHARDFORM_VERSION} from '../util/version.js'
import type {WorkflowRecord} from './types.js'
import {EngineError} from './workflow.js'

/** 1: camelCase fields (record.ts renames the older snake_case ones on read), stamped with formatVersion/writtenBy. */
export const RECORD_FORMAT = 1

/** Error code: the record was written in a newer format than this shardform reads. */
export const RECORD_TOO_NEW = 'engine.record_too_new'

export interface RecordStamp {
  /** The record format it was written in (RECORD_FORMAT of the writer). */
  formatVersion: number
  /** The shardform version of the last writer. */
  writtenBy: string
}

/** Stamp a record about to be written by this shardform. */
export function stampRecord(wf: WorkflowRecord, version = SHARDFORM_VERSION): void {
  Object.assign(wf, {formatVersion: RECORD_FORMAT, writtenBy: version} satisfies RecordStamp)
}

/** The stamp of a stored record, as far as it has one. */
export function stampOf(raw: unknown): {formatVersion?: unknown; writtenBy?: string} {
  if (typeof raw !== 'object' || raw === null) return {}
  const r = raw as Record<string, unknown>
  return {formatVersion: r.formatVersion, ...(typeof r.writtenBy === 'string' ? {writtenBy: r.writtenBy} : {})}
}

/**
 * Why this shardform must not run or change a stored record: its format is newer than RECORD_FORMAT, or its stamp is
 * not one any version writes. Undefined when it may (older formats and unstamped records included).
 */
export function newerRecordReason(
  raw: unknown,
  o: {reads?: number; version?: string; who?: string} = {},
): string | undefined {
  const reads = o.reads ?? RECORD_FORMAT
  const version = o.version ?? SHARDFORM_VERSION
  const {formatVersion, writtenBy} = stampOf(raw)
  if (formatVersion === undefined) return undefined
  if (!Number.isInteger(formatVersion) || (formatVersion as number) < 1)
    return `its record format ${JSON.stringify(formatVersion)} is not one shardform writes${writtenBy ? ` (written by shardform ${writtenBy})` : ''}`
  if ((formatVersion as number) <= reads) return undefined
  const by = writtenBy ? `shardform ${writtenBy}` : 'a newer shardform'
  const me = o.who ? `${o.who} (shardform ${version})` : `this shardform ${version}`
  const to =
    writtenBy && compareVersions(writtenBy, version) > 0
      ? `shardform ≥ ${writtenBy}`
      : `a shardform that reads record format ${String(formatVersion)}`
  return `it was written by ${by} in record format ${String(formatVersion)}, and ${me} reads formats up to ${reads}: upgrade ${o.who ? `${o.who} ` : ''}to ${to}`
}

/** Throw (RECORD_TOO_NEW) unless this shardform may run and change the record at `path`. */
export function assertRecordReadable(path: string, raw: unknown): void {
  const why = newerRecordReason(raw)
  if (!why) return
  const {writtenBy} = stampOf(raw)
  throw new EngineError(`workflow record ${path} is left alone: ${why}.`, {
    code: RECORD_TOO_NEW,
    hint: `Run this command with shardform${writtenBy ? ` ${writtenBy} or later` : ' of the version that wrote it'}; \`shardform status\` still shows the workflow.`,
  })
}
