/**
 * Renders an analysis as Markdown and as one self-contained HTML page (no scripts, no external files): a table of
 * contents, counts, the open cases (each linked to where it sits, highlighted there), one collusion matrix per
 * threat category, then every case, every pruning (grouped by rule, with its reason) and every merge.
 *
 * @example
 * ```ts
 * import { renderMarkdown, renderHtml } from './report.js'
 * // const { analysis } = loadThreatModel('models/cdn.yaml')
 * // writeFileSync('reports/cdn.md', renderMarkdown(analysis)); writeFileSync('reports/cdn.html', renderHtml(analysis))
 * ```
 */
import type { ThreatAnalysis, Cell, CategoryMatrix, Counts, Amount, Role } from './types.js'

const label = (coalition: string[]) => coalition.join(' + ')

/**
 * The page anchor of a case: `case-` and its id with every character other than a letter or digit written as `_`
 * and its hex code, so distinct ids never share an anchor (`theft:client->coin` → `case-theft_3aclient_2d_3ecoin`).
 */
export function caseAnchor(id: string): string {
  return `case-${id.replace(/[^A-Za-z0-9]/g, (ch) => `_${ch.charCodeAt(0).toString(16)}`)}`
}

/** The anchor of a category's section. */
export const categoryAnchor = (category: string): string => `cat-${category.replace(/[^A-Za-z0-9]/g, (ch) => `_${ch.charCodeAt(0).toString(16)}`)}`

/** The report's sections in order, for its table of contents: [anchor, title]. */
export function reportSections(a: ThreatAnalysis): [string, string][] {
  const open = a.cases.filter((c) => c.status === 'open').length
  const accepted = a.cases.filter((c) => c.status === 'accepted').length
  return [
    ['summary', 'Summary'],
    ['open-cases', `Open cases (${open})`],
    ['roles', 'Roles'],
    ...(a.model.assumptions.length ? [['assumptions', 'Assumptions'] as [string, string]] : []),
    ['assets', 'Assets'],
    ['mitigations', 'Mitigations'],
    ...(accepted ? [['accepted-cases', `Accepted cases (${accepted})`] as [string, string]] : []),
    ...a.matrices.map((mx): [string, string] => [categoryAnchor(mx.category), `${mx.name} (${mx.category}, ${mx.counts.open} open)`]),
  ]
}

function cellText(c: Cell, matrix: CategoryMatrix): string {
  if (c.fate === 'pruned') return '–'
  if (c.fate === 'merged') {
    const into = matrix.cells.find((x) => x.id === c.mergedInto)
    return `→ ${into ? label(into.coalition) : c.mergedInto}`
  }
  switch (c.status) {
    case 'open': return 'OPEN'
    case 'mitigated': return `✓ ${(c.mitigations ?? []).join(', ')}`
    case 'not-applicable': return 'n/a'
    case 'accepted': return `accepted (${c.risk})`
    default: return '?'
  }
}

/** "3 gas (basis)". */
export function amountText(a: Amount): string {
  return `${a.amount.toLocaleString('en-US', { maximumFractionDigits: 6 })} ${a.unit} (${a.basis})`
}

/** The attacker's cost and gain, and whether the attack pays when both are in the same unit. */
export function economicsText(c: Pick<Cell, 'cost' | 'gain'>): string | undefined {
  if (!c.cost && !c.gain) return undefined
  const parts: string[] = []
  if (c.cost) parts.push(`cost ${amountText(c.cost)}`)
  if (c.gain) parts.push(`gain ${amountText(c.gain)}`)
  if (c.cost && c.gain && c.cost.unit === c.gain.unit) {
    parts.push(c.gain.amount > c.cost.amount ? `the attack pays: gain − cost = ${+(c.gain.amount - c.cost.amount).toFixed(6)} ${c.gain.unit}` : 'the attack does not pay')
  }
  return parts.join('; ')
}

