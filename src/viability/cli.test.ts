// `souk viability` (swarm model) as a user runs it: the verdict names the failing test, --json has the new fields,
// custom runs carry no published figure, mistakes are one-line errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'

const root = new URL('../..', import.meta.url).pathname
const souk = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'viability', '--no-html', ...args], { cwd: root, encoding: 'utf8' })

test('human output says which criterion fails', () => {
  const r = souk('--preset', 'storage-retrieval')
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /NOT VIABLE \(offload, savings fail\): offload too low/)
  assert.match(r.stdout, /FAIL {2}offload {8}offload too low/)
  assert.match(r.stdout, /A participating peer \(supply side\)/)
  const p = souk('--set', 'peer.hardwareUsdPerMonth=0.5')
  assert.match(p.stdout, /NOT VIABLE \(peer-earnings fails\): peers earn less than their costs/)
})

test('--json: verdict, supply side, priceInBounds, the Monte Carlo summary; a custom run has no published figure', () => {
  const r = souk('--json', '--monte-carlo', '2')
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.equal(j.preset, 'bbc-iplayer')
  assert.equal(j.reportedOffload, 0.88)
  assert.equal(j.result.viable, true)
  assert.equal(j.result.priceInBounds, true)
  assert.deepEqual(j.verdict.failed, [])
  assert.deepEqual(j.verdict.tests.map((t: { name: string }) => t.name), ['offload', 'savings', 'peer-earnings'])
  for (const k of ['uploadMbps', 'gbPerMonth', 'earningsPerMonth', 'profitPerMonth']) assert.equal(typeof j.supply[k], 'number', k)
  assert.equal(typeof j.supply.costsPerMonth.electricity, 'number')
  assert.equal(j.monteCarlo.length, 2)
  assert.equal(j.check.items, 2)
  assert.equal(j.uncertainty.draws, 200)
  assert.match(j.uncertainty.text, /^Viable in /)
  const c = JSON.parse(souk('--json', '--set', 'supply.participation=0.75').stdout)
  assert.equal(c.preset, null)
  assert.equal(c.custom, true)
  assert.equal(c.reportedOffload, null)
  assert.ok(c.result.offload < 0.6 && c.result.offload > 0.55, String(c.result.offload))
  const t = souk('--set', 'supply.participation=0.75')
  assert.doesNotMatch(t.stdout, /reported|published|88\.0%/)
})

test('a mistake is one clear line, never a stack trace', () => {
  for (const [args, msg] of [
    [['--set', 'supply.participation=abc'], /--set supply\.participation=abc: "abc" is not a number/],
    [['--set', 'supply.participation=1.5'], /supply\.participation = 1\.5: Too big/],
    [['--set', 'peer.nope=1'], /Unknown viability input "peer\.nope"/],
    [['--monte-carlo', '99'], /--monte-carlo/],
  ] as [string[], RegExp][]) {
    const r = souk(...args)
    assert.equal(r.status, 1, args.join(' '))
    assert.match(r.stderr, msg)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace')
  }
})
