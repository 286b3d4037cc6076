/**
 * YAML at a file boundary, with line numbers: what the threat-model and scenario loaders share. The text is parsed
 * once into a document that remembers where every node came from, so a problem found later (by the zod schema or by
 * a cross-reference check, on the plain JavaScript value) is reported at the line and column of the key or value it
 * concerns.
 *
 * @example
 * ```ts
 * import { z } from 'zod'
 * import { parseYamlSource, zodIssues } from './src/core/yaml.js'
 * const src = parseYamlSource('a: 1\nb: two\n')
 * const r = z.strictObject({ a: z.number(), b: z.number() }).safeParse(src.js)
 * const [issue] = src.withLines(zodIssues(r.error!, src.js, 'the schema'))
 * console.log(issue.line, issue.message) // 2 'expected number, got a string ("two")'
 * ```
 */
import { parseDocument, LineCounter, isMap, isPair, isScalar, type Node } from 'yaml'
import type { z } from 'zod'

/** One problem of a source file: where (a path into the value, and its line and column once located) and the fix. */
export interface SourceIssue {
  path: (string | number)[]
  message: string
  hint?: string
  line?: number
  col?: number
}

/** A parsed YAML text: its value, its syntax errors (located) and a way to locate paths in it. */
export interface YamlSource {
  /** The plain value (undefined when there are syntax errors). */
  js: unknown
  /** YAML syntax errors (bad indentation, duplicate keys, ...), each with its line. */
  syntaxIssues: SourceIssue[]
  /** The line and column of the node at `path` (of its key `key`, when given), or of its closest existing parent. */
  locate(path: (string | number)[], key?: string): { line: number; col: number } | undefined
  /** Adds line and column to each issue (an unknown key is located at the key itself). */
  withLines(issues: SourceIssue[]): SourceIssue[]
}

/** Parses `text` keeping line numbers; never throws on bad YAML (see `syntaxIssues`). */
export function parseYamlSource(text: string): YamlSource {
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true })
  const locate = (path: (string | number)[], key?: string): { line: number; col: number } | undefined => {
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
  const syntaxIssues = doc.errors.map((e): SourceIssue => {
    const pos = lc.linePos(e.pos[0])
    return { path: [], message: `YAML: ${e.message.split('\n')[0]}`, hint: 'fix the YAML syntax (indentation, quotes, duplicate keys)', line: pos.line, col: pos.col }
  })
  const withLines = (issues: SourceIssue[]) => issues.map((i) => {
    if (i.line !== undefined) return i
    const last = i.path[i.path.length - 1]
    const unknownKey = i.message.startsWith('unknown key') && typeof last === 'string'
    const pos = unknownKey ? locate(i.path.slice(0, -1), last) : locate(i.path)
    return { ...i, line: pos?.line, col: pos?.col }
  })
  return { js: syntaxIssues.length ? undefined : doc.toJS(), syntaxIssues, locate, withLines }
}

/** The value at `path` in `root`, and whether the path exists at all. */
export function valueAt(root: unknown, path: readonly (string | number)[]): { present: boolean; value: unknown } {
  let v: unknown = root
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, p)) return { present: false, value: undefined }
    v = (v as Record<string | number, unknown>)[p]
  }
  return { present: true, value: v }
}

/** What a value is, for a person: `a list`, `a mapping`, `a string ("x")`, `null (an empty value)`. */
export function kindOf(v: unknown): string {
  return v === null ? 'null (an empty value)' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `a ${typeof v} (${JSON.stringify(v)})`
}

/**
 * A zod error as source issues: unknown keys named one by one (with `schemaFile` in the hint), a missing field as
 * missing (not as "undefined"), a wrong type with what was found instead.
 */
export function zodIssues(err: z.ZodError, input: unknown, schemaFile: string): SourceIssue[] {
  const out: SourceIssue[] = []
  for (const i of err.issues) {
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol')
    const at = valueAt(input, path)
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: [...path, k], message: `unknown key "${k}"`, hint: `remove it or fix its spelling (see ${schemaFile})` })
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
