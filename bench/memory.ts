// 6. Memory: peak RSS of the apply process (the CLI, as users run it) cloning tables of several sizes. Goal: flat.
// Each size gets its own cluster (source: primary + rdonly; destinations: primaries only).
import {cloneWithCli, loadSource, type CloneRun} from './copy.js'
import {layoutFile, withBenchCluster} from './lib/cluster.js'
import {readChunks, rowKeys, writeRowsFile} from './lib/data.js'
import {log} from './lib/out.js'

export const CLONE_TABLETS = {
  'src-102 (rdonly, read)': 'src-102',
  'dst-200': 'dst-200',
  'dst-300': 'dst-300',
  'src-100': 'src-100',
}

/** A fresh source with `rows` bench rows and the split destinations, cloned by `shardform apply` up to the first gate. */
export async function cloneFresh(rows: number, file: string, label: string): Promise<CloneRun> {
  const t0 = Date.now()
  writeRowsFile(file, rowKeys(rows))
  log(`${label}: ${rows} rows written to ${file} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return withBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')], async (c) => {
    const chunks = readChunks(file)
    await loadSource(c, 'src-100', ['src-102'], chunks, rows)
    chunks.length = 0
    return await cloneWithCli(c, c.layoutFiles[1], CLONE_TABLETS, label, ['dst-200', 'dst-300'])
  })
}
