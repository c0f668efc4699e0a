// The explicit command list (oclif "explicit" strategy): no directory scan at start-up.
import Apply from './apply.js'
import Approve from './approve.js'
import ForceUnlock from './force-unlock.js'
import History from './history.js'
import LayoutExport from './layout/export.js'
import Plan from './plan.js'
import Retry from './retry.js'
import Route from './route.js'
import Show from './show.js'
import Status from './status.js'
import TopoExport from './topo/export.js'
import TopoInit from './topo/init.js'
import TopoShow from './topo/show.js'
import Validate from './validate.js'
import Vindex from './vindex.js'
import Exec from './exec.js'
import Load from './load.js'
import LoadVerify from './load/verify.js'
import LocalDown from './local/down.js'
import LocalStatus from './local/status.js'
import LocalUp from './local/up.js'
import SchemaLoad from './schema/load.js'
import Server from './server.js'
import ServerList from './server/list.js'

export const COMMANDS = {
  plan: Plan,
  show: Show,
  apply: Apply,
  approve: Approve,
  retry: Retry,
  status: Status,
  history: History,
  'force-unlock': ForceUnlock,
  route: Route,
  vindex: Vindex,
  validate: Validate,
  'topo:init': TopoInit,
  'topo:show': TopoShow,
  'topo:export': TopoExport,
  'layout:export': LayoutExport,
  'local:up': LocalUp,
  'local:status': LocalStatus,
  'local:down': LocalDown,
  exec: Exec,
  'schema:load': SchemaLoad,
  load: Load,
  'load:verify': LoadVerify,
  server: Server,
  'server:list': ServerList,
}
