// Files that hold secrets (the MySQL credentials, the API tokens) must not be readable by other users.
import type {Stats} from 'node:fs'
import {ShardformError} from '../errors.js'

/** Throws when `st` (of `file`) lets group or others read it; `holds` says what is in it ("passwords", …). */
export function assertPrivateFile(file: string, st: Stats, holds: string): void {
  if ((st.mode & 0o077) !== 0) {
    throw new ShardformError(
      `${file} holds ${holds} but other users can read it (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      {code: 'private_file'},
    )
  }
}
