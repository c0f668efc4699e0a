// Errors a user can act on. The CLI prints their message (no stack trace) and exits with `exitCode`.

export class ShardformError extends Error {
  override name = 'ShardformError'
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

/** A message for any thrown value; our own errors and library errors keep their text. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
