/**
 * The ABC analysis: for every threat category, enumerate the collusion matrix (coalitions of attacker roles x
 * targets), prune infeasible cells by explicit rules (each with a written reason), merge a cell into a smaller
 * coalition's cell only when both state the same effect (in their case or their category: an effect is never
 * guessed), and give every remaining cell a status. Pure functions.
 *
 * @example
 * ```ts
 * import { analyzeThreatModel } from './analyze.js'
 * import { ThreatModelSchema } from './schema.js'
 * const model = ThreatModelSchema.parse({ souk: 'threat-model/1', name: 'toy',
 *   roles: [{ id: 'client', many: true }, { id: 'server' }],
 *   assets: [{ id: 'service', kind: 'service', owner: 'server', categories: [{ id: 'dos', name: 'DoS', kind: 'denial-of-service' }] }] })
 * const a = analyzeThreatModel(model)
 * a.counts.enumerated // 6: coalitions {client},{server},{client,server} x targets client, server
 * a.cases.map((c) => c.id) // ['dos:client->client', 'dos:client->server', 'dos:server->client', 'dos:client+server->client']
 * // (no effect is stated, so client+server -> client does not merge into client -> client)
 * ```
 */
import type { ThreatModel, Cell, CategoryMatrix, Counts, ThreatAnalysis, Match, CaseDecl, Category, Asset } from './types.js'
import { ThreatModelError, type ModelIssue } from './errors.js'

/** The rules every model gets, applied before the model's own `prune` rules. Data, so reports can list them. */
export const BUILTIN_PRUNE_RULES = [
  { id: 'builtin:lacks-capability', reason: 'No member of the coalition can carry out this attack: it needs one of {requires}.' },
  { id: 'builtin:self-target', reason: 'A single-instance role ({target}) cannot attack itself; only roles with many instances attack their peers.' },
  { id: 'builtin:owner-no-gain', reason: '{target} is owned by {owner}, a member of the coalition: an owner gains nothing by attacking its own asset.' },
] as const

export function cellId(category: string, coalition: string[], target: string): string {
  return `${category}:${[...coalition].sort().join('+')}->${target}`
}

/** Non-empty subsets of `roles` with at most `maxSize` members, smallest first, each sorted, in a stable order. */
export function coalitionsOf(roles: string[], maxSize: number): string[][] {
  const sorted = [...roles].sort()
  const out: string[][] = []
  const rec = (start: number, cur: string[]) => {
    if (cur.length > 0) out.push([...cur])
    if (cur.length === maxSize) return
    for (let i = start; i < sorted.length; i++) rec(i + 1, [...cur, sorted[i]])
  }
  rec(0, [])
  return out.sort((a, b) => a.length - b.length || a.join('+').localeCompare(b.join('+')))
}

export function matches(m: Match, category: string, coalition: string[], target: string): boolean {
  if (m.categories && !m.categories.includes(category)) return false
  if (m.coalitionIncludes && !m.coalitionIncludes.every((r) => coalition.includes(r))) return false
  if (m.coalitionIncludesAny && !m.coalitionIncludesAny.some((r) => coalition.includes(r))) return false
  if (m.coalitionExcludes && m.coalitionExcludes.some((r) => coalition.includes(r))) return false
  if (m.targets && !m.targets.includes(target)) return false
  if (m.minCoalitionSize !== undefined && coalition.length < m.minCoalitionSize) return false
  return true
}

function caseMatches(c: CaseDecl, category: string, coalition: string[], target: string): boolean {
  if (c.category !== category) return false
  if (c.coalition && [...c.coalition].sort().join('+') !== [...coalition].sort().join('+')) return false
  if (c.coalitionIncludes && !c.coalitionIncludes.every((r) => coalition.includes(r))) return false
  if (c.target && c.target !== target) return false
  if (c.targets && !c.targets.includes(target)) return false
  return true
}

/** Higher is more specific: an exact coalition beats a pattern, a named target beats all targets. */
function specificity(c: CaseDecl): number {
  return (c.coalition ? 1000 : (c.coalitionIncludes?.length ?? 0) * 10) + (c.target ? 5 : c.targets ? 3 : 0)
}

