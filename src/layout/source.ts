// A parsed YAML/JSON document that can say where a value is: file:line:col for every error.
import {closeSync, openSync, readSync} from 'node:fs'
import type {Document, LineCounter, Node, YAMLError} from 'yaml'
import {yamlPackage} from '../util/lazy.js'
import {ShardformError} from '../errors.js'
import {printable} from '../util/printable.js'

export type DocPath = Array<string | number>

export interface Problem {
  file: string
  line: number
  col: number
  path: DocPath
  message: string
}

const MAX_BYTES = 16 * 1024 * 1024

/** Beyond this many values the document is refused (aliases can make a small file expand enormously). */
const MAX_VALUES = 2_000_000

/** Deeper nesting is refused (a layout is a few levels deep; the validators recurse). */
const MAX_DEPTH = 100

/** Merge keys (`<<: *defaults`) as YAML 1.1 readers know them; a key twice is an error, not "the last one wins". */
const YAML_OPTIONS = {prettyErrors: false, uniqueKeys: true, merge: true} as const

type Located = {doc: Document; lines: LineCounter}

/**
 * The value comes from the `yaml` package, which keeps every node's position. JSON text (a large generated layout;
 * JSON is YAML) is read by JSON.parse instead, ~100x faster on a 4096-shard layout, and `yaml` parses it only when
 * a problem must be located.
 */
export class SourceDoc {
  private constructor(
    readonly file: string,
    private readonly text: string,
    readonly value: unknown,
    private located?: Located,
  ) {}

  /**
   * Read and parse; syntax problems are returned, not thrown, so they can be reported with the rest. A file that
   * cannot be read at all throws UnreadableFileError. At most MAX_BYTES are read, whatever the file is (a device such
   * as /dev/zero, a pipe): a hostile path cannot make the loader read forever.
   */
  static read(file: string, what = 'the layout'): {source?: SourceDoc; problems: Problem[]} {
    let bytes: Buffer | undefined
    try {
      bytes = readBounded(file, MAX_BYTES)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const why =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : code === 'EACCES'
              ? 'permission denied'
              : (err as Error).message
      throw new UnreadableFileError(file, why, what)
    }
    if (!bytes) {
      return {
        problems: [
          {
            file,
            line: 1,
            col: 1,
            path: [],
            message: `file is larger than ${MAX_BYTES / 1024 / 1024} MiB; a layout (or vschema) is a small text file`,
          },
        ],
      }
    }
    let text: string
    try {
      text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
    } catch {
      const at = firstInvalidUtf8(bytes)
      const before = bytes.subarray(0, at).toString('utf8')
      const line = before.split('\n').length
      const col = before.length - before.lastIndexOf('\n')
      return {problems: [{file, line, col, path: [], message: 'the file is not valid UTF-8; save it as UTF-8 text'}]}
    }
    return SourceDoc.parse(file, text)
  }

  static parse(file: string, text: string): {source?: SourceDoc; problems: Problem[]} {
    const json = readJSON(text)
    if (json?.tooMany) return {problems: [{file, line: 1, col: 1, path: [], message: TOO_MANY}]}
    if (json) return {source: new SourceDoc(file, text, json.value), problems: []}
    const tooDeep = flowTooDeep(text)
    if (tooDeep >= 0) {
      const before = text.slice(0, tooDeep)
      const line = before.split('\n').length
      return {problems: [{file, line, col: tooDeep - before.lastIndexOf('\n'), path: [], message: TOO_DEEP}]}
    }
    const {LineCounter, parseDocument} = yamlPackage()
    const lines = new LineCounter()
    const doc = parseDocument(text, {...YAML_OPTIONS, lineCounter: lines})
    const errors = [...doc.errors, ...doc.warnings]
    if (errors.length) return {problems: syntaxProblems(file, errors, lines)}
    const at = (message: string, offset = 0): Problem => ({file, ...lines.linePos(offset), path: [], message})
    let value: unknown
    try {
      // Aliases resolve to the same object, so expanding them costs nothing here; the count below bounds them.
      value = doc.toJS({maxAliasCount: -1})
    } catch (err) {
      // An alias with no anchor before it, a merge key on a scalar: found by building the value, not by parsing.
      const message = err instanceof RangeError ? TOO_DEEP : (err as Error).message.split('\n')[0]
      return {problems: [at(message, culprit(doc)?.range?.[0])]}
    }
    const source = new SourceDoc(file, text, value, {doc, lines})
    const shape = measure(value)
    if (shape.values >= MAX_VALUES) return {problems: [at(TOO_MANY)]}
    if (shape.deep) return {problems: [{...source.problem(shape.deep, TOO_DEEP), path: []}]}
    return {source, problems: []}
  }

