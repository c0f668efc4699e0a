// A parsed YAML/JSON document that can say where a value is: file:line:col for every error.
import {closeSync, openSync, readSync} from 'node:fs'
import {load} from 'js-yaml'
import type {Document, LineCounter, Node} from 'yaml'
import {yamlPackage} from '../util/lazy.js'
import {ShardformError} from '../errors.js'
import {parseSimpleYaml} from './fast-yaml.js'
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

/**
 * The value comes from fast-yaml.ts for plain layouts, from js-yaml for everything else (both about 10x faster than
 * `yaml` on large layouts); the `yaml` package, which keeps positions, parses the text again only when a problem must
 * be located.
 */
export class SourceDoc {
  private located?: {doc: Document; lines: LineCounter}

  private constructor(
    readonly file: string,
    private readonly text: string,
    readonly value: unknown,
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
    let value: unknown = parseSimpleYaml(text)
    // Without aliases every value takes at least a character of the text: only js-yaml's reading needs counting.
    const mayExpand = value === undefined || text.length >= MAX_VALUES
    try {
      value ??= load(text, {filename: file})
    } catch (err) {
      return {problems: slowSyntaxProblems(file, text, err)}
    }
    if (mayExpand && countValues(value, MAX_VALUES) >= MAX_VALUES) {
      return {
        problems: [
          {
            file,
            line: 1,
            col: 1,
            path: [],
            message: `the document expands to more than ${MAX_VALUES} values (through aliases?); a layout is small`,
          },
        ],
      }
    }
    return {source: new SourceDoc(file, text, value), problems: []}
  }

  private positions(): {doc: Document; lines: LineCounter} {
    if (!this.located) {
      const {LineCounter, parseDocument} = yamlPackage()
      const lines = new LineCounter()
      this.located = {doc: parseDocument(this.text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true}), lines}
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

/** Syntax errors, positioned by the `yaml` parser (clearer messages); js-yaml's own mark if that finds none. */
function slowSyntaxProblems(file: string, text: string, fastError: unknown): Problem[] {
  const fast = fastError as {reason?: string; message?: string; mark?: {line: number; column: number}}
  if (fastError instanceof RangeError || tooDeep(fast.reason ?? fast.message ?? '')) {
    // Nested past js-yaml's limit: say so where it noticed, without parsing the whole thing again (slow when huge).
    return [{file, line: (fast.mark?.line ?? 0) + 1, col: (fast.mark?.column ?? 0) + 1, path: [], message: TOO_DEEP}]
  }
  try {
    const {LineCounter, parseDocument} = yamlPackage()
    const lines = new LineCounter()
    const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
    const problems = [...doc.errors, ...doc.warnings].map((e) => {
      const pos = lines.linePos(e.pos[0])
      const message = e.message.split('\n')[0]
      return {file, line: pos.line, col: pos.col, path: [], message: tooDeep(message) ? TOO_DEEP : message}
    })
    if (problems.length) return problems
  } catch {
    // fall through to js-yaml's account
  }
  const message = (fast.reason ?? fast.message ?? String(fastError)).split('\n')[0]
  return [
    {
      file,
      line: (fast.mark?.line ?? 0) + 1,
      col: (fast.mark?.column ?? 0) + 1,
      path: [],
      message: tooDeep(message) ? TOO_DEEP : message,
    },
  ]
}

const TOO_DEEP = 'the document is nested too deeply (more than 100 levels); a layout is a few levels deep'

/** js-yaml's depth limit, or a parser that ran out of stack on deep nesting: one clear message for both. */
function tooDeep(message: string): boolean {
  return /Maximum call stack size exceeded|nesting exceeded maxDepth/i.test(message)
}

/** Count values, stopping at `cap` (shared subtrees count each time they are reached, as a validator would walk them). */
function countValues(root: unknown, cap: number): number {
  let n = 0
  const stack: unknown[] = [root]
  while (stack.length && n < cap) {
    const v = stack.pop()
    n++
    if (Array.isArray(v)) stack.push(...v)
    else if (v !== null && typeof v === 'object') stack.push(...Object.values(v))
  }
  return n
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
