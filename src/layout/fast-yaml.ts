// A fast reader for the plain YAML layouts are written in: block mappings and sequences, one-line flow collections,
// plain and quoted one-line scalars, comments. It gives up (returns undefined) at anything else — anchors, tags,
// block scalars, multi-line scalars or flows, duplicate keys, odd indentation — and the caller hands the text to
// js-yaml, which then reads it or reports the error. Where it does answer, the answer is js-yaml's (a differential
// fuzz test holds it to that). It exists for speed: js-yaml takes ~150 ms on a 4096-shard layout.
import {load} from 'js-yaml'

const UNSUPPORTED = new Error('outside the subset')
function giveUp(): never {
  throw UNSUPPORTED
}

/** Characters js-yaml refuses or that this reader leaves to it (tabs, CR, BOM, controls, surrogates). */
const OUTSIDE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\ud800-\udfff\ufeff\ufffe\uffff]/
const MAX_DEPTH = 64
const SPACE = 32
const HASH = 35
const COLON = 58
const DASH = 45

/** The document's value, or undefined when the text is outside the subset this reader handles. */
export function parseSimpleYaml(text: string): unknown {
  if (OUTSIDE.test(text)) return undefined
  try {
    const reader = new Reader(text)
    if (reader.count === 0) return undefined
    const value = reader.node(reader.indent[0], 0)
    return reader.at < reader.count ? undefined : value
  } catch {
    return undefined // outside the subset (or nested deep enough to exhaust the stack): js-yaml decides
  }
}

/**
 * Lines are kept as offsets into the text: `from` is where a line's content starts (after its indentation, or after
 * `- ` once a sequence item has been entered), `to` where it ends. Plain scalars in block context end at `: `, ` #` or
 * the end of the line.
 */
class Reader {
  readonly from: number[] = []
  readonly to: number[] = []
  readonly indent: number[] = []
  count = 0
  at = 0
  private pos = 0
  private end = 0
  private kind: 'plain' | 'quoted' | 'flow' = 'plain'
  private plainText = ''

  constructor(private readonly s: string) {
    let start = 0
    while (start <= s.length) {
      let stop = s.indexOf('\n', start)
      if (stop < 0) stop = s.length
      let c = start
      while (s.charCodeAt(c) === SPACE) c++
      if (c < stop && s.charCodeAt(c) !== HASH) {
        if (c === start && (s.startsWith('---', c) || s.startsWith('...', c) || s.charCodeAt(c) === 37) /* % */) {
          if (this.count > 0 || !s.startsWith('---', c) || s.slice(c + 3, stop).trim() !== '') giveUp()
        } else {
          this.from.push(c)
          this.to.push(stop)
          this.indent.push(c - start)
          this.count++
        }
      }
      start = stop + 1
    }
  }

  /** The block node starting at the current line, which is indented by exactly `indent`. */
  node(indent: number, depth: number): unknown {
    if (depth > MAX_DEPTH) giveUp()
    if (this.seqItem(this.at)) return this.sequence(indent, depth)
    this.line(this.at)
    const value = this.token(false, false, depth)
    if (this.keySeparator()) {
      if (this.kind === 'flow') giveUp()
      return this.mapping(indent, depth)
    }
    this.lineEnd()
    this.at++
    this.noContinuation(indent - 1)
    return value
  }

  private mapping(indent: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    while (this.at < this.count) {
      const ind = this.indent[this.at]
      if (ind < indent) break
      if (ind > indent || this.seqItem(this.at)) giveUp()
      this.line(this.at)
      const key = this.key()
      if (!this.keySeparator()) giveUp()
      if (Object.hasOwn(out, key)) giveUp() // js-yaml reports duplicate keys
      if (this.atLineEnd()) {
        this.at++
        if (this.at < this.count && this.indent[this.at] > indent) out[key] = this.node(this.indent[this.at], depth + 1)
        else if (this.at < this.count && this.indent[this.at] === indent && this.seqItem(this.at))
          out[key] = this.sequence(indent, depth + 1)
        else out[key] = null
      } else {
        out[key] = this.token(true, false, depth)
        this.lineEnd()
        this.at++
        this.noContinuation(indent)
      }
    }
    return out
  }

