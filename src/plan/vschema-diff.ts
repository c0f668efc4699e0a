import {diffPackage} from '../util/lazy.js'
import {canonicalJSON} from '../util/canonical.js'

/** Unified diff of two vschemas, pretty-printed with sorted keys so only real changes show. */
export function vschemaDiff(from: unknown, to: unknown): string {
  const a = JSON.stringify(JSON.parse(canonicalJSON(from)), null, 2) + '\n'
  const b = JSON.stringify(JSON.parse(canonicalJSON(to)), null, 2) + '\n'
  const patch = diffPackage().createTwoFilesPatch(
    'vschema (topology)',
    'vschema (layout)',
    a,
    b,
    undefined,
    undefined,
    {context: 3},
  )
  // Drop the "===" separator line and keep the ---/+++ headers and hunks.
  return patch
    .split('\n')
    .filter((l) => !/^=+$/.test(l))
    .join('\n')
    .trimEnd()
}
