// JSON Schema validation (ajv, draft 2020-12) with messages a person can act on.
// Validators are compiled ahead of time from schemas/ (scripts/gen-validators.mjs): no ajv compile at start-up.
import type {ErrorObject} from 'ajv'
import {validateLayout, validateVSchema} from './validators.generated.js'
import type {DocPath} from './source.js'

export interface Validator {
  (value: unknown): boolean
  errors?: ErrorObject[] | null
}

export const layoutValidator = validateLayout as Validator
export const vschemaValidator = validateVSchema as Validator

export interface SchemaProblem {
  path: DocPath
  /** Point at the key rather than the value (unknown keys, bad map keys). */
  atKey: boolean
  message: string
}

const PATTERN_HINTS: Record<string, string> = {
  keyspace: 'a keyspace name: letters, digits and _, starting with a letter or _ (at most 64)',
  database: 'a database name: letters, digits, _ and $ (at most 64)',
  alias: 'a tablet alias such as test-100: letters, digits, - and _',
  host: 'a host name or IP address',
  user: 'a MySQL user name: letters, digits, _ . $ -',
  passwordEnv:
    'the NAME of an environment variable that holds the password (letters, digits, _), never the password itself',
  adminPasswordEnv:
    'the NAME of an environment variable that holds the password (letters, digits, _), never the password itself',
  adminUser: 'a MySQL user name: letters, digits, _ . $ -',
  ca: 'a file path (no control characters)',
  cert: 'a file path (no control characters)',
  key: 'a file path (no control characters)',
}

/** JSON pointer → path; a segment is a number only where the value there is a list (shard "0" stays a string). */
function pointerToPath(pointer: string, value: unknown): DocPath {
  if (!pointer) return []
  const out: DocPath = []
  let cur: unknown = value
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    const key = Array.isArray(cur) ? Number(seg) : seg
    out.push(key)
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[key] : undefined
  }
  return out
}

function describe(e: ErrorObject, path: DocPath): SchemaProblem {
  const last = path[path.length - 1]
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'additionalProperties':
      return {
        path: [...path, String(p.additionalProperty)],
        atKey: true,
        message: `unknown key "${p.additionalProperty}"${allowedKeys(e)}`,
      }
    case 'required':
      return {path, atKey: false, message: `missing required key "${p.missingProperty}"`}
    case 'dependentRequired':
      return {path, atKey: false, message: `"${p.property}" needs "${p.missingProperty}" as well`}
    case 'enum':
      return {
        path,
        atKey: false,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      }
    case 'pattern': {
      const hint = typeof last === 'string' && PATTERN_HINTS[last]
      return {path, atKey: false, message: hint ? `must be ${hint}` : `does not match the pattern ${p.pattern}`}
    }
    case 'propertyNames':
      return {
        path: [...path, String(p.propertyName)],
        atKey: true,
        message: `"${p.propertyName}" is not an allowed key here`,
      }
    case 'type':
      return {path, atKey: false, message: `must be ${article(String(p.type))}`}
    case 'maximum':
      return {path, atKey: false, message: `must be at most ${p.limit}`}
    case 'minimum':
      return {path, atKey: false, message: `must be at least ${p.limit}`}
    case 'exclusiveMinimum':
      return {path, atKey: false, message: `must be more than ${p.limit}`}
    case 'minProperties':
      return {path, atKey: false, message: `must have at least ${p.limit} entr${p.limit === 1 ? 'y' : 'ies'}`}
    default:
      return {path, atKey: false, message: e.message ?? 'is not valid'}
  }
}

function allowedKeys(e: ErrorObject): string {
  const props = (e.parentSchema as {properties?: Record<string, unknown>} | undefined)?.properties
  return props ? `; allowed keys: ${Object.keys(props).join(', ')}` : ''
}

function article(type: string): string {
  return type
    .split(',')
    .map((t) =>
      t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : t === 'integer' ? 'a whole number' : `a ${t}`,
    )
    .join(' or ')
}

/** Validate and turn ajv's errors into positioned, de-duplicated problems (deepest first wins). */
export function schemaProblems(validate: Validator, value: unknown, basePath: DocPath = []): SchemaProblem[] {
  if (validate(value)) return []
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
  // Under a oneOf (vschema: path or object), ajv reports every branch; keep the errors of the branch that matches the type.
  const paths = errors.map((e) => e.instancePath)
  const kept = errors.filter((e) => {
    if (e.keyword !== 'type') return true
    return (
      !paths.some((p) => p !== e.instancePath && p.startsWith(e.instancePath + '/')) &&
      !errors.some((o) => o !== e && o.instancePath === e.instancePath && o.keyword !== 'type')
    )
  })
  const byKey = new Map<string, SchemaProblem>()
  for (const e of kept) {
    const prob = describe(e, [...basePath, ...pointerToPath(e.instancePath, value)])
    const typeKey = e.keyword === 'type' ? JSON.stringify([prob.path, 'type']) : undefined
    const prev = typeKey && byKey.get(typeKey)
    // "must be a string" + "must be a mapping" at one place → "must be a string or a mapping"
    if (prev) prev.message += ` or ${prob.message.replace(/^must be /, '')}`
    else byKey.set(typeKey ?? JSON.stringify([prob.path, prob.message]), prob)
  }
  return [...byKey.values()]
}