function caseLine(c: Cell): string {
  const assumes = c.assumes ? ` [assumes ${c.assumes.join(', ')}]` : ''
  const econ = economicsText(c)
  const money = econ ? ` — ${econ}` : ''
  switch (c.status) {
    case 'mitigated': return `mitigated by ${(c.mitigations ?? []).join(', ')}${c.note ? ` — ${c.note}` : ''}${money}${assumes}`
    case 'not-applicable': return `not applicable: ${c.reason}${assumes}`
    case 'accepted': return `accepted, ${c.risk} risk: ${c.reason}${money}${assumes}`
    default: return `OPEN${c.note ? ` — ${c.note}` : ''}`
  }
}

/** "yes" / "no" when cost and gain share a unit, else "?" (they cannot be compared). */
function pays(c: Pick<Cell, 'cost' | 'gain'>): string {
  if (!c.cost || !c.gain || c.cost.unit !== c.gain.unit) return '?'
  return c.gain.amount > c.cost.amount ? 'yes' : 'no'
}

function roleKind(r: Role): string {
  return r.external ? 'yes (external)' : r.attacker ? 'yes' : 'no (trusted)'
}

function countsLine(c: Counts): string {
  return `enumerated ${c.enumerated} · pruned ${c.pruned} · merged ${c.merged} · cases ${c.cases} (open ${c.open}, mitigated ${c.mitigated}, not applicable ${c.notApplicable}, accepted ${c.accepted})`
}

function prunedGroups(m: CategoryMatrix): { rule: string; reason: string; cells: Cell[] }[] {
  const g = new Map<string, { rule: string; reason: string; cells: Cell[] }>()
  for (const c of m.cells) {
    if (c.fate !== 'pruned') continue
    const k = `${c.pruned!.rule}\u0000${c.pruned!.reason}`
    if (!g.has(k)) g.set(k, { rule: c.pruned!.rule, reason: c.pruned!.reason, cells: [] })
    g.get(k)!.cells.push(c)
  }
  return [...g.values()]
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|')

export function renderMarkdown(a: ThreatAnalysis): string {
  const m = a.model
  const out: string[] = [`# Threat model: ${m.name}`, '']
  if (m.description) out.push(m.description.trim(), '')
  out.push('**Contents:** ' + reportSections(a).map(([id, t]) => `[${mdEscape(t)}](#${id})`).join(' · '), '')
  out.push('<a id="summary"></a>', '', `**Totals:** ${countsLine(a.counts)}`, '', `Coalitions of up to ${m.settings.maxCoalitionSize} attacker roles.`, '')
  const open = a.cases.filter((c) => c.status === 'open')
  out.push('<a id="open-cases"></a>', '', `## Open cases (${open.length})`, '')
  if (open.length) for (const c of open) out.push(`- **OPEN** [\`${c.id}\`](#${caseAnchor(c.id)})${c.note ? ` — ${mdEscape(c.note)}` : ''}`)
  else out.push('None: every case is mitigated, not applicable or accepted.')
  out.push('', '<a id="roles"></a>', '', '## Roles', '', '| role | many instances | attacker | notes |', '|---|---|---|---|')
  for (const r of m.roles) out.push(`| ${r.id} | ${r.many ? 'yes' : 'no'} | ${roleKind(r)} | ${mdEscape(r.trust ?? r.description ?? r.name ?? '')} |`)
  if (m.assumptions.length) {
    out.push('', '<a id="assumptions"></a>', '', '## Assumptions', '', '| id | statement | basis | if broken |', '|---|---|---|---|')
    for (const x of m.assumptions) out.push(`| ${x.id} | ${mdEscape(x.statement)} | ${mdEscape(x.basis ?? '')} | ${mdEscape(x.ifBroken ?? '')} |`)
  }
  out.push('', '<a id="assets"></a>', '', '## Assets', '', '| asset | kind | owner | categories |', '|---|---|---|---|')
  for (const x of m.assets) out.push(`| ${x.id} | ${x.kind} | ${x.owner ?? '—'} | ${x.categories.map((c) => c.id).join(', ')} |`)
  out.push('', '<a id="mitigations"></a>', '', '## Mitigations', '', '| id | class | mechanism | demonstration |', '|---|---|---|---|')
  for (const x of m.mitigations) out.push(`| ${x.id} | ${x.class} | ${mdEscape(x.mechanism ?? x.name)} | ${x.demonstration ? `\`${x.demonstration.test}\`` : '—'} |`)
  const accepted = a.cases.filter((c) => c.status === 'accepted')
  if (accepted.length) {
    out.push('', '<a id="accepted-cases"></a>', '', `## Accepted cases (${accepted.length}): risk, the attacker's cost and gain`, '', '| case | risk | cost | gain | pays? |', '|---|---|---|---|---|')
    for (const c of accepted) out.push(`| \`${c.id}\` | ${c.risk} | ${c.cost ? mdEscape(amountText(c.cost)) : '—'} | ${c.gain ? mdEscape(amountText(c.gain)) : '—'} | ${pays(c)} |`)
  }
  for (const mx of a.matrices) {
    out.push('', `<a id="${categoryAnchor(mx.category)}"></a>`, '', `## ${mx.name} (\`${mx.category}\`, asset \`${mx.asset}\`)`, '', countsLine(mx.counts), '')
    out.push(`| coalition \\ target | ${mx.targets.join(' | ')} |`, `|---|${mx.targets.map(() => '---').join('|')}|`)
    for (const co of mx.coalitions) {
      const row = mx.targets.map((t) => mdEscape(cellText(mx.cells.find((c) => c.target === t && c.coalition.join('+') === co.join('+'))!, mx)))
      out.push(`| ${label(co)} | ${row.join(' | ')} |`)
    }
    const cases = mx.cells.filter((c) => c.fate === 'case')
    if (cases.length) {
      out.push('', '**Cases**', '')
      for (const c of cases) out.push(`- <a id="${caseAnchor(c.id)}"></a>${c.status === 'open' ? '**OPEN** ' : ''}\`${c.id}\` — ${mdEscape(caseLine(c))}${c.effect ? ` *(effect: ${mdEscape(c.effect)})*` : ''}`)
    }
    const groups = prunedGroups(mx)
    if (groups.length) {
      out.push('', '**Pruned**', '')
      for (const g of groups) out.push(`- ${g.rule} (${g.cells.length}): ${g.reason} — ${g.cells.map((c) => `${label(c.coalition)}→${c.target}`).join('; ')}`)
    }
    const merged = mx.cells.filter((c) => c.fate === 'merged')
    if (merged.length) {
      out.push('', '**Merged** (both cells state the same effect; the larger coalition adds nothing to it)', '')
      for (const c of merged) out.push(`- \`${c.id}\` into \`${c.mergedInto}\` (effect: ${mdEscape(c.effect ?? '')})`)
    }
  }
  return out.join('\n') + '\n'
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)

