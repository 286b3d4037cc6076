import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadThreatModel } from './load.js'
import { renderHtml, renderMarkdown, caseAnchor, reportSections } from './report.js'

const TOY = readFileSync(new URL('./fixtures/toy.yaml', import.meta.url), 'utf8')
const openToy = () => {
  const f = join(mkdtempSync(join(tmpdir(), 'souk-threat-report-')), 'open.yaml')
  writeFileSync(f, TOY.replace(/  - category: theft\n    status: mitigated\n    mitigations: \[sigs\]\n/, ''))
  return loadThreatModel(f).analysis
}

test('case anchors: letters and digits kept, everything else hex-coded, so distinct ids never collide', () => {
  assert.equal(caseAnchor('theft:client->coin'), 'case-theft_3aclient_2d_3ecoin')
  assert.notEqual(caseAnchor('a+b'), caseAnchor('a_b'))
  assert.match(caseAnchor('x:a+b->c'), /^case-[A-Za-z0-9_]+$/)
})

test('HTML report: a table of contents linking every section, open cases listed in the summary and linked to their case', () => {
  const a = openToy()
  const html = renderHtml(a)
  assert.match(html, /<nav id="toc">/)
  for (const [id] of reportSections(a)) {
    assert.ok(html.includes(`href="#${id}"`), `TOC has no link to #${id}`)
    assert.ok(html.includes(`id="${id}"`), `no section #${id}`)
  }
  const anchor = caseAnchor('theft:client->coin')
  assert.match(html, new RegExp(`<section id="open-cases"><h2>Open cases \\(1\\)</h2>`))
  assert.match(html, new RegExp(`<li class="s-open"><a href="#${anchor}"><code>theft:client-&gt;coin</code></a>`))
  assert.match(html, new RegExp(`<li class="s-open" id="${anchor}">`)) // the case itself, highlighted
  assert.match(html, /<div class="s-open"><a href="#open-cases"><b>1<\/b>open<\/a><\/div>/) // the count box links to the list
})

test('Markdown report: contents line, open cases with links to their anchors; none open says so', () => {
  const md = renderMarkdown(openToy())
  assert.match(md, /^\*\*Contents:\*\* \[Summary\]\(#summary\) · \[Open cases \(1\)\]\(#open-cases\)/m)
  assert.match(md, /- \*\*OPEN\*\* \[`theft:client->coin`\]\(#case-theft_3aclient_2d_3ecoin\)/)
  assert.match(md, /<a id="case-theft_3aclient_2d_3ecoin"><\/a>\*\*OPEN\*\* `theft:client->coin`/)
  const closed = renderMarkdown(loadThreatModel(new URL('./fixtures/toy.yaml', import.meta.url).pathname).analysis)
  assert.match(closed, /## Open cases \(0\)\n\nNone: every case is mitigated/)
})
