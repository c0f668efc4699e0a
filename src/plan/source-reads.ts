// What clone and diff read on a source shard, as the plan states it: its rdonly (replication paused on purpose for the
// snapshot), else its primary (mysql/snapshot.ts, phases/diff-snapshot.ts); and the other replicas whose lag pauses
// them (phases/throttle.ts).
import type {TabletRecord} from '../topo/records.js'

/** The clone's snapshot: "snapshot on rdonly X (…)" or "consistent-snapshot transaction on primary Y". */
export function cloneSnapshotText(tablets: TabletRecord[]): string {
  const snap = tablets.find((t) => t.type === 'rdonly') ?? tablets.find((t) => t.type === 'primary')
  return snap?.type === 'rdonly'
    ? `snapshot on rdonly ${snap.alias} (replication paused during the copy)`
    : `consistent-snapshot transaction on primary ${snap?.alias ?? '?'}`
}

/** A diff source: "S (read on rdonly X)" or "S (read on its primary)". */
export function diffReadText(shard: string, tablets: TabletRecord[]): string {
  const rdonly = tablets.find((t) => t.type === 'rdonly')
  return rdonly ? `${shard} (read on rdonly ${rdonly.alias})` : `${shard} (read on its primary)`
}

/** "; pauses while A or B lags > Ns" for the replicas of these shards not read, or '' when nothing is watched. */
export function throttleText(shardTablets: TabletRecord[][], limitSeconds: number): string {
  const watched = shardTablets.flatMap((ts) => {
    const read = ts.find((t) => t.type === 'rdonly')
    return ts.filter((t) => (t.type === 'replica' || t.type === 'rdonly') && t !== read).map((t) => t.alias)
  })
  return limitSeconds > 0 && watched.length ? `; pauses while ${watched.join(' or ')} lags > ${limitSeconds}s` : ''
}