  private positions(): Located {
    if (!this.located) {
      const {LineCounter, parseDocument} = yamlPackage()
      const lines = new LineCounter()
      this.located = {doc: parseDocument(this.text, {...YAML_OPTIONS, lineCounter: lines}), lines}
    }
    return this.located
  }

  /** Position of the value at `path` (or of its key, when `key` is set); the closest existing ancestor otherwise. */
  locate(path: DocPath, key = false): {line: number; col: number} {
    const {doc, lines} = this.positions()
    const {isMap, isScalar, isSeq} = yamlPackage()
    let node: unknown = doc.contents
    let offset = (node as Node | null)?.range?.[0] ?? 0
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg))
        if (!pair) break
        const last = i === path.length - 1
        const keyNode = pair.key as Node | null
        if (last && key && keyNode?.range) {
          offset = keyNode.range[0]
          break
        }
        node = pair.value
        offset = (node as Node | null)?.range?.[0] ?? keyNode?.range?.[0] ?? offset
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg]
        offset = (node as Node | null)?.range?.[0] ?? offset
      } else break
    }
    return lines.linePos(offset)
  }

  problem(path: DocPath, message: string, key = false): Problem {
    const {line, col} = this.locate(path, key)
    return {file: this.file, line, col, path, message}
  }
}

/** A file that cannot be read at all (missing, a directory, no permission). */
export class UnreadableFileError extends ShardformError {
  override name = 'UnreadableFileError'
  constructor(
    readonly file: string,
    readonly why: string,
    what: string,
  ) {
    super(`${file}: cannot read ${what}: ${why}.`, {code: 'file'})
  }
}

/** The whole file, or undefined when it holds more than `max` bytes. */
function readBounded(file: string, max: number): Buffer | undefined {
  const fd = openSync(file, 'r')
  try {
    const chunks: Buffer[] = []
    let total = 0
    const buf = Buffer.allocUnsafe(64 * 1024)
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      total += n
      if (total > max) return undefined
      chunks.push(Buffer.from(buf.subarray(0, n)))
    }
    return Buffer.concat(chunks, total)
  } finally {
    closeSync(fd)
  }
}

/** The parser's errors and warnings (an unknown tag, say) at their positions; one line for nesting it cannot follow. */
function syntaxProblems(file: string, errors: YAMLError[], lines: LineCounter): Problem[] {
  const problem = (e: YAMLError, message: string): Problem => ({file, ...lines.linePos(e.pos[0]), path: [], message})
  const deep = errors.find((e) => e.message.includes('Maximum call stack size exceeded'))
  if (deep) return [problem(deep, TOO_DEEP)]
  return errors.map((e) => problem(e, e.message.split('\n')[0]))
}

/**
 * Where flow collections (`[`, `{`) first nest deeper than MAX_DEPTH, or -1. Checked before parsing: `yaml` recurses
 * per level and takes ~0.5 s to recover from stack overflows in a file nested 100k deep. Brackets in quoted scalars
 * and comments do not count; those in plain scalars do (hundreds of unbalanced ones are no layout either).
 */
function flowTooDeep(text: string): number {
  let depth = 0
  const skipTo = (from: number, close: string, escape: boolean): number => {
    let i = from + 1
    while (i < text.length && text[i] !== close) i += escape && text[i] === '\\' ? 2 : 1
    return i
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '[' || c === '{') {
      if (++depth > MAX_DEPTH) return i
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1)
    else if (c === '"') i = skipTo(i, '"', true)
    else if (c === "'") i = skipTo(i, "'", false)
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) i = skipTo(i, '\n', false)
  }
  return -1
}

