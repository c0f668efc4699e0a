import {Args, Flags} from '@oclif/core'
import {isErrorCode, type ShardformError} from '../errors.js'
import {BaseCommand} from './base.js'

interface FileResult {
  file: string
  valid: boolean
  problems: Array<{file: string; line: number; col: number; path: Array<string | number>; message: string}>
  summary?: string
}

export default class Validate extends BaseCommand {
  static override summary = 'Check layout files without a topology: schema, key ranges, vschema, tablets.'
  static override description = `Prints every problem as file:line:col and exits 1 when there is any; prints one OK line
per file and exits 0 otherwise. Reads no topology and opens no connection (fast enough for a pre-commit hook).`
  static override examples = [
    '<%= config.bin %> validate plans/guestbook/*.yaml',
    '<%= config.bin %> validate plans/guestbook/2-shards.yaml --json',
  ]
  static override strict = false
  static override args = {layout: Args.string({required: true, description: 'layout files (YAML)'})}
  static override flags = {json: Flags.boolean({summary: 'Print one JSON object with the problems of every file.'})}

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Validate)
    const {loadLayout, LayoutError, formatProblem} = await import('../layout/index.js')
    const results: FileResult[] = (argv as string[]).map((file) => {
      try {
        const l = loadLayout(file)
        const tablets = l.shards.reduce((n, s) => n + s.tablets.length, 0)
        const tables = Object.keys(l.vschema.tables ?? {}).length
        return {
          file,
          valid: true,
          problems: [],
          summary: `keyspace ${l.keyspace}, ${l.shards.length} shard(s) (${l.shards.map((s) => s.name).join(', ')}), ${tablets} tablet(s), ${l.vschema.sharded ? 'sharded' : 'unsharded'} vschema with ${tables} table(s)`,
        }
      } catch (err) {
        if (err instanceof LayoutError) return {file, valid: false, problems: err.problems}
        // An unreadable file (missing, a directory, too large) has no position: report it at its start.
        if (isErrorCode(err, 'file'))
          return {
            file,
            valid: false,
            problems: [
              {file, line: 1, col: 1, path: [], message: (err as ShardformError).summary.replace(`${file}: `, '')},
            ],
          }
        throw err
      }
    })
    const bad = results.filter((r) => !r.valid)
    if (flags.json) this.json({format_version: '1', valid: bad.length === 0, files: results})
    else {
      for (const r of results) {
        if (r.valid) this.out(`${r.file}: OK (${r.summary})`)
        else for (const p of r.problems) process.stderr.write(formatProblem(p) + '\n')
      }
      if (bad.length) {
        const n = bad.reduce((s, r) => s + r.problems.length, 0)
        process.stderr.write(
          `${n} problem(s) in ${bad.length} of ${results.length} file(s); fix them and run shardform validate again.\n`,
        )
      }
    }
    if (bad.length) this.exit(1)
  }
}
