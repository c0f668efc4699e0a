// Packages needed only on some paths (an error to locate, a diff to print), loaded on first use so that every CLI
// start does not pay for them. They ship CommonJS builds, which `require` loads synchronously.
import {createRequire} from 'node:module'

const require = createRequire(import.meta.url)

export const yamlPackage = once(() => require('yaml') as typeof import('yaml'))
export const diffPackage = once(() => require('diff') as typeof import('diff'))

function once<T>(load: () => T): () => T {
  let value: T | undefined
  return () => (value ??= load())
}