function bestCase(model: ThreatModel, category: string, coalition: string[], target: string): { decl: CaseDecl; index: number } | undefined {
  let best: { decl: CaseDecl; index: number } | undefined
  model.cases.forEach((decl, index) => {
    if (!caseMatches(decl, category, coalition, target)) return
    if (!best || specificity(decl) > specificity(best.decl)) best = { decl, index }
  })
  return best
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? `{${k}}`)
}

function emptyCounts(): Counts {
  return { enumerated: 0, pruned: 0, merged: 0, cases: 0, open: 0, notApplicable: 0, mitigated: 0, accepted: 0 }
}

function addCell(c: Counts, cell: Cell): void {
  c.enumerated++
  if (cell.fate === 'pruned') c.pruned++
  else if (cell.fate === 'merged') c.merged++
  else {
    c.cases++
    if (cell.status === 'open') c.open++
    else if (cell.status === 'not-applicable') c.notApplicable++
    else if (cell.status === 'mitigated') c.mitigated++
    else if (cell.status === 'accepted') c.accepted++
  }
}

/** Checks references the schema cannot: ids exist, are unique, no dependency cycles. Returns every problem. */
export function validateReferences(model: ThreatModel): ModelIssue[] {
  const issues: ModelIssue[] = []
  const roleIds = model.roles.map((r) => r.id)
  const attackerIds = model.roles.filter((r) => r.attacker).map((r) => r.id)
  const assetIds = model.assets.map((a) => a.id)
  const categoryIds = model.assets.flatMap((a) => a.categories.map((c) => c.id))
  const mitigationIds = model.mitigations.map((m) => m.id)
  const list = (xs: string[]) => xs.join(', ') || '(none)'
  const dup = (ids: string[], at: (i: number) => (string | number)[], what: string) => {
    const seen = new Map<string, number>()
    ids.forEach((id, i) => {
      if (seen.has(id)) issues.push({ path: at(i), message: `duplicate ${what} id "${id}"`, hint: `rename one of them; ids must be unique` })
      else seen.set(id, i)
    })
  }
  dup(roleIds, (i) => ['roles', i, 'id'], 'role')
  dup(assetIds, (i) => ['assets', i, 'id'], 'asset')
  dup(mitigationIds, (i) => ['mitigations', i, 'id'], 'mitigation')
  dup(model.prune.map((p) => p.id), (i) => ['prune', i, 'id'], 'prune rule')
  const catPaths: (string | number)[][] = []
  model.assets.forEach((a, ai) => a.categories.forEach((_c, ci) => catPaths.push(['assets', ai, 'categories', ci, 'id'])))
  dup(categoryIds, (i) => catPaths[i], 'category')
  model.assets.forEach((a, ai) => {
    if (roleIds.includes(a.id)) issues.push({ path: ['assets', ai, 'id'], message: `asset id "${a.id}" is also a role id`, hint: 'targets may be roles or assets, so their ids must differ' })
  })
  const role = (id: string, path: (string | number)[], opts: { attacker?: boolean } = {}) => {
    if (!roleIds.includes(id)) issues.push({ path, message: `unknown role "${id}"`, hint: `declare it under \`roles:\` or use one of: ${list(roleIds)}` })
    else if (opts.attacker && !attackerIds.includes(id)) issues.push({ path, message: `role "${id}" is trusted (attacker: false) and never part of a coalition`, hint: `use one of the attacker roles: ${list(attackerIds)}` })
  }
  const target = (id: string, path: (string | number)[]) => {
    if (!roleIds.includes(id) && !assetIds.includes(id)) issues.push({ path, message: `unknown target "${id}"`, hint: `a target is a role or an asset: ${list([...roleIds, ...assetIds])}` })
  }
  const category = (id: string, path: (string | number)[]) => {
    if (!categoryIds.includes(id)) issues.push({ path, message: `unknown category "${id}"`, hint: `use one of: ${list(categoryIds)}` })
  }
  if (attackerIds.length === 0) issues.push({ path: ['roles'], message: 'no role can attack (every role has attacker: false)', hint: 'mark at least one role as a possible attacker' })
  model.roles.forEach((r, i) => {
    if (!r.attacker && !r.trust) issues.push({ path: ['roles', i, 'attacker'], message: `role "${r.id}" is declared trusted without a reason`, hint: 'add `trust: <why this role cannot attack>` or remove `attacker: false`' })
    if (r.external && !r.attacker) issues.push({ path: ['roles', i, 'attacker'], message: `role "${r.id}" is external and trusted: an external attacker is an attacker by definition`, hint: 'remove `attacker: false` (and `trust`), or `external: true`' })
  })
  const assumptionIds = model.assumptions.map((a) => a.id)
  dup(assumptionIds, (i) => ['assumptions', i, 'id'], 'assumption')
  const assumption = (id: string, path: (string | number)[]) => {
    if (!assumptionIds.includes(id)) issues.push({ path, message: `unknown assumption "${id}"`, hint: `declare it under \`assumptions:\` or use one of: ${list(assumptionIds)}` })
  }
  model.prune.forEach((p, i) => p.assumes?.forEach((a, j) => assumption(a, ['prune', i, 'assumes', j])))
  const external = new Set(model.roles.filter((r) => r.external).map((r) => r.id))
  model.assets.forEach((a, ai) => {
    if (a.owner && external.has(a.owner)) issues.push({ path: ['assets', ai, 'owner'], message: `asset "${a.id}" is owned by "${a.owner}", an external role (it holds nothing of the market)`, hint: 'name a participant role as owner, or drop `external: true` from the role' })
    if (a.owner) role(a.owner, ['assets', ai, 'owner'])
    a.categories.forEach((c, ci) => {
      c.targets?.forEach((t, ti) => target(t, ['assets', ai, 'categories', ci, 'targets', ti]))
      c.requiresAnyOf?.forEach((r, ri) => role(r, ['assets', ai, 'categories', ci, 'requiresAnyOf', ri], { attacker: true }))
    })
  })
  const matchRefs = (m: Match, base: (string | number)[]) => {
    m.categories?.forEach((c, i) => category(c, [...base, 'categories', i]))
    for (const k of ['coalitionIncludes', 'coalitionIncludesAny', 'coalitionExcludes'] as const) m[k]?.forEach((r, i) => role(r, [...base, k, i]))
    m.targets?.forEach((t, i) => target(t, [...base, 'targets', i]))
  }
  model.prune.forEach((p, i) => matchRefs(p.when, ['prune', i, 'when']))
  model.mitigations.forEach((m, i) => m.dependsOn?.forEach((d, j) => {
    if (!mitigationIds.includes(d)) issues.push({ path: ['mitigations', i, 'dependsOn', j], message: `unknown mitigation "${d}"`, hint: `declare it under \`mitigations:\` or use one of: ${list(mitigationIds)}` })
  }))
  // Cycles in dependsOn: depth-first search with colours; report each cycle once, at the edge that closes it.
  const deps = new Map(model.mitigations.map((m) => [m.id, m.dependsOn ?? []]))
  const colour = new Map<string, 'grey' | 'black'>()
  const stack: string[] = []
  const visit = (id: string) => {
    colour.set(id, 'grey')
    stack.push(id)
    for (const [j, d] of (deps.get(id) ?? []).entries()) {
      if (!deps.has(d)) continue
      if (colour.get(d) === 'grey') {
        const cyc = [...stack.slice(stack.indexOf(d)), d]
        issues.push({ path: ['mitigations', model.mitigations.findIndex((m) => m.id === id), 'dependsOn', j], message: `dependency cycle: ${cyc.join(' -> ')}`, hint: 'a mitigation cannot depend on itself, directly or through others; remove one of these dependsOn entries' })
      } else if (!colour.has(d)) visit(d)
    }
    stack.pop()
    colour.set(id, 'black')
  }
  for (const m of model.mitigations) if (!colour.has(m.id)) visit(m.id)
  model.cases.forEach((c, i) => {
    category(c.category, ['cases', i, 'category'])
    c.coalition?.forEach((r, j) => role(r, ['cases', i, 'coalition', j], { attacker: true }))
    c.coalitionIncludes?.forEach((r, j) => role(r, ['cases', i, 'coalitionIncludes', j], { attacker: true }))
    if (c.coalition && c.coalition.length > model.settings.maxCoalitionSize) issues.push({ path: ['cases', i, 'coalition'], message: `coalition of ${c.coalition.length} roles is larger than settings.maxCoalitionSize (${model.settings.maxCoalitionSize})`, hint: 'raise settings.maxCoalitionSize or shrink the coalition' })
    if (c.coalition && new Set(c.coalition).size !== c.coalition.length) issues.push({ path: ['cases', i, 'coalition'], message: 'a role appears twice in the coalition', hint: 'list each role once; a role with many instances stands for any number of them' })
    if (c.target) target(c.target, ['cases', i, 'target'])
    c.targets?.forEach((t, j) => target(t, ['cases', i, 'targets', j]))
    c.mitigations?.forEach((m, j) => {
      if (!mitigationIds.includes(m)) issues.push({ path: ['cases', i, 'mitigations', j], message: `unknown mitigation "${m}"`, hint: `declare it under \`mitigations:\` or use one of: ${list(mitigationIds)}` })
    })
    if (c.status !== 'mitigated' && c.mitigations) issues.push({ path: ['cases', i, 'mitigations'], message: `a case with status "${c.status}" lists mitigations`, hint: 'set status: mitigated, or remove the mitigations' })
    c.assumes?.forEach((a, j) => assumption(a, ['cases', i, 'assumes', j]))
  })
  return issues
}

