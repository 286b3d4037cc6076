/**
 * What a design change did to the threat space: cases added or removed (and why they left: pruned by which rule,
 * merged into which case, or no longer enumerated), status changes, and the changes in counts and declarations.
 *
 * @example
 * ```ts
 * import { diffAnalyses } from './diff.js'
 * // const d = diffAnalyses(loadThreatModel('old.yaml').analysis, loadThreatModel('new.yaml').analysis)
 * // d.opened (what `souk threat diff --fail-on-open` fails on), d.added, d.removed, d.changed, d.counts.after.open - d.counts.before.open
 * ```
 */
import type { ThreatAnalysis, Cell, Counts, CaseStatus } from './types.js'

export interface CaseChange { id: string; before: { status: CaseStatus; mitigations?: string[] }; after: { status: CaseStatus; mitigations?: string[] } }
export interface RemovedCase { id: string; status: CaseStatus; why: string }
export interface ThreatDiff {
  /** Cases that the change opened: new cases with status open, and existing cases whose status became open. */
  opened: string[]
  added: Cell[]
  removed: RemovedCase[]
  changed: CaseChange[]
  counts: { before: Counts; after: Counts }
  declarations: Record<'roles' | 'assets' | 'categories' | 'mitigations' | 'prune', { added: string[]; removed: string[] }>
}

function allCells(a: ThreatAnalysis): Map<string, Cell> {
  return new Map(a.matrices.flatMap((m) => m.cells).map((c) => [c.id, c]))
}

function setDiff(before: string[], after: string[]) {
  return { added: after.filter((x) => !before.includes(x)), removed: before.filter((x) => !after.includes(x)) }
}

export function diffAnalyses(before: ThreatAnalysis, after: ThreatAnalysis): ThreatDiff {
  const oldCases = new Map(before.cases.map((c) => [c.id, c]))
  const newCases = new Map(after.cases.map((c) => [c.id, c]))
  const newCells = allCells(after)
  const added = after.cases.filter((c) => !oldCases.has(c.id))
  const removed: RemovedCase[] = []
  for (const c of before.cases) {
    if (newCases.has(c.id)) continue
    const now = newCells.get(c.id)
    const why = !now ? 'no longer enumerated (role, target or category removed, or coalition size reduced)'
      : now.fate === 'pruned' ? `pruned by ${now.pruned!.rule}: ${now.pruned!.reason}`
      : `merged into ${now.mergedInto}`
    removed.push({ id: c.id, status: c.status!, why })
  }
  const changed: CaseChange[] = []
  for (const c of after.cases) {
    const o = oldCases.get(c.id)
    if (!o) continue
    if (o.status !== c.status || (o.mitigations ?? []).join() !== (c.mitigations ?? []).join()) {
      changed.push({ id: c.id, before: { status: o.status!, mitigations: o.mitigations }, after: { status: c.status!, mitigations: c.mitigations } })
    }
  }
  const ids = (a: ThreatAnalysis) => ({
    roles: a.model.roles.map((r) => r.id),
    assets: a.model.assets.map((x) => x.id),
    categories: a.model.assets.flatMap((x) => x.categories.map((c) => c.id)),
    mitigations: a.model.mitigations.map((m) => m.id),
    prune: a.model.prune.map((p) => p.id),
  })
  const b = ids(before), n = ids(after)
  const opened = [...added.filter((c) => c.status === 'open').map((c) => c.id), ...changed.filter((c) => c.after.status === 'open').map((c) => c.id)]
  return {
    opened, added, removed, changed,
    counts: { before: before.counts, after: after.counts },
    declarations: {
      roles: setDiff(b.roles, n.roles), assets: setDiff(b.assets, n.assets), categories: setDiff(b.categories, n.categories),
      mitigations: setDiff(b.mitigations, n.mitigations), prune: setDiff(b.prune, n.prune),
    },
  }
}

/** Markdown rendering of a diff, for a pull request comment or the terminal. */
export function renderDiffMarkdown(d: ThreatDiff, names: { before: string; after: string }): string {
  const out: string[] = [`# Threat model diff: ${names.before} → ${names.after}`, '']
  out.push('| count | before | after | change |', '|---|---:|---:|---:|')
  for (const k of Object.keys(d.counts.before) as (keyof Counts)[]) {
    const x = d.counts.before[k], y = d.counts.after[k]
    out.push(`| ${k} | ${x} | ${y} | ${y - x > 0 ? '+' : ''}${y - x} |`)
  }
  out.push('')
  for (const [k, v] of Object.entries(d.declarations)) {
    if (v.added.length || v.removed.length) out.push(`- ${k}: ${v.added.map((x) => `+${x}`).concat(v.removed.map((x) => `-${x}`)).join(', ')}`)
  }
  if (d.opened.length) out.push('', `**Opened by this change (${d.opened.length}):** ${d.opened.map((id) => `\`${id}\``).join(', ')}`)
  out.push('', `## Added cases (${d.added.length})`, '')
  for (const c of d.added) out.push(`- \`${c.id}\` — ${c.status}${c.mitigations ? ` (${c.mitigations.join(', ')})` : ''}`)
  out.push('', `## Removed cases (${d.removed.length})`, '')
  for (const c of d.removed) out.push(`- \`${c.id}\` (was ${c.status}) — ${c.why}`)
  out.push('', `## Status changes (${d.changed.length})`, '')
  for (const c of d.changed) out.push(`- \`${c.id}\`: ${c.before.status}${c.before.mitigations ? ` [${c.before.mitigations.join(', ')}]` : ''} → ${c.after.status}${c.after.mitigations ? ` [${c.after.mitigations.join(', ')}]` : ''}`)
  return out.join('\n') + '\n'
}