  private sequence(indent: number, depth: number): unknown[] {
    const out: unknown[] = []
    while (this.at < this.count) {
      const ind = this.indent[this.at]
      if (ind < indent) break
      if (ind > indent) giveUp()
      // A sequence written at its parent key's indentation ends where that mapping's next key starts.
      if (!this.seqItem(this.at)) break
      const s = this.s
      let c = this.from[this.at] + 1
      const stop = this.to[this.at]
      while (c < stop && s.charCodeAt(c) === SPACE) c++
      if (c === stop || s.charCodeAt(c) === HASH) {
        this.at++
        out.push(
          this.at < this.count && this.indent[this.at] > indent ? this.node(this.indent[this.at], depth + 1) : null,
        )
      } else {
        // `- key: value` starts a mapping whose keys line up with `key`: read the rest as a line of its own.
        const inner = indent + (c - this.from[this.at])
        this.from[this.at] = c
        this.indent[this.at] = inner
        out.push(this.node(inner, depth + 1))
      }
    }
    return out
  }

  /** A one-line value followed by a more indented line would be a multi-line scalar (or an error): not ours. */
  private noContinuation(indent: number): void {
    if (this.at < this.count && this.indent[this.at] > indent) giveUp()
  }

  private seqItem(i: number): boolean {
    const c = this.from[i]
    return this.s.charCodeAt(c) === DASH && (c + 1 === this.to[i] || this.s.charCodeAt(c + 1) === SPACE)
  }

  private line(i: number): void {
    this.pos = this.from[i]
    this.end = this.to[i]
  }

  private skipSpaces(): void {
    while (this.pos < this.end && this.s.charCodeAt(this.pos) === SPACE) this.pos++
  }

  /** Nothing but a comment left (`#` starts one only after a space: `a}#b` is an error). */
  private atLineEnd(): boolean {
    this.skipSpaces()
    return this.pos >= this.end || (this.s.charCodeAt(this.pos) === HASH && this.s.charCodeAt(this.pos - 1) === SPACE)
  }

  private lineEnd(): void {
    if (!this.atLineEnd()) giveUp()
  }

  /** After a key: `:` then a space or the end of the line. */
  private keySeparator(): boolean {
    this.skipSpaces()
    if (this.pos >= this.end || this.s.charCodeAt(this.pos) !== COLON) return false
    if (this.pos + 1 < this.end && this.s.charCodeAt(this.pos + 1) !== SPACE) return false
    this.pos++
    return true
  }

  /** js-yaml makes a string of every key; only keys that read back as written are taken here (`1.0` becomes "1"). */
  private key(flow = false): string {
    this.skipSpaces()
    const c = this.s.charCodeAt(this.pos)
    if (c === 123 || c === 91) giveUp() // a collection as a key
    const v = this.token(false, flow, 0)
    if (this.kind === 'quoted') return v as string
    if (
      (typeof v !== 'string' && (typeof v !== 'number' || String(v) !== this.plainText)) ||
      v === '__proto__' ||
      v === '<<'
    )
      giveUp()
    return String(v)
  }

  private token(value: boolean, flow: boolean, depth: number): unknown {
    this.skipSpaces()
    const s = this.s
    if (this.pos >= this.end) giveUp()
    const c = s.charCodeAt(this.pos)
    if (c === 34 /* " */) return ((this.kind = 'quoted'), this.doubleQuoted())
    if (c === 39 /* ' */) return ((this.kind = 'quoted'), this.singleQuoted())
    if (c === 123 /* { */ || c === 91 /* [ */) return ((this.kind = 'flow'), this.flow(depth))
    // Indicators js-yaml gives meaning to (anchors, tags, block scalars, reserved) or that cannot start a plain scalar.
    if ('&*!|>%@`#,]}'.includes(s[this.pos])) giveUp()
    if (
      (c === DASH || c === 63 /* ? */ || c === COLON) &&
      (this.pos + 1 >= this.end || ' ,[]{}'.includes(s[this.pos + 1]))
    )
      giveUp()
    this.kind = 'plain'
    this.plainText = flow ? this.flowPlain() : this.blockPlain(value)
    return resolvePlain(this.plainText)
  }

  private blockPlain(value: boolean): string {
    const s = this.s
    const start = this.pos
    let last = start // one past the last non-space character
    for (; this.pos < this.end; this.pos++) {
      const c = s.charCodeAt(this.pos)
      if (c === COLON && (this.pos + 1 === this.end || s.charCodeAt(this.pos + 1) === SPACE)) {
        if (value) giveUp() // `a: b: c` is an error js-yaml should report
        break
      }
      if (c === SPACE) continue
      if (c === HASH && s.charCodeAt(this.pos - 1) === SPACE) break
      last = this.pos + 1
    }
    return s.slice(start, last)
  }