/** The innermost node whose value cannot be built (the error toJS threw is about it or one of its own items). */
function culprit(doc: Document): Node | undefined {
  const {isCollection, isNode, isPair} = yamlPackage()
  const fails = (n: Node) => {
    try {
      n.toJS(doc, {maxAliasCount: -1})
      return false
    } catch {
      return true
    }
  }
  let node = doc.contents ?? undefined
  descend: while (isCollection(node)) {
    for (const item of node.items as unknown[]) {
      for (const part of isPair(item) ? [item.key, item.value] : [item]) {
        if (isNode(part) && fails(part)) {
          node = part
          continue descend
        }
      }
    }
    break
  }
  return node
}

const TOO_DEEP = `the document is nested too deeply (more than ${MAX_DEPTH} levels); a layout is a few levels deep`
const TOO_MANY = `the document expands to more than ${MAX_VALUES} values (through aliases?); a layout is small`

/**
 * JSON text read by JSON.parse, or undefined to leave it to `yaml` (which says where the problem is): text that is not
 * JSON, that writes a key twice in one object (JSON.parse would keep the last silently) or that nests too deep.
 */
function readJSON(text: string): {value: unknown; tooMany?: true} | undefined {
  if (!/^\s*\{/.test(text)) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const shape = measure(value)
  if (shape.values >= MAX_VALUES) return {value, tooMany: true}
  if (shape.deep || shape.keys !== keysInJSON(text)) return undefined
  return {value}
}

/**
 * An upper bound of the object keys JSON text writes: every key's closing quote is followed by a colon, and only a
 * string value holding `\":` adds more. Equal to the keys of the parsed value exactly when no key was written twice.
 */
function keysInJSON(text: string): number {
  const keyEnd = /"\s*:/g
  let n = 0
  while (keyEnd.test(text)) n++
  return n
}

/**
 * Values (shared subtrees count each time they are reached, as a validator would walk them; counting stops at
 * MAX_VALUES), object keys, and the path of a value nested deeper than MAX_DEPTH if there is one.
 */
function measure(root: unknown): {values: number; keys: number; deep?: DocPath} {
  let values = 0
  let keys = 0
  const stack: unknown[] = [root]
  const depths: number[] = [0]
  while (stack.length && values < MAX_VALUES) {
    const value = stack.pop()
    const depth = depths.pop()!
    values++
    if (value === null || typeof value !== 'object') continue
    if (depth >= MAX_DEPTH) return {values, keys, deep: deepPath(root)}
    const items = Array.isArray(value) ? value : Object.values(value)
    if (!Array.isArray(value)) keys += items.length
    for (const item of items) {
      stack.push(item)
      depths.push(depth + 1)
    }
  }
  return {values, keys}
}

/** The path to the first collection nested MAX_DEPTH deep (there is one: measure found it). */
function deepPath(root: unknown): DocPath {
  const stack: Array<{value: unknown; path: DocPath}> = [{value: root, path: []}]
  for (;;) {
    const {value, path} = stack.pop()!
    if (value === null || typeof value !== 'object') continue
    if (path.length >= MAX_DEPTH) return path
    for (const [seg, item] of Array.isArray(value) ? value.entries() : Object.entries(value))
      stack.push({value: item, path: [...path, seg]})
  }
}

/** Offset of the first byte that does not start a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Buffer): number {
  const dec = new TextDecoder('utf-8', {fatal: true})
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0
    if (n === 0 || i + n > bytes.length) return i
    try {
      dec.decode(bytes.subarray(i, i + n))
    } catch {
      return i
    }
    i += n
  }
  return i
}

/** `shards["-80"].tablets[0].port` */
export function formatPath(path: DocPath): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out ? `.${seg}` : seg
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}

export function formatProblem(p: Problem): string {
  const where = p.path.length ? `${formatPath(p.path)}: ` : ''
  return printable(`${p.file}:${p.line}:${p.col}: ${where}${p.message}`)
}

const MAX_SHOWN = 20

export function formatProblems(problems: Problem[]): string {
  const shown = problems.slice(0, MAX_SHOWN).map(formatProblem)
  if (problems.length > MAX_SHOWN) shown.push(`… and ${problems.length - MAX_SHOWN} more`)
  const noun = problems.length === 1 ? 'a problem' : `${problems.length} problems`
  return `${shown.join('\n')}\nThe layout has ${noun}; fix ${problems.length === 1 ? 'it' : 'them'} and run the command again.`
}
