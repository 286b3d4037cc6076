import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname
const souk = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8' })
const TOY = readFileSync(new URL('./fixtures/toy.yaml', import.meta.url), 'utf8')

test('threat check: 0 when every case is closed, 1 while one is open, 2 for an invalid model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-threat-'))
  const ok = join(dir, 'ok.yaml'), open = join(dir, 'open.yaml'), bad = join(dir, 'bad.yaml')
  writeFileSync(ok, TOY)
  writeFileSync(open, TOY.replace(/  - category: theft\n    status: mitigated\n    mitigations: \[sigs\]\n/, ''))
  writeFileSync(bad, TOY.replace('owner: server', 'owner: nobody'))
  const r0 = souk('threat', 'check', ok)
  assert.equal(r0.status, 0, r0.stderr)
  const r1 = souk('threat', 'check', open)
  assert.equal(r1.status, 1)
  assert.match(r1.stdout, /OPEN theft:client->coin/)
  const r2 = souk('threat', 'check', bad)
  assert.equal(r2.status, 2)
  assert.match(r2.stderr, /bad\.yaml:\d+:\d+ .*unknown role "nobody"/)
})

test('threat check --run: a failing demonstration fails its case', () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-threat-'))
  const f = join(dir, 'toy.yaml')
  writeFileSync(f, TOY)
  const r = souk('threat', 'check', f, '--run', '--json')
  assert.equal(r.status, 1, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(out.open, [])
  assert.deepEqual(out.ran.map((x: { mitigation: string; ok: boolean }) => [x.mitigation, x.ok]).sort(), [['limits', true], ['sigs', false]])
  assert.deepEqual(out.failed.map((x: { case: string }) => x.case), ['theft:client->coin'])
  // With the failing mitigation's demonstration pointed at the passing test, the check passes.
  writeFileSync(f, TOY.replace('fail.demo.ts', 'pass.demo.ts'))
  assert.equal(souk('threat', 'check', f, '--run').status, 0)
})

test('threat report writes Markdown and HTML; diff runs on the shipped models', () => {
  const out = mkdtempSync(join(tmpdir(), 'souk-report-'))
  const r = souk('threat', 'report', 'models/cdn.yaml', '--out', out)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /TOTAL/)
  assert.ok(existsSync(join(out, 'cdn.threat.md')) && existsSync(join(out, 'cdn.threat.html')))
  assert.match(readFileSync(join(out, 'cdn.threat.md'), 'utf8'), /accounting:cache\+client->publisher/)
  const d = souk('threat', 'diff', 'models/cdn.yaml', 'models/cdn.yaml', '--json')
  assert.equal(d.status, 0, d.stderr)
  const j = JSON.parse(d.stdout)
  assert.deepEqual([j.added.length, j.removed.length, j.changed.length], [0, 0, 0])
})

test('demonstration names are literal substrings, and a name that matches no test fails', async () => {
  const { nodeTestRunner, literalNamePattern, passedCount } = await import('./run.js')
  assert.equal(literalNamePattern('(a) x.y [z]?'), '\\(a\\) x\\.y \\[z\\]\\?')
  assert.equal(passedCount('ℹ tests 3\nℹ pass 2\nℹ fail 0\n'), 2)
  const run = nodeTestRunner({ cwd: root })
  const test = 'src/threat/fixtures/pass.demo.ts'
  const [literal, none, whole] = await Promise.all([
    run({ test, name: '(x) a title with regex [metacharacters]?' }),
    run({ test, name: 'no such test' }),
    run({ test }),
  ])
  assert.equal(literal.ok, true, literal.output)
  assert.equal(none.ok, false, 'a name matching nothing must not pass with every test skipped')
  assert.match(none.output, /no test ran/)
  assert.equal(whole.ok, true, whole.output)
})

