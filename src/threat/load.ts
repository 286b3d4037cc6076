/**
 * Reading a threat model at the file boundary: YAML with line numbers, then the zod schema, then references, then
 * a trial analysis; every problem is reported with file, line, column and a fix.
 *
 * @example
 * ```ts
 * import { parseThreatModel } from './load.js'
 * const text = 'souk: threat-model/1\nname: toy\nroles:\n  - id: client\nassets:\n  - id: coin\n    kind: currency\n    owner: clinet\n    categories: [{ id: theft, name: Theft, kind: theft }]\n'
 * try { parseThreatModel(text, 'toy.yaml') } catch (e) { (e as Error).message } // '... toy.yaml:8:12  assets[0].owner: unknown role "clinet" ...'
 * ```
 */
import { readFileSync } from 'node:fs'
import { parseYamlSource, zodIssues as sourceZodIssues, kindOf } from '../core/yaml.js'
import type { z } from 'zod'
import { ThreatModelSchema, THREAT_MODEL_VERSION } from './schema.js'
import { ThreatModelError, type ModelIssue } from './errors.js'
import { validateReferences, analyzeWithIssues } from './analyze.js'
import type { ThreatModel, ThreatAnalysis } from './types.js'

/** Model files above this size are refused before parsing (a model is hand-written; 1 MiB is generous). */
export const THREAT_MODEL_MAX_BYTES = 1 << 20

const zodIssues = (err: z.ZodError, input: unknown): ModelIssue[] => sourceZodIssues(err, input, 'schemas/threat-model.schema.json')

/** A model that is not even a mapping: say what it is instead, with the first lines a model needs. */
function notAModel(js: unknown, text: string): ModelIssue | undefined {
  const start = 'a model starts with `souk: threat-model/1`, `name:`, `roles:` and `assets:` (see docs/threat.md)'
  if (text.trim() === '' || js === null || js === undefined) return { path: [], message: 'the file is empty (or only comments)', hint: start }
  if (typeof js !== 'object' || Array.isArray(js)) return { path: [], message: `the top level is ${kindOf(js)}, not a mapping of keys to values`, hint: start }
  const souk = (js as Record<string, unknown>).souk
  if (souk === undefined) return { path: [], message: 'this is not a Souk threat model: the `souk:` marker is missing', hint: start }
  if (souk !== THREAT_MODEL_VERSION) return { path: ['souk'], message: `unsupported format ${JSON.stringify(souk)}: this version of souk reads ${THREAT_MODEL_VERSION}`, hint: `set \`souk: ${THREAT_MODEL_VERSION}\` (and check the changes in docs/threat.md)` }
  return undefined
}

/** Parses, validates and analyses model text. Throws `ThreatModelError` listing every problem with its line. */
export function parseThreatModel(text: string, file = '<model>'): { model: ThreatModel; analysis: ThreatAnalysis } {
  if (text.length > THREAT_MODEL_MAX_BYTES) throw new ThreatModelError(file, [{ path: [], message: `file is larger than ${THREAT_MODEL_MAX_BYTES} bytes`, hint: 'split the model' }])
  const src = parseYamlSource(text)
  if (src.syntaxIssues.length) throw new ThreatModelError(file, src.syntaxIssues)
  const withLines = (issues: ModelIssue[]) => src.withLines(issues)
  const js: unknown = src.js
  const shape = notAModel(js, text)
  if (shape) throw new ThreatModelError(file, withLines([shape]))
  const parsed = ThreatModelSchema.safeParse(js)
  if (!parsed.success) throw new ThreatModelError(file, withLines(zodIssues(parsed.error, js)))
  const model = parsed.data
  const refIssues = validateReferences(model)
  if (refIssues.length) throw new ThreatModelError(file, withLines(refIssues))
  const { analysis, issues } = analyzeWithIssues(model)
  if (issues.length) throw new ThreatModelError(file, withLines(issues))
  return { model, analysis }
}

/** Reads and parses a model file (the only function here that touches the file system). */
export function loadThreatModel(path: string): { model: ThreatModel; analysis: ThreatAnalysis } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ThreatModelError(path, [{ path: [], message: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, hint: 'check the path' }])
  }
  return parseThreatModel(text, path)
}
