/**
 * Locates the UMD builds of d3 and Observable Plot in node_modules, to inline them into self-contained reports.
 *
 * @example
 * ```ts
 * import { readPlotLibraries } from './libs.js'
 * const { d3, plot } = readPlotLibraries()
 * d3.length > 100_000 // true
 * ```
 */
import { readFileSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { SoukError } from '../core/errors.js'

/** Walks up from this module to the first node_modules holding both UMD builds. */
export function plotLibraryPaths(): { d3: string; plot: string } {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const d3 = join(dir, 'node_modules', 'd3', 'dist', 'd3.min.js')
    const plot = join(dir, 'node_modules', '@observablehq', 'plot', 'dist', 'plot.umd.min.js')
    if (existsSync(d3) && existsSync(plot)) return { d3, plot }
    const up = dirname(dir)
    if (up === dir) throw new SoukError('Cannot find the d3 and @observablehq/plot UMD builds in node_modules', { code: 'PLOT_LIBS_MISSING', hints: ['run `npm ci` in the repository'] })
    dir = up
  }
}

export function readPlotLibraries(): { d3: string; plot: string } {
  const p = plotLibraryPaths()
  try {
    return { d3: readFileSync(p.d3, 'utf8'), plot: readFileSync(p.plot, 'utf8') }
  } catch (e) {
    throw new SoukError('Cannot read the d3 / Observable Plot UMD builds', { code: 'PLOT_LIBS_MISSING', details: p, hints: ['run `npm ci` in the repository'], cause: e })
  }
}