function cellClass(c: Cell): string {
  return c.fate === 'case' ? `s-${c.status}` : `f-${c.fate}`
}

function cellTitle(c: Cell): string {
  if (c.fate === 'pruned') return `${c.id}\npruned by ${c.pruned!.rule}: ${c.pruned!.reason}`
  if (c.fate === 'merged') return `${c.id}\nmerged into ${c.mergedInto} (same effect: ${c.effect})`
  return `${c.id}\n${caseLine(c)}${c.effect ? `\neffect: ${c.effect}` : ''}`
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.matrix td{font-size:12px;min-width:6rem}.counts{display:flex;gap:.75rem;flex-wrap:wrap;margin:1rem 0}
.counts div{border:1px solid #ddd;border-radius:6px;padding:.5rem .75rem}.counts b{display:block;font-size:1.4rem}
.s-open{background:#fdd;color:#900;font-weight:600}.s-mitigated{background:#dfd}.s-not-applicable{background:#eee;color:#555}
.s-accepted{background:#ffe9b3}.s-open a,.counts a{color:inherit}.counts a{text-decoration:none}
nav#toc{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0;background:#fcfcfc}nav#toc ol{margin:.25rem 0;columns:2}
li.s-open{padding:.1rem .3rem;border-left:4px solid #c00}:target{outline:3px solid #f90}.f-pruned{color:#aaa;background:#fafafa}.f-merged{color:#557;background:#f0f0fa}
code{background:#f4f4f4;padding:0 .2rem}li{margin:.15rem 0}.legend span{padding:.1rem .4rem;margin-right:.4rem;border:1px solid #ccc}`

export function renderHtml(a: ThreatAnalysis): string {
  const m = a.model
  const h: string[] = []
  h.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Threat model: ${esc(m.name)}</title><style>${CSS}</style></head><body>`)
  h.push(`<h1>Threat model: ${esc(m.name)}</h1>`)
  if (m.description) h.push(`<p>${esc(m.description.trim())}</p>`)
  h.push(`<nav id="toc"><b>Contents</b><ol>${reportSections(a).map(([id, t]) => `<li><a href="#${id}">${esc(t)}</a></li>`).join('')}</ol></nav>`)
  const c = a.counts
  h.push('<h2 id="summary">Summary</h2><div class="counts" id="counts">')
  for (const [k, v] of [['enumerated', c.enumerated], ['pruned', c.pruned], ['merged', c.merged], ['cases', c.cases], ['open', c.open], ['mitigated', c.mitigated], ['not applicable', c.notApplicable], ['accepted', c.accepted]] as const) {
    h.push(k === 'open' ? `<div class="${v > 0 ? 's-open' : ''}"><a href="#open-cases"><b>${v}</b>${k}</a></div>` : `<div><b>${v}</b>${k}</div>`)
  }
  h.push('</div>')
  const open = a.cases.filter((x) => x.status === 'open')
  h.push(`<section id="open-cases"><h2>Open cases (${open.length})</h2>`)
  if (open.length) {
    h.push(`<p class="s-open">${open.length} case${open.length === 1 ? ' needs' : 's need'} a mitigation, a reason or an accepted risk before <code>souk threat check</code> passes:</p><ul class="open-list">`)
    for (const x of open) h.push(`<li class="s-open"><a href="#${caseAnchor(x.id)}"><code>${esc(x.id)}</code></a>${x.note ? ` — ${esc(x.note)}` : ''}${x.effect ? ` <em>(effect: ${esc(x.effect)})</em>` : ''}</li>`)
    h.push('</ul>')
  } else h.push('<p>None: every case is mitigated, not applicable or accepted.</p>')
  h.push('</section>')
  h.push('<p class="legend"><span class="s-open">OPEN</span><span class="s-mitigated">✓ mitigated</span><span class="s-not-applicable">n/a</span><span class="s-accepted">accepted</span><span class="f-pruned">– pruned</span><span class="f-merged">→ merged</span> Hover a cell for its id and reason.</p>')
  h.push(`<p>Coalitions of up to ${m.settings.maxCoalitionSize} attacker roles.</p>`)
  h.push('<h2 id="roles">Roles</h2><table><tr><th>role</th><th>many instances</th><th>attacker</th><th>notes</th></tr>')
  for (const r of m.roles) h.push(`<tr><td>${esc(r.id)}</td><td>${r.many ? 'yes' : 'no'}</td><td>${roleKind(r)}</td><td>${esc(r.trust ?? r.description ?? r.name ?? '')}</td></tr>`)
  if (m.assumptions.length) {
    h.push('</table><h2 id="assumptions">Assumptions</h2><table><tr><th>id</th><th>statement</th><th>basis</th><th>if broken</th></tr>')
    for (const x of m.assumptions) h.push(`<tr><td><code>${esc(x.id)}</code></td><td>${esc(x.statement)}</td><td>${esc(x.basis ?? '')}</td><td>${esc(x.ifBroken ?? '')}</td></tr>`)
  }
  h.push('</table><h2 id="assets">Assets</h2><table><tr><th>asset</th><th>kind</th><th>owner</th><th>categories</th></tr>')
  for (const x of m.assets) h.push(`<tr><td>${esc(x.id)}</td><td>${x.kind}</td><td>${esc(x.owner ?? '—')}</td><td>${x.categories.map((k) => esc(k.name)).join(', ')}</td></tr>`)
  h.push('</table><h2 id="mitigations">Mitigations</h2><table><tr><th>id</th><th>class</th><th>name</th><th>mechanism</th><th>demonstration</th></tr>')
  for (const x of m.mitigations) h.push(`<tr><td><code>${esc(x.id)}</code></td><td>${x.class}</td><td>${esc(x.name)}</td><td>${esc(x.mechanism ?? '')}</td><td>${x.demonstration ? `<code>${esc(x.demonstration.test)}</code>` : '—'}</td></tr>`)
  h.push('</table>')
  const accepted = a.cases.filter((x) => x.status === 'accepted')
  if (accepted.length) {
    h.push(`<h2 id="accepted-cases">Accepted cases (${accepted.length}): risk, the attacker's cost and gain</h2><table id="accepted"><tr><th>case</th><th>risk</th><th>cost</th><th>gain</th><th>pays?</th></tr>`)
    for (const x of accepted) h.push(`<tr class="s-accepted"><td><code>${esc(x.id)}</code></td><td>${x.risk}</td><td>${x.cost ? esc(amountText(x.cost)) : '—'}</td><td>${x.gain ? esc(amountText(x.gain)) : '—'}</td><td>${pays(x)}</td></tr>`)
    h.push('</table>')
  }
  for (const mx of a.matrices) {
    h.push(`<section class="category" id="${categoryAnchor(mx.category)}"><h2>${esc(mx.name)} <small>(<code>${esc(mx.category)}</code>, asset <code>${esc(mx.asset)}</code>, ${mx.kind})</small></h2>`)
    h.push(`<p>${esc(countsLine(mx.counts))}</p><table class="matrix"><tr><th>coalition \\ target</th>${mx.targets.map((t) => `<th>${esc(t)}</th>`).join('')}</tr>`)
    for (const co of mx.coalitions) {
      h.push(`<tr><th>${esc(label(co))}</th>`)
      for (const t of mx.targets) {
        const cell = mx.cells.find((x) => x.target === t && x.coalition.join('+') === co.join('+'))!
        const text = esc(cellText(cell, mx))
        h.push(`<td class="${cellClass(cell)}" title="${esc(cellTitle(cell))}">${cell.fate === 'case' ? `<a href="#${caseAnchor(cell.id)}">${text}</a>` : text}</td>`)
      }
      h.push('</tr>')
    }
    h.push('</table>')
    const cases = mx.cells.filter((x) => x.fate === 'case')
    if (cases.length) {
      h.push('<h3>Cases</h3><ul>')
      for (const x of cases) h.push(`<li class="${cellClass(x)}" id="${caseAnchor(x.id)}"><code>${esc(x.id)}</code> — ${esc(caseLine(x))}${x.effect ? ` <em>(effect: ${esc(x.effect)})</em>` : ''}</li>`)
      h.push('</ul>')
    }
    const groups = prunedGroups(mx)
    if (groups.length) {
      h.push('<h3>Pruned</h3><ul>')
      for (const g of groups) h.push(`<li><code>${esc(g.rule)}</code> (${g.cells.length}): ${esc(g.reason)} <small>${esc(g.cells.map((x) => `${label(x.coalition)}→${x.target}`).join('; '))}</small></li>`)
      h.push('</ul>')
    }
    const merged = mx.cells.filter((x) => x.fate === 'merged')
    if (merged.length) {
      h.push('<h3>Merged</h3><ul>')
      for (const x of merged) h.push(`<li><code>${esc(x.id)}</code> into <code>${esc(x.mergedInto!)}</code> (effect: ${esc(x.effect ?? '')})</li>`)
      h.push('</ul>')
    }
    h.push('</section>')
  }
  h.push('</body></html>')
  return h.join('\n')
}

/** A compact terminal table: one row per category with its counts. */
export function renderCountsTable(a: ThreatAnalysis): string {
  const rows = [['category', 'asset', 'enum', 'pruned', 'merged', 'cases', 'open', 'mitig', 'n/a', 'accept']]
  for (const m of a.matrices) rows.push([m.category, m.asset, ...[m.counts.enumerated, m.counts.pruned, m.counts.merged, m.counts.cases, m.counts.open, m.counts.mitigated, m.counts.notApplicable, m.counts.accepted].map(String)])
  const c = a.counts
  rows.push(['TOTAL', '', ...[c.enumerated, c.pruned, c.merged, c.cases, c.open, c.mitigated, c.notApplicable, c.accepted].map(String)])
  return formatTable(rows)
}

/** Left-aligns the first two columns and right-aligns the rest. */
export function formatTable(rows: string[][], leftCols = 2): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r, ri) => {
    const line = r.map((x, i) => (i < leftCols ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ')
    return ri === 0 ? `${line}\n${w.map((n) => '-'.repeat(n)).join('  ')}` : line
  }).join('\n') + '\n'
}
