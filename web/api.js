// The JSON API under /api/v1/ with the bearer token (asked once on a 401, kept in sessionStorage), and a small
// server-sent-events reader on fetch: EventSource cannot send an Authorization header.
import {h} from './dom.js'

const KEY = 'shardform.token'
export const token = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? body?.message ?? `HTTP ${status}`)
    this.status = status
    this.body = body
  }
}

function headers(extra = {}) {
  const t = token.get()
  return {Accept: 'application/json', ...(t ? {Authorization: `Bearer ${t}`} : {}), ...extra}
}

let asking
/** Show the token form (once, however many requests are waiting) and resolve when a token was entered. */
function askToken(refused) {
  asking ??= new Promise((resolve) => {
    const input = h('input', {
      type: 'password',
      name: 'token',
      autocomplete: 'off',
      placeholder: 'token',
      required: true,
    })
    const form = h(
      'form',
      {
        class: 'token-form',
        onsubmit: (ev) => {
          ev.preventDefault()
          token.set(input.value.trim())
          dialog.remove()
          asking = undefined
          resolve()
        },
      },
      h('h2', {text: 'This server needs a token'}),
      h('p', {
        text: refused
          ? 'The token was refused. Enter a token from the server’s --token-file.'
          : 'Enter a token from the server’s --token-file. It is kept for this tab only (sessionStorage).',
      }),
      input,
      h('button', {type: 'submit', text: 'Use token'}),
    )
    const dialog = h('div', {class: 'token-overlay', role: 'dialog'}, form)
    document.body.append(dialog)
    input.focus()
  })
  return asking
}

/** GET (or POST with `body`) an API path; on 401 asks for a token and tries again. */
export async function api(path, {method = 'GET', body} = {}) {
  for (let refused = false; ; refused = true) {
    const res = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : {'Content-Type': 'application/json'}),
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    if (res.status === 401) {
      if (refused || token.get()) token.clear()
      await askToken(refused)
      continue
    }
    const data = await res.json().catch(() => ({}))
    if (!res.ok) throw new ApiError(res.status, data)
    return data
  }
}

/**
 * Follow a server-sent-events stream: onEvent(name, data) for each event (data parsed as JSON when it is JSON).
 * Reconnects after a pause until `signal` aborts. Returns nothing; stop it with the signal.
 */
export async function subscribe(path, onEvent, signal) {
  while (!signal.aborted) {
    try {
      const res = await fetch(path, {headers: headers({Accept: 'text/event-stream'}), signal})
      if (res.status === 401) {
        token.clear()
        await askToken(false)
        continue
      }
      // Gone (a keyspace or workflow that no longer exists): nothing to follow.
      if (res.status === 404) return
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
      await readEvents(res.body, onEvent)
    } catch (err) {
      if (signal.aborted) return
      console.warn(`event stream ${path}: ${err.message}`)
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  let name = 'message'
  let data = []
  for (;;) {
    const {value, done} = await reader.read()
    if (done) return
    buf += value
    let nl
    while ((nl = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + (buf[nl] === '\r' ? 2 : 1))
      if (line === '') {
        if (data.length) dispatch(onEvent, name, data.join('\n'))
        name = 'message'
        data = []
      } else if (line.startsWith(':')) continue
      else {
        const i = line.indexOf(':')
        const field = i < 0 ? line : line.slice(0, i)
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
        if (field === 'event') name = val
        else if (field === 'data') data.push(val)
      }
    }
  }
}

function dispatch(onEvent, name, text) {
  let data = text
  try {
    data = JSON.parse(text)
  } catch {
    // plain text event
  }
  onEvent(name, data)
}