  private flowPlain(): string {
    const s = this.s
    const start = this.pos
    let last = start
    for (; this.pos < this.end; this.pos++) {
      const c = s.charCodeAt(this.pos)
      if (c === 44 /* , */ || c === 93 /* ] */ || c === 125 /* } */) break
      if (c === COLON) {
        if (s.charCodeAt(this.pos + 1) === SPACE) break
        giveUp()
      }
      if (c === 91 || c === 123 || c === HASH) giveUp()
      if (c !== SPACE) last = this.pos + 1
    }
    return s.slice(start, last)
  }

  private doubleQuoted(): string {
    const s = this.s
    const start = ++this.pos
    let escaped = false
    for (; this.pos < this.end; this.pos++) {
      const c = s.charCodeAt(this.pos)
      if (c === 92 /* \ */) {
        escaped = true
        this.pos++
      } else if (c === 34) break
    }
    if (this.pos >= this.end) giveUp() // continues on the next line
    const body = s.slice(start, this.pos++)
    if (!escaped) return body
    const v = load(`"${body}"`) // YAML escapes (\x, \N, \_ …) differ from JSON's: let js-yaml decode them
    return typeof v === 'string' ? v : giveUp()
  }

  private singleQuoted(): string {
    const s = this.s
    const start = ++this.pos
    for (; this.pos < this.end; this.pos++) {
      if (s.charCodeAt(this.pos) === 39) {
        if (s.charCodeAt(this.pos + 1) === 39) this.pos++
        else break
      }
    }
    if (this.pos >= this.end) giveUp()
    return s.slice(start, this.pos++).replaceAll("''", "'")
  }

  /** `{a: 1, b: [x, y]}` on one line. */
  private flow(depth: number): unknown {
    if (depth > MAX_DEPTH) giveUp()
    const s = this.s
    const isMap = s.charCodeAt(this.pos++) === 123
    const close = isMap ? 125 : 93
    const out: Record<string, unknown> | unknown[] = isMap ? {} : []
    this.skipSpaces()
    if (s.charCodeAt(this.pos) === close) {
      this.pos++
      return out
    }
    for (;;) {
      if (isMap) {
        const map = out as Record<string, unknown>
        const key = this.key(true)
        if (Object.hasOwn(map, key)) giveUp()
        this.skipSpaces()
        if (s.charCodeAt(this.pos) !== COLON || s.charCodeAt(this.pos + 1) !== SPACE) giveUp()
        this.pos++
        this.skipSpaces()
        const c = s.charCodeAt(this.pos)
        if (c === 44 || c === 125 || c === 93 || this.pos >= this.end) giveUp() // `{a: }`: left to js-yaml
        map[key] = this.token(true, true, depth + 1)
      } else {
        ;(out as unknown[]).push(this.token(true, true, depth + 1))
        this.skipSpaces()
        if (s.charCodeAt(this.pos) === COLON) giveUp() // `[a: b]` is a one-pair mapping
      }
      this.skipSpaces()
      if (this.pos >= this.end) giveUp()
      const c = s.charCodeAt(this.pos++)
      if (c === close) return out
      if (c !== 44) giveUp()
      this.skipSpaces()
      const n = s.charCodeAt(this.pos)
      if (n === close || n === 44) giveUp() // trailing or empty entries
    }
  }
}

const NULLS = new Set(['~', 'null', 'Null', 'NULL'])
const BOOLS = new Map([
  ['true', true],
  ['True', true],
  ['TRUE', true],
  ['false', false],
  ['False', false],
  ['FALSE', false],
])
const GIVE_UP = Symbol('give up')
const resolved = new Map<string, unknown>()

/** A plain scalar's value under js-yaml's default schema. */
function resolvePlain(text: string): unknown {
  if (text === '') giveUp()
  const c = text.charCodeAt(0)
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95) {
    // No type of the schema starts with a letter except these words.
    if (text.length > 5) return text
    if (NULLS.has(text)) return null
    return BOOLS.get(text) ?? text
  }
  if (/^(?:0|[1-9][0-9]{0,14})$/.test(text)) return Number(text)
  if (/^[0-9]+(?:\.[0-9]+){2,}$/.test(text)) return text // an IP address: not a number
  if (text.startsWith('---') || text.startsWith('...')) giveUp() // alone, js-yaml would read a document marker
  // Anything else (`-80`, `0x1f`, `1e3`, `.inf`, `~`) is resolved by js-yaml itself, once per distinct text.
  let v = resolved.get(text)
  if (v === undefined && !resolved.has(text)) {
    try {
      v = load(text)
    } catch {
      v = GIVE_UP
    }
    if (v !== null && typeof v === 'object') v = GIVE_UP
    if (resolved.size < 10_000) resolved.set(text, v)
  }
  if (v === GIVE_UP) giveUp()
  return v
}
