import {Flags} from '@oclif/core'
import {BaseCommand} from '../base.js'

export default class ServerList extends BaseCommand {
  static override summary = 'List the live servers, their versions, and the workflows and streams each holds.'
  static override examples = ['<%= config.bin %> server list', '<%= config.bin %> server list --json']
  static override flags = {json: Flags.boolean({summary: 'Print JSON.'})}

  async run(): Promise<void> {
    const {flags} = await this.parse(ServerList)
    const store = await this.topo(flags.topo)
    const {serverListDocument} = await import('../../server/registry.js')
    const doc = await serverListDocument(store)
    if (flags.json) return this.json(doc)
    const {servers, version_skew: skew} = doc
    if (!servers.length) return this.out(`No live server in ${store.url}; apply runs workflows in-process.`)
    const {renderServers} = await import('../views/servers.js')
    this.out(renderServers(servers, store.url) + (skew ?? ''))
  }
}
