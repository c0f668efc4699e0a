// Small DOM helpers. Every string becomes a text node or an attribute value, never markup: names from layouts,
// vschemas and MySQL reach the page only through textContent and setAttribute.

/**
 * h('div', {class: 'x', onclick: fn, data: {task: id}}, 'text', child, [more]) → an element.
 * Attributes: `class`, `text`, `on<event>` (listeners), `data` (dataset), anything else via setAttribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') el.className = v
    else if (k === 'text') el.textContent = String(v)
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv)
    else if (k === 'style') for (const [sk, sv] of Object.entries(v)) el.style.setProperty(sk, String(sv))
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

export const fmt = {
  /** 12345 → "12,345" */
  n: (v) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v ?? '')),
  time: (iso) => (iso ? new Date(iso).toLocaleTimeString('en-GB', {hour12: false}) : ''),
  dateTime: (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : ''),
  duration(sec) {
    if (typeof sec !== 'number' || !Number.isFinite(sec)) return ''
    const s = Math.round(sec)
    if (s < 60) return `${s}s`
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  },
  ms: (v) => (typeof v !== 'number' ? '–' : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`),
}

/** A state badge: <span class="badge state-running">running</span>. */
export function badge(state) {
  return h('span', {class: `badge state-${String(state).replace(/[^a-z_]/g, '')}`, text: state})
}
