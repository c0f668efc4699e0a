// Keyspaces drawn on the key space: a bar from 00 to ff, one segment per shard in three bands (primary, replica,
// rdonly) coloured where the shard serves that type; overlapping shards (old and new during a reshard) on rows of
// their own, side by side. Then each shard's tablets.
import {fill, h} from './dom.js'

const TYPES = ['primary', 'replica', 'rdonly']

/** "" → 0, "80" → 0.5, "" as an end → 1 (fraction of the key space, from the first 4 bytes). */
export function frac(hex, end) {
  if (!hex) return end ? 1 : 0
  return parseInt((hex + '00000000').slice(0, 8), 16) / 2 ** 32
}

/** Pack shards into rows where none overlap; serving shards first, so sources sit on the top row. */
export function rows(shards) {
  const order = [...shards].sort(
    (a, b) => b.serving.length - a.serving.length || frac(a.start, false) - frac(b.start, false),
  )
  const out = []
  for (const s of order) {
    const lo = frac(s.start, false)
    const hi = frac(s.end, true)
    let row = out.find((r) => r.every((x) => hi <= frac(x.start, false) || lo >= frac(x.end, true)))
    if (!row) out.push((row = []))
    row.push(s)
  }
  return out.map((r) => r.sort((a, b) => frac(a.start, false) - frac(b.start, false)))
}

function keyBar(shards) {
  return h(
    'div',
    {class: 'keyspace-bar'},
    h('div', {class: 'axis'}, h('span', {text: '00'}), h('span', {text: '80'}), h('span', {text: 'ff'})),
    rows(shards).map((row) =>
      h(
        'div',
        {class: 'bar-row'},
        row.map((s) => {
          const lo = frac(s.start, false)
          const hi = frac(s.end, true)
          const serves = s.serving.length ? `serves ${s.serving.join(', ')}` : 'serves nothing yet'
          return h(
            'div',
            {
              class: `segment${s.serving.length ? '' : ' idle'}`,
              data: {shard: s.name, serving: s.serving.join(' ')},
              style: {left: `${lo * 100}%`, width: `${(hi - lo) * 100}%`},
              title: `shard ${s.name} [${s.start || 'min'}, ${s.end || 'max'}): ${serves}`,
            },
            h('span', {class: 'segment-name', text: s.name}),
            h('span', {class: 'segment-serves', text: s.serving.length ? s.serving.join(' · ') : 'not serving'}),
            h(
              'div',
              {class: 'bands'},
              TYPES.map((t) => h('div', {class: `band ${s.serving.includes(t) ? `on-${t}` : 'off'}`, title: t})),
            ),
          )
        }),
      ),
    ),
  )
}

function tabletsTable(shards) {
  return h(
    'table',
    {class: 'tablets'},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Shard', 'Serves', 'Tablet', 'Type', 'Endpoint'].map((x) => h('th', {text: x})),
      ),
    ),
    h(
      'tbody',
      {},
      shards.flatMap((s) =>
        (s.tablets.length ? s.tablets : [undefined]).map((t, i) =>
          h(
            'tr',
            {},
            h('td', {class: 'mono', text: i ? '' : s.name}),
            h('td', {text: i ? '' : s.serving.join(', ') || '–'}),
            h('td', {class: 'mono', text: t?.alias ?? '–'}),
            h('td', {text: t ? `${t.type}${t.alias === s.primary ? ' (shard primary)' : ''}` : ''}),
            h('td', {class: 'mono', text: t ? `${t.host}:${t.port}` : ''}),
          ),
        ),
      ),
    ),
  )
}

export function keyspaceCard(ks) {
  return h(
    'article',
    {class: 'keyspace', data: {keyspace: ks.keyspace}},
    h(
      'h3',
      {},
      h('span', {class: 'mono', text: ks.keyspace}),
      h('span', {class: 'muted', text: ks.sharded ? ' sharded' : ' unsharded'}),
    ),
    keyBar(ks.shards),
    h(
      'div',
      {class: 'legend'},
      TYPES.map((t) => h('span', {}, h('i', {class: `swatch on-${t}`}), t)),
      h('span', {}, h('i', {class: 'swatch off'}), 'not serving'),
    ),
    h(
      'details',
      {},
      h('summary', {text: `Tablets (${ks.shards.reduce((n, s) => n + s.tablets.length, 0)})`}),
      tabletsTable(ks.shards),
    ),
  )
}

/** Fill `el` with the keyspaces. */
export function renderKeyspaces(el, list) {
  fill(
    el,
    h('h2', {text: 'Keyspaces'}),
    list.length ? list.map(keyspaceCard) : h('p', {class: 'muted', text: 'No keyspace in this topology.'}),
  )
}
