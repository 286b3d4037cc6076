/**
 * Errors of the threat-modeling layer. A bad model file is one `ThreatModelError` listing every problem with its
 * file, line, column, path and a fix-it hint.
 *
 * @example
 * ```ts
 * import { ThreatModelError } from './errors.js'
 * const e = new ThreatModelError('m.yaml', [{ path: ['roles', 0, 'id'], message: 'duplicate id', line: 3, col: 9 }])
 * e.issues[0].line // 3
 * ```
 */
import { ValidationError } from '../core/errors.js'

export interface ModelIssue {
  path: (string | number)[]
  message: string
  hint?: string
  line?: number
  col?: number
}

export function formatPath(path: (string | number)[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : String(p)
  return s || '(root)'
}

export class ThreatModelError extends ValidationError {
  override name = 'ThreatModelError'
  readonly file: string
  readonly issues: ModelIssue[]
  constructor(file: string, issues: ModelIssue[]) {
    const lines = [`Invalid threat model ${file} (${issues.length} problem${issues.length === 1 ? '' : 's'}):`]
    for (const i of issues) {
      const at = i.line ? `${file}:${i.line}:${i.col ?? 1}` : file
      lines.push(`  ${at}  ${formatPath(i.path)}: ${i.message}`)
      if (i.hint) lines.push(`      fix: ${i.hint}`)
    }
    super(lines.join('\n'), { code: 'THREAT_MODEL_INVALID' })
    this.file = file
    this.issues = issues
  }
}

/** A mitigation's demonstration could not be run at all (missing file, spawn failure). */
export class DemonstrationError extends ValidationError {
  override name = 'DemonstrationError'
}