/** A category's columns: its `targets`, or every role that is not external (an outsider holds nothing to attack). */
function targetsOf(model: ThreatModel, c: Category): string[] {
  return c.targets ?? model.roles.filter((r) => !r.external).map((r) => r.id)
}

/** Runs the analysis and returns it with every problem found in `cases` (dangling patterns, cases on pruned cells). */
export function analyzeWithIssues(model: ThreatModel): { analysis: ThreatAnalysis; issues: ModelIssue[] } {
  const issues: ModelIssue[] = []
  const attackers = model.roles.filter((r) => r.attacker).map((r) => r.id)
  const many = new Set(model.roles.filter((r) => r.many).map((r) => r.id))
  const coalitions = coalitionsOf(attackers, Math.min(model.settings.maxCoalitionSize, attackers.length))
  const caseHits = model.cases.map(() => ({ any: 0, kept: 0, blocked: [] as string[] }))
  const matrices: CategoryMatrix[] = []
  const total = emptyCounts()
  const allCases: Cell[] = []
  for (const asset of model.assets) {
    for (const cat of asset.categories) {
      const targets = targetsOf(model, cat)
      const cells: Cell[] = []
      for (const coalition of coalitions) {
        for (const target of targets) {
          const hit = bestCase(model, cat.id, coalition, target)
          const cell: Cell = {
            id: cellId(cat.id, coalition, target), asset: asset.id, category: cat.id, coalition, target,
            effect: hit?.decl.effect ?? cat.effect, fate: 'case',
          }
          const pruned = pruneReason(model, asset, cat, coalition, target, many)
          if (pruned) { cell.fate = 'pruned'; cell.pruned = pruned }
          cells.push(cell)
        }
      }
      // Merge: coalitions come smallest first, so every proper subset was decided before its supersets. A cell merges
      // only when it and the smaller cell state the same effect: a larger coalition is assumed to add nothing only
      // where the model says so, never by default (an unstated effect once hid an attack by publisher + cache).
      const kept: Cell[] = []
      for (const cell of cells) {
        if (cell.fate === 'pruned') continue
        const into = cell.effect === undefined ? undefined : kept.find((k) => k.target === cell.target && k.effect === cell.effect && k.coalition.length < cell.coalition.length && k.coalition.every((r) => cell.coalition.includes(r)))
        if (into) { cell.fate = 'merged'; cell.mergedInto = into.id } else kept.push(cell)
      }
      for (const cell of cells) {
        // Record which case declarations touched which cells, to report the dangling ones.
        model.cases.forEach((decl, i) => {
          if (!caseMatches(decl, cat.id, cell.coalition, cell.target)) return
          caseHits[i].any++
          if (cell.fate === 'case') caseHits[i].kept++
          else caseHits[i].blocked.push(cell.fate === 'pruned' ? `${cell.id} is pruned by ${cell.pruned!.rule}` : `${cell.id} is merged into ${cell.mergedInto}`)
        })
        if (cell.fate !== 'case') continue
        const hit = bestCase(model, cat.id, cell.coalition, cell.target)
        cell.status = hit?.decl.status ?? 'open'
        if (hit?.decl.mitigations) cell.mitigations = hit.decl.mitigations
        if (hit?.decl.reason) cell.reason = hit.decl.reason
        if (hit?.decl.risk) cell.risk = hit.decl.risk
        if (hit?.decl.cost) cell.cost = hit.decl.cost
        if (hit?.decl.gain) cell.gain = hit.decl.gain
        if (hit?.decl.assumes) cell.assumes = hit.decl.assumes
        if (hit?.decl.note) cell.note = hit.decl.note
        if (hit?.decl.scenario) cell.scenario = hit.decl.scenario
        allCases.push(cell)
      }
      const counts = emptyCounts()
      for (const c of cells) { addCell(counts, c); addCell(total, c) }
      matrices.push({ asset: asset.id, category: cat.id, name: cat.name, kind: cat.kind, coalitions, targets, cells, counts })
    }
  }
  model.cases.forEach((decl, i) => {
    const h = caseHits[i]
    const known = model.assets.some((a) => a.categories.some((c) => c.id === decl.category))
    if (!known) return // already reported by validateReferences
    if (h.any === 0) issues.push({ path: ['cases', i], message: 'this case matches no cell of the collusion matrix', hint: "check the category's targets and requiresAnyOf, and the coalition's roles" })
    else if (h.kept === 0) issues.push({ path: ['cases', i], message: `this case matches only cells that are not threat cases: ${h.blocked.slice(0, 3).join('; ')}${h.blocked.length > 3 ? '; ...' : ''}`, hint: 'remove the case, narrow the prune rule, or give the case an `effect` that differs from the smaller coalition\'s (cells merge only on the same stated effect)' })
  })
  return { analysis: { model, matrices, cases: allCases, counts: total }, issues }
}

