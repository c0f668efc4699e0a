import type {Hook} from '@oclif/core'

// Unknown commands are usage errors: exit 1 (oclif's default is 2, which means "changes present" here).
const hook: Hook<'command_not_found'> = async function (opts) {
  const words = opts.id.split(':').join(' ')
  process.stderr.write(`Error: unknown command "${words}". See the commands with: shardform --help\n`)
  process.exit(1)
}

export default hook
