// Server settings the data plane depends on: version, binary log, GTIDs, LOAD DATA LOCAL, binlog retention.
import type {PreflightCheck} from '../plan/types.js'

export type Variables = Record<string, string>

export interface ServerVersion {
  flavor: 'MariaDB' | 'MySQL'
  major: number
  minor: number
  text: string
}

/** VERSION(): "10.11.19-MariaDB-0+deb12u1" or "8.0.36". */
export function parseVersion(text: string): ServerVersion | undefined {
  const m = /^(\d+)\.(\d+)\.\d+/.exec(text)
  if (!m) return undefined
  return {flavor: /mariadb/i.test(text) ? 'MariaDB' : 'MySQL', major: Number(m[1]), minor: Number(m[2]), text}
}

const versionName = (v: ServerVersion) => `${v.flavor} ${v.major}.${v.minor}`

export function checkVersion(alias: string, text: string | undefined): PreflightCheck {
  const base = {id: 'version', target: alias}
  const v = text ? parseVersion(text) : undefined
  if (!v) return {...base, status: 'warn', summary: `unrecognised server version "${text ?? ''}"`}
  const ok = v.flavor === 'MariaDB' ? v.major > 10 || (v.major === 10 && v.minor >= 6) : v.major >= 8
  if (ok) return {...base, status: 'pass', summary: `${v.flavor} ${v.text.split('-')[0]}`}
  return {
    ...base,
    status: 'fail',
    summary: `${versionName(v)} is too old: shardform needs MariaDB 10.6 or later, or MySQL 8`,
    fix: 'upgrade the server to MariaDB ≥ 10.6 (or MySQL 8) before resharding',
  }
}

/** Every tablet of the plan on one flavor (GTIDs differ), ideally one version. */
export function checkVersionsMatch(versions: Array<{alias: string; text: string}>): PreflightCheck | undefined {
  const parsed = versions.map((v) => ({alias: v.alias, v: parseVersion(v.text)})).filter((x) => x.v)
  if (parsed.length < 2) return undefined
  const byName = new Map<string, string[]>()
  for (const {alias, v} of parsed) byName.set(versionName(v!), [...(byName.get(versionName(v!)) ?? []), alias])
  const base = {id: 'versions_match', target: 'all tablets'}
  if (byName.size === 1) return {...base, status: 'pass', summary: `every tablet runs ${[...byName.keys()][0]}`}
  const list = [...byName].map(([n, as]) => `${n} (${as.join(', ')})`).join('; ')
  const flavors = new Set(parsed.map((x) => x.v!.flavor))
  if (flavors.size > 1)
    return {
      ...base,
      status: 'fail',
      summary: `MariaDB and MySQL mixed: ${list}; their GTIDs and binary logs differ`,
      fix: 'put every shard of the keyspace on one server flavor',
    }
  return {
    ...base,
    status: 'warn',
    summary: `different server versions: ${list}`,
    fix: 'upgrade the older servers, or check that the schema means the same on both versions',
  }
}

const on = (v: string | undefined) => v === 'ON' || v === '1'

/** A setting that must have one value: fail (or warn) with the SET GLOBAL and my.cnf line that fix it. */
function expect(
  vars: Variables,
  alias: string,
  id: string,
  name: string,
  want: string,
  why: string,
  status: 'fail' | 'warn' = 'fail',
): PreflightCheck | undefined {
  if (!(name in vars)) return undefined
  const have = vars[name]!
  if (have.toUpperCase() === want) return {id, target: alias, status: 'pass', summary: `${name}=${want}`}
  return {
    id,
    target: alias,
    status,
    summary: `${name} is ${have}: ${why}`,
    fix: `SET GLOBAL ${name} = '${want}'; and ${name}=${want} under [mariadbd] in my.cnf (connections already open keep the old value)`,
  }
}

/**
 * The binary log of a primary: on, ROW, FULL images (filtered replication reads it on the sources, reverse
 * replication on the destinations after the cutover), GTIDs kept strictly.
 */
export function checkBinlog(
  alias: string,
  vars: Variables,
  flavor: ServerVersion['flavor'] | undefined,
): PreflightCheck[] {
  if (!on(vars.log_bin))
    return [
      {
        id: 'log_bin',
        target: alias,
        status: 'fail',
        summary: 'the binary log is off: filtered replication reads row changes from it',
        fix: 'log_bin=binlog under [mariadbd] in my.cnf, then restart the server (log_bin cannot change at runtime)',
      },
    ]
  const out: Array<PreflightCheck | undefined> = [
    {id: 'log_bin', target: alias, status: 'pass', summary: 'the binary log is on'},
    expect(vars, alias, 'binlog_format', 'binlog_format', 'ROW', 'filtered replication reads row events only'),
    expect(
      vars,
      alias,
      'binlog_row_image',
      'binlog_row_image',
      'FULL',
      'row events must carry every column (keyspace ids, primary keys)',
    ),
    flavor === 'MySQL'
      ? undefined
      : expect(
          vars,
          alias,
          'binlog_row_metadata',
          'binlog_row_metadata',
          'FULL',
          'the binlog reader then takes column names from information_schema instead of the events',
          'warn',
        ),
    checkGtid(alias, vars, flavor),
  ]
  return out.filter((c): c is PreflightCheck => !!c)
}

