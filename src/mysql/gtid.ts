// MariaDB GTID positions: "domain-server-seq[,…]", one entry per replication domain.

export interface GtidEntry {
  domain: number
  server: number
  seq: bigint
}

export type GtidPos = Map<number, GtidEntry>

export function parseGtidPos(text: string): GtidPos {
  const pos: GtidPos = new Map()
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part)
    if (!m) throw new Error(`not a MariaDB GTID position: "${text}"`)
    pos.set(Number(m[1]), {domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3])})
  }
  return pos
}

export function formatGtidPos(pos: GtidPos): string {
  return [...pos.values()]
    .sort((a, b) => a.domain - b.domain)
    .map((e) => `${e.domain}-${e.server}-${e.seq}`)
    .join(',')
}

/** Does position `a` include everything up to and including transaction `gtid`? */
export function covers(a: GtidPos, gtid: string): boolean {
  const [d, , s] = gtid.split('-')
  const e = a.get(Number(d))
  return e !== undefined && e.seq >= BigInt(s)
}

/** Has `a` reached `b` in every domain of `b`? (Sequence numbers grow per domain in strict mode.) */
export function reached(a: GtidPos, b: GtidPos): boolean {
  for (const e of b.values()) {
    const x = a.get(e.domain)
    if (!x || x.seq < e.seq) return false
  }
  return true
}

/** Transactions of `b` not yet in `a` (sum over domains; 0 when `a` has reached `b`). */
export function behind(a: GtidPos, b: GtidPos): bigint {
  let n = 0n
  for (const e of b.values()) {
    const x = a.get(e.domain)?.seq ?? 0n
    if (e.seq > x) n += e.seq - x
  }
  return n
}

/** `pos` advanced by one transaction. */
export function advance(pos: GtidPos, gtid: string): GtidPos {
  return advanceInPlace(new Map(pos), gtid)
}

/** `pos` itself advanced by one transaction: for a position its holder alone refers to (a batch's running end). */
export function advanceInPlace(pos: GtidPos, gtid: string): GtidPos {
  const [d, srv, s] = gtid.split('-')
  pos.set(Number(d), {domain: Number(d), server: Number(srv), seq: BigInt(s)})
  return pos
}
