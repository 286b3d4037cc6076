/**
 * ABC threat modeling: model format, analysis, diff, check and reports.
 *
 * @example
 * ```ts
 * import { loadThreatModel, renderMarkdown, checkAnalysis } from './index.js'
 * const { analysis } = loadThreatModel('models/cdn.yaml')
 * renderMarkdown(analysis).startsWith('# Threat model') // true
 * ```
 */
export * from './types.js'
export * from './schema.js'
export * from './errors.js'
export * from './analyze.js'
export * from './load.js'
export * from './diff.js'
export * from './check.js'
export * from './report.js'