test('threat diff --fail-on-open: exit 1 when the change opens a case, 0 when it opens none, 2 for an invalid model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-threat-'))
  const old = join(dir, 'old.yaml'), opened = join(dir, 'opened.yaml'), reopened = join(dir, 'reopened.yaml'), bad = join(dir, 'bad.yaml')
  writeFileSync(old, TOY)
  // A new role: its cells have no case, so they are open.
  writeFileSync(opened, TOY.replace('  - id: server\n', '  - id: server\n  - id: stranger\n    external: true\n'))
  // An existing case loses its status: it becomes open.
  writeFileSync(reopened, TOY.replace(/  - category: theft\n    status: mitigated\n    mitigations: \[sigs\]\n/, ''))
  writeFileSync(bad, '')
  const same = souk('threat', 'diff', old, old, '--fail-on-open')
  assert.equal(same.status, 0, same.stderr)
  const r = souk('threat', 'diff', old, opened, '--fail-on-open')
  assert.equal(r.status, 1, r.stderr)
  assert.match(r.stderr, /opens 2 cases: dos:stranger->client, dos:stranger->server/)
  assert.match(r.stdout, /Opened by this change \(2\)/)
  const re = souk('threat', 'diff', old, reopened, '--fail-on-open', '--json')
  assert.equal(re.status, 1, re.stderr)
  assert.deepEqual(JSON.parse(re.stdout).opened, ['theft:client->coin'])
  // Without the flag the diff is a report and exits 0; the reverse change closes cases and passes.
  assert.equal(souk('threat', 'diff', old, opened).status, 0)
  assert.equal(souk('threat', 'diff', opened, old, '--fail-on-open').status, 0)
  const b = souk('threat', 'diff', old, bad, '--fail-on-open')
  assert.equal(b.status, 2)
  assert.match(b.stderr, /bad\.yaml .*the file is empty/)
  assert.doesNotMatch(b.stderr, /\n\s+at /, 'no stack trace')
})

test('threat check --max-risk: fails on accepted cases above the level, names them with cost and gain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-threat-'))
  const f = join(dir, 'risky.yaml')
  writeFileSync(f, TOY.replace('    risk: low\n    reason: the server only hurts its own business', '    risk: high\n    reason: the server only hurts its own business'))
  assert.equal(souk('threat', 'check', f).status, 0, 'without --max-risk an accepted case passes')
  assert.equal(souk('threat', 'check', f, '--max-risk', 'high').status, 0)
  const r = souk('threat', 'check', f, '--max-risk', 'medium')
  assert.equal(r.status, 1, r.stderr)
  assert.match(r.stdout, /RISK dos:server->client: accepted at high risk, above --max-risk medium \(cost 1 requests lost/)
  const j = souk('threat', 'check', f, '--max-risk', 'low', '--json')
  assert.equal(j.status, 1)
  assert.deepEqual(JSON.parse(j.stdout).overRisk.map((x: { id: string }) => x.id), ['dos:server->client'])
  assert.equal(souk('threat', 'check', join(dir, '..', 'ok-not-here.yaml')).status, 2)
  const bad = souk('threat', 'check', f, '--max-risk', 'extreme')
  assert.notEqual(bad.status, 0)
  assert.match(bad.stderr, /--max-risk must be low, medium or high/)
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace')
})

test('threat report: accepted cases show their risk, cost and gain in Markdown and HTML', () => {
  const out = mkdtempSync(join(tmpdir(), 'souk-report-'))
  const dir = mkdtempSync(join(tmpdir(), 'souk-threat-'))
  const f = join(dir, 'toy.yaml')
  writeFileSync(f, TOY)
  const r = souk('threat', 'report', f, '--out', out, '--quiet')
  assert.equal(r.status, 0, r.stderr)
  const md = readFileSync(join(out, 'toy.threat.md'), 'utf8')
  assert.match(md, /## Accepted cases \(1\)/)
  assert.match(md, /\| `dos:server->client` \| low \| 1 requests lost \(every request it refuses is one it is not paid for\) \| 0 requests lost .* \| no \|/)
  const html = readFileSync(join(out, 'toy.threat.html'), 'utf8')
  assert.match(html, /<table id="accepted">/)
  assert.match(html, /cost 1 requests lost/)
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, '- just\n- a list\n')
  const b = souk('threat', 'report', bad, '--out', out)
  assert.equal(b.status, 2)
  assert.match(b.stderr, /the top level is a list, not a mapping/)
})
