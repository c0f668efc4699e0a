// The pieces of the shared diff scan that need no server: the per-destination merge-compare (diff-compare.ts), the
// cohort join (diff-cohort.ts) and the highest of several held positions (diff-scan.ts).
import {describe, expect, it} from 'vitest'
import type {RowValue} from '../../src/mysql/codec.js'
import {DestinationCompare, type OrderedRows} from '../../src/phases/diff-compare.js'
import {CohortJoin, type Member} from '../../src/phases/diff-cohort.js'
import {highestPosition} from '../../src/phases/diff-scan.js'

/** Destination rows in batches of `batch`; ready() makes the next batch available (as a cursor waiting for rows). */
class Rows implements OrderedRows {
  private pos = 0
  private avail = 0
  waits = 0
  constructor(
    private readonly rows: RowValue[][],
    private readonly batch = 2,
  ) {}
  get buffered() {
    return this.pos < this.avail || this.avail >= this.rows.length
  }
  async ready() {
    this.waits++
    await Promise.resolve()
    if (this.pos >= this.avail) this.avail = Math.min(this.rows.length, this.avail + this.batch)
  }
  peek() {
    return this.pos < this.avail ? this.rows[this.pos] : undefined
  }
  shift() {
    const r = this.peek()
    if (r) this.pos++
    return r
  }
}

const byKey = (a: RowValue[], b: RowValue[]) => Number(a[0]) - Number(b[0])
const compare = (dst: RowValue[][], batch = 2) =>
  new DestinationCompare('t', byKey, 2, (r) => `(id=${String(r[0])})`, new Rows(dst, batch))

async function run(c: DestinationCompare, src: RowValue[][]) {
  for (const s of src) await c.feed(s)
  return c.finish()
}

describe('DestinationCompare', () => {
  it('matches equal rows and ignores trailing columns beyond the compared width (the routing tag)', async () => {
    const c = compare([
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
    ])
    const rep = await run(c, [
      ['1', 'a', 0],
      ['2', 'b', 3],
      ['3', 'c', 1],
    ])
    expect(rep).toMatchObject({compared: 3, missing: 0, extra: 0, different: 0, examples: []})
    expect(c.differs).toBe(false)
  })

  it('finds missing, extra and different rows in key order, extras at the end included', async () => {
    const c = compare(
      [
        ['1', 'a'],
        ['3', 'x'],
        ['4', 'd'],
        ['7', 'g'],
        ['8', 'h'],
      ],
      1,
    )
    const rep = await run(c, [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
      ['5', 'e'],
    ])
    expect(rep).toMatchObject({missing: 2, extra: 3, different: 1, compared: 7})
    expect(rep.examples).toEqual([
      'missing (id=2)',
      'different (id=3)',
      'extra (id=4)',
      'missing (id=5)',
      'extra (id=7)',
      'extra (id=8)',
    ])
    expect(c.differs).toBe(true)
  })

  it('an empty destination: every source row is missing; an empty source: every destination row is extra', async () => {
    expect(
      await run(compare([]), [
        ['1', 'a'],
        ['2', 'b'],
      ]),
    ).toMatchObject({missing: 2, extra: 0})
    expect(
      await run(
        compare([
          ['1', 'a'],
          ['2', 'b'],
        ]),
        [],
      ),
    ).toMatchObject({missing: 0, extra: 2})
  })

  it('returns a promise only when it must wait for destination rows', () => {
    const dst = new Rows(
      [
        ['1', 'a'],
        ['2', 'b'],
      ],
      2,
    )
    const c = new DestinationCompare('t', byKey, 2, String, dst)
    expect(c.feed(['1', 'a'])).toBeInstanceOf(Promise)
    return (async () => {
      await c.feed(['1', 'a']) // first call waited; the row was compared once it arrived
      expect(c.feed(['2', 'b'])).toBeUndefined()
    })()
  })

  it('keeps at most `shown` examples', async () => {
    const c = new DestinationCompare('t', byKey, 2, (r) => String(r[0]), new Rows([]), 3)
    const rep = await run(
      c,
      Array.from({length: 10}, (_, i) => [String(i), 'x']),
    )
    expect(rep.missing).toBe(10)
    expect(rep.examples).toHaveLength(3)
  })
})

type Work = {members: string[]; missing: string[]}