function checkGtid(alias: string, vars: Variables, flavor: ServerVersion['flavor'] | undefined): PreflightCheck {
  const base = {id: 'gtid', target: alias}
  if (flavor === 'MySQL') {
    const bad = ['gtid_mode', 'enforce_gtid_consistency'].filter((n) => !on(vars[n]))
    if (!bad.length) return {...base, status: 'pass', summary: 'gtid_mode=ON, enforce_gtid_consistency=ON'}
    return {
      ...base,
      status: 'fail',
      summary: `${bad.join(' and ')} not ON: positions are GTIDs`,
      fix: `${bad.map((n) => `${n}=ON`).join(', ')} in my.cnf (gtid_mode changes online only step by step)`,
    }
  }
  const bad = ['gtid_strict_mode', 'log_slave_updates'].filter((n) => n in vars && !on(vars[n]))
  if (!bad.length) return {...base, status: 'pass', summary: 'gtid_strict_mode=ON, log_slave_updates=ON'}
  return {
    ...base,
    status: 'warn',
    summary: `${bad.join(' and ')} off: GTID positions are only exact with strict ordering and every transaction logged`,
    fix: bad
      .map((n) =>
        n === 'gtid_strict_mode'
          ? 'SET GLOBAL gtid_strict_mode = 1; and gtid_strict_mode=1 in my.cnf'
          : 'log_slave_updates=1 in my.cnf, then restart',
      )
      .join('; '),
  }
}

/** copy writes with LOAD DATA LOCAL INFILE on destination primaries. */
export function checkLocalInfile(alias: string, vars: Variables): PreflightCheck | undefined {
  if (!('local_infile' in vars)) return undefined
  if (on(vars.local_infile)) return {id: 'local_infile', target: alias, status: 'pass', summary: 'local_infile=ON'}
  return {
    id: 'local_infile',
    target: alias,
    status: 'fail',
    summary: 'local_infile is OFF: the copy writes rows with LOAD DATA LOCAL INFILE',
    fix: 'SET GLOBAL local_infile = 1; and local_infile=1 under [mariadbd] in my.cnf',
  }
}

/** Seconds binary logs are kept (0 = never purged by age): binlog_expire_logs_seconds, else expire_logs_days. */
export function retentionSeconds(vars: Variables): number {
  const secs = Number(vars.binlog_expire_logs_seconds ?? 0)
  if (secs > 0) return secs
  return Math.round(Number(vars.expire_logs_days ?? 0) * 86400)
}

const DAY = 86400

export function humanSeconds(s: number): string {
  if (s < 120) return `${s} s`
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`
  if (s < 2 * DAY) return `${Math.round(s / 360) / 10} h`
  return `${Math.round(s / 8640) / 10} days`
}

/**
 * A source's binary logs must outlive the reshard: filtered replication starts at the clone's snapshot and only reads
 * while apply runs (a gate left waiting overnight with apply stopped lets them age). Fail below the estimate; warn
 * below twice the estimate or a day.
 */
export function checkRetention(alias: string, retention: number, estimateSeconds: number): PreflightCheck {
  const base = {id: 'binlog_retention', target: alias}
  const estimate = `the reshard is estimated at ${humanSeconds(estimateSeconds)}`
  if (retention === 0) return {...base, status: 'pass', summary: 'binary logs are not purged by age'}
  const want = Math.ceil(Math.max(2 * estimateSeconds, DAY) / DAY) * DAY
  const fix = `SET GLOBAL binlog_expire_logs_seconds = ${want}; and binlog_expire_logs_seconds=${want} in my.cnf`
  if (retention < estimateSeconds)
    return {
      ...base,
      status: 'fail',
      summary: `binary logs are kept ${humanSeconds(retention)} but ${estimate}: they would be purged before filtered replication reads them`,
      fix,
    }
  if (retention < want)
    return {
      ...base,
      status: 'warn',
      summary: `binary logs are kept ${humanSeconds(retention)}; ${estimate}, and gates may wait longer`,
      fix,
    }
  return {...base, status: 'pass', summary: `binary logs are kept ${humanSeconds(retention)}; ${estimate}`}
}