function pruneReason(model: ThreatModel, asset: Asset, cat: Category, coalition: string[], target: string, many: Set<string>): { rule: string; reason: string } | undefined {
  const [lacks, self, owner] = BUILTIN_PRUNE_RULES
  if (cat.requiresAnyOf && !cat.requiresAnyOf.some((r) => coalition.includes(r))) return { rule: lacks.id, reason: fill(lacks.reason, { requires: cat.requiresAnyOf.join(', ') }) }
  if (coalition.includes(target) && !many.has(target)) return { rule: self.id, reason: fill(self.reason, { target }) }
  const ownerOf = target === asset.id ? asset.owner : model.assets.find((a) => a.id === target)?.owner
  if (ownerOf && coalition.includes(ownerOf) && !cat.ownerMayAttack) return { rule: owner.id, reason: fill(owner.reason, { target, owner: ownerOf }) }
  for (const p of model.prune) if (matches(p.when, cat.id, coalition, target)) return { rule: p.id, reason: p.reason }
  return undefined
}

/**
 * Analyses a parsed model. Throws a `ThreatModelError` (without line numbers; use `parseThreatModel` for those) if a
 * reference dangles or a case matches nothing.
 */
export function analyzeThreatModel(model: ThreatModel, file = '<model>'): ThreatAnalysis {
  const refIssues = validateReferences(model)
  if (refIssues.length) throw new ThreatModelError(file, refIssues)
  const { analysis, issues } = analyzeWithIssues(model)
  if (issues.length) throw new ThreatModelError(file, issues)
  return analysis
}
