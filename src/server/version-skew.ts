// Servers of different versions share a topology during a rolling upgrade. They work together on records whose format
// both read; a newer record format is left alone by the older servers (readable.ts). `server list` says when versions
// differ, and which servers to upgrade.
import {compareVersions} from '../util/version.js'

/** One line when the live servers run different versions (undefined when they all run the same). */
export function versionSkew(servers: {id: string; version: string}[]): string | undefined {
  const byVersion = new Map<string, string[]>()
  for (const s of servers) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s.id])
  if (byVersion.size < 2) return undefined
  const versions = [...byVersion.keys()].sort(compareVersions)
  const newest = versions.at(-1)!
  const older = versions.slice(0, -1).flatMap((v) => byVersion.get(v)!)
  return (
    `Servers run different shardform versions: ${versions.map((v) => `${v} (${byVersion.get(v)!.join(', ')})`).join(', ')}; ` +
    `a workflow written in a newer record format is left to the servers that read it: upgrade ${older.join(', ')} to ${newest}.`
  )
}
