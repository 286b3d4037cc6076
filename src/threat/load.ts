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
import { parseDocument, LineCounter, isMap, isPair, isScalar, type Node } from 'yaml'
import type { z } from 'zod'
import { ThreatModelSchema, THREAT_MODEL_VERSION } from './schema.js'
import { ThreatModelError, type ModelIssue } from './errors.js'
import { validateReferences, analyzeWithIssues } from './analyze.js'
import type { ThreatModel, ThreatAnalysis } from './types.js'

/** Model files above this size are refused before parsing (a model is hand-written; 1 MiB is generous). */
export const THREAT_MODEL_MAX_BYTES = 1 << 20

type Doc = ReturnType<typeof parseDocument>

function locate(doc: Doc, lc: LineCounter, path: (string | number)[], key?: string): { line: number; col: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as Node | null | undefined
    if (!node || !node.range) continue
    if (key && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key)
      const k = pair?.key as Node | undefined
      if (k?.range) return lc.linePos(k.range[0])
    }
    return lc.linePos(node.range[0])
  }
  return undefined
}

/** The value at `path` in `root`, and whether the path exists at all. */
function valueAt(root: unknown, path: (string | number)[]): { present: boolean; value: unknown } {
  let v: unknown = root
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, p)) return { present: false, value: undefined }
    v = (v as Record<string | number, unknown>)[p]
  }
  return { present: true, value: v }
}

function kindOf(v: unknown): string {
  return v === null ? 'null (an empty value)' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `a ${typeof v} (${JSON.stringify(v)})`
}

function zodIssues(err: z.ZodError, input: unknown): ModelIssue[] {
  const out: ModelIssue[] = []
  for (const i of err.issues) {
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol')
    const at = valueAt(input, path)
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: [...path, k], message: `unknown key "${k}"`, hint: 'remove it or fix its spelling (see schemas/threat-model.schema.json)' })
    } else if (i.code === 'invalid_type' && !at.present && path.length > 0) {
      out.push({ path, message: `missing required field "${String(path[path.length - 1])}"`, hint: `add \`${String(path[path.length - 1])}:\`` })
    } else if (i.code === 'invalid_type') {
      out.push({ path, message: `${i.message.replace(/^Invalid input: /, '').replace(/, received .*$/, '')}, got ${kindOf(at.value)}` })
    } else {
      out.push({ path, message: i.message })
    }
  }
  return out
}

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
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length) {
    throw new ThreatModelError(file, doc.errors.map((e) => {
      const pos = lc.linePos(e.pos[0])
      return { path: [], message: `YAML: ${e.message.split('\n')[0]}`, hint: 'fix the YAML syntax (indentation, quotes, duplicate keys)', line: pos.line, col: pos.col }
    }))
  }
  const withLines = (issues: ModelIssue[]) => issues.map((i) => {
    const last = i.path[i.path.length - 1]
    const unknownKey = i.message.startsWith('unknown key') && typeof last === 'string'
    const pos = unknownKey ? locate(doc, lc, i.path.slice(0, -1), last) : locate(doc, lc, i.path)
    return { ...i, line: pos?.line, col: pos?.col }
  })
  const js: unknown = doc.toJS()
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
