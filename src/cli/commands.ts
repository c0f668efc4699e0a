// The explicit command list (oclif "explicit" strategy): no directory scan at start-up.
import Plan from './plan.js'
import Route from './route.js'
import Show from './show.js'
import TopoExport from './topo/export.js'
import TopoInit from './topo/init.js'
import TopoShow from './topo/show.js'
import Vindex from './vindex.js'

export const COMMANDS = {
  plan: Plan,
  show: Show,
  route: Route,
  vindex: Vindex,
  'topo:init': TopoInit,
  'topo:show': TopoShow,
  'topo:export': TopoExport,
}
