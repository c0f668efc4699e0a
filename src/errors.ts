// One error model (after Terraform's tfdiags): a user-facing error is a value with a code, a summary, a detail and a
// hint (the next command). The CLI prints them in one place; nobody parses message text or matches class names.

export interface ErrorParts {
  /** Stable, machine-readable kind (e.g. "layout", "topo.no_node", "plan.stale"). */
  code?: string
  /** Why, at more length than the summary (may span lines). */
  detail?: string
  /** What to do next, usually a command. */
  hint?: string
  /** Process exit code when this error ends a CLI command (1 unless said otherwise). */
  exitCode?: number
  cause?: unknown
}

export class ShardformError extends Error {
  override name = 'ShardformError'
  readonly code: string
  /** One line: what went wrong. `message` is summary, detail and hint joined, for logs and libraries. */
  readonly summary: string
  readonly detail?: string
  readonly hint?: string
  readonly exitCode: number

  constructor(summary: string, parts: ErrorParts = {}) {
    super([summary, parts.detail, parts.hint].filter((s) => s).join('\n'), {cause: parts.cause})
    this.summary = summary
    this.code = parts.code ?? 'error'
    this.detail = parts.detail
    this.hint = parts.hint
    this.exitCode = parts.exitCode ?? 1
  }
}

/** A message for any thrown value; our own errors and library errors keep their text. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

/** True when `err` is a ShardformError of `code` (or of a code under it: "topo" matches "topo.no_node"). */
export function isErrorCode(err: unknown, code: string): boolean {
  return err instanceof ShardformError && (err.code === code || err.code.startsWith(code + '.'))
}