function joiner(waitMs = 10_000, settle: 'each' | 'throw' = 'each') {
  const works: Work[] = []
  let release: () => void = () => undefined
  const hold = new Promise<void>((r) => (release = r))
  const join = new CohortJoin<string, string>(async (ms: Member<string, string>[], missing) => {
    works.push({members: ms.map((m) => m.id), missing})
    await hold
    if (settle === 'throw') throw new Error('source unreadable')
    for (const m of ms) if (!m.signal.aborted) m.resolve(`${m.id}:${ms.length}`)
  }, waitMs)
  return {join, works, release}
}

describe('CohortJoin', () => {
  it('runs the work once for the whole cohort when the last one joins; each gets its own outcome', async () => {
    const {join, works, release} = joiner()
    const ac = new AbortController()
    const ids = ['a', 'b', 'c']
    const ps = ids.map((id) => join.join('k', ids, id, id, ac.signal))
    await Promise.resolve()
    expect(works).toEqual([{members: ['a', 'b', 'c'], missing: []}])
    release()
    expect(await Promise.all(ps)).toEqual(['a:3', 'b:3', 'c:3'])
    await until(() => join.size === 0) // forgotten once the work has ended
  })

  it('a cohort of one, or a task outside its cohort, works alone at once', async () => {
    const {join, works, release} = joiner()
    const s = new AbortController().signal
    const p1 = join.join('k1', ['a'], 'a', 'a', s)
    const p2 = join.join('k2', ['x', 'y'], 'z', 'z', s)
    expect(works.map((w) => w.members)).toEqual([['a'], ['z']])
    release()
    expect(await Promise.all([p1, p2])).toEqual(['a:1', 'z:1'])
  })

  it('after the bounded wait goes with those that joined, names the missing; a late one works alone', async () => {
    const {join, works, release} = joiner(30)
    const s = new AbortController().signal
    const pa = join.join('k', ['a', 'b', 'c'], 'a', 'a', s)
    const pb = join.join('k', ['a', 'b', 'c'], 'b', 'b', s)
    await until(() => works.length === 1)
    expect(works[0]).toEqual({members: ['a', 'b'], missing: ['c']})
    const pc = join.join('k', ['a', 'b', 'c'], 'c', 'c', s)
    expect(works[1]).toEqual({members: ['c'], missing: []})
    release()
    expect(await Promise.all([pa, pb, pc])).toEqual(['a:2', 'b:2', 'c:1'])
  })

  it('does not wait for the tasks of the cohort known to run elsewhere (claimed by another server)', async () => {
    const works: Work[] = []
    const join = new CohortJoin<string, string>(
      async (ms, missing) => {
        works.push({members: ms.map((m) => m.id), missing})
        for (const m of ms) m.resolve(m.id)
      },
      600_000,
      5,
    )
    const s = new AbortController().signal
    let away: string[] = []
    let asked = 0
    const notComing = async () => (asked++, away)
    const pa = join.join('k', ['a', 'b', 'c'], 'a', 'a', s, {notComing})
    const pb = join.join('k', ['a', 'b', 'c'], 'b', 'b', s, {notComing})
    await until(() => asked >= 2)
    expect(works).toEqual([]) // c may still come
    away = ['c']
    expect(await Promise.all([pa, pb])).toEqual(['a', 'b'])
    expect(works).toEqual([{members: ['a', 'b'], missing: ['c']}])
  })

  it('one that stops while the cohort gathers leaves it; the work error reaches everyone unsettled', async () => {
    const {join, works, release} = joiner(10_000, 'throw')
    const stopA = new AbortController()
    const s = new AbortController().signal
    const pa = join.join('k', ['a', 'b'], 'a', 'a', stopA.signal)
    stopA.abort(new Error('apply stops'))
    await expect(pa).rejects.toThrow('apply stops')
    expect(join.size).toBe(0)
    const pb = join.join('k2', ['a', 'b'], 'b', 'b', s)
    const pa2 = join.join('k2', ['a', 'b'], 'a', 'a', s)
    expect(works).toEqual([{members: ['b', 'a'], missing: []}])
    release()
    await expect(pb).rejects.toThrow('source unreadable')
    await expect(pa2).rejects.toThrow('source unreadable')
  })
})

describe('highestPosition', () => {
  it('takes the highest sequence per domain', () => {
    expect(highestPosition(['0-1-10,1-2-5', '0-1-12', '1-2-3,2-3-1'])).toBe('0-1-12,1-2-5,2-3-1')
    expect(highestPosition(['0-1-7'])).toBe('0-1-7')
  })
})

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r))
}
