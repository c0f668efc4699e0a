// Every command: shared flags, one way to report errors (message, no stack trace, exit 1), topology access.
import {Command, Flags, Errors, type Interfaces} from '@oclif/core'
import {ShardformError} from '../errors.js'
import type {TopoStore} from '../topo/store.js'
import {colors, colorWanted, type Colors} from '../util/color.js'

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    topo: Flags.string({
      summary:
        'Topology: etcd://host:port[,host:port]/root or file:<dir>. Default: $SHARDFORM_TOPO, else file:.shardform/topo.',
      helpGroup: 'GLOBAL',
    }),
    debug: Flags.boolean({summary: 'Show stack traces of errors.', helpGroup: 'GLOBAL'}),
  }

  private stores: TopoStore[] = []

  override async init(): Promise<void> {
    // Node's deprecation warnings are for developers; to a user they are noise in the middle of our output (gRPC's
    // TLS to an etcd addressed by IP triggers one on every run).
    process.noDeprecation = true
    await super.init()
  }

  /** Open the topology named by --topo / $SHARDFORM_TOPO (closed automatically when the command ends). */
  protected async topo(url: string | undefined): Promise<TopoStore> {
    const {openTopo} = await import('../topo/open.js')
    const store = await openTopo(url)
    this.stores.push(store)
    return store
  }

  protected colors(flag?: boolean): Colors {
    return colors(colorWanted(process.stdout, flag))
  }

  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }

  protected json(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await Promise.allSettled(this.stores.map((s) => s.close()))
    return super.finally(err)
  }

  protected override async catch(err: Interfaces.CommandError): Promise<unknown> {
    // this.exit() throws ExitError: let oclif end the process with that code, silently.
    if (err instanceof Errors.ExitError) throw err
    const debug = this.argv.includes('--debug') || process.env.SHARDFORM_DEBUG === '1'
    process.stderr.write(`Error: ${describeError(err, this.id)}\n`)
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`)
    else if (!(err instanceof ShardformError) && !(err instanceof Errors.CLIError)) {
      process.stderr.write('(run with --debug to see where this came from)\n')
    }
    return this.exit(err instanceof ShardformError ? err.exitCode : 1)
  }
}

/** The text of an error for a person: ours as summary, detail and hint; a usage error points at the help. */
function describeError(err: Error, commandId: string | undefined): string {
  if (err instanceof ShardformError) return [err.summary, err.detail, err.hint].filter((s) => s).join('\n')
  const message = err.message.replace(/^Error: /, '')
  if (!(err instanceof Errors.CLIError)) return message
  return `${message.split('\nSee more help')[0].trim()}\nSee: shardform ${commandId?.replaceAll(':', ' ') ?? ''} --help`
}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
