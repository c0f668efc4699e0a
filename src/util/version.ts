// This shardform's version (package.json): recorded in what it writes to the topology, so another version reading it
// can say which one wrote it and what to upgrade to.
import {readFileSync} from 'node:fs'

/** src/util and dist/util both sit two levels below the package root. */
export const SHARDFORM_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}
).version

/** Compare dotted numeric versions ("0.10.1" > "0.9.3"); a pre-release suffix sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.replace(/^v/, '').split('-', 2) as [string, string | undefined]
    return {nums: core.split('.').map((x) => Number.parseInt(x, 10) || 0), pre}
  }
  const x = parse(a)
  const y = parse(b)
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0)
    if (d) return Math.sign(d)
  }
  if (x.pre === y.pre) return 0
  if (x.pre === undefined) return 1
  if (y.pre === undefined) return -1
  return x.pre < y.pre ? -1 : 1
}
