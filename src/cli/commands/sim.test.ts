// `souk sim` as a process: bad scenarios refused with file:line and a fix (no stack trace), check, schema, report,
// a real sweep and a real run (same seed, same eventLogHash).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('../../../', import.meta.url).pathname
const tmp = () => mkdtempSync(join(tmpdir(), 'souk-sim-cli-'))

function souk(args: string[], opts: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, timeout: opts.timeoutMs ?? 120_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

const ATTACK = readFileSync(join(root, 'scenarios/cdn-attack.yaml'), 'utf8')
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1

const TINY = `souk: scenario/1
name: cli-tiny
market: cdn
seed: 5
runs: 1
durationMs: 60000
content: { bytes: 16384, chunkSize: 4096 }
peers:
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 1 }
  - { name: client, role: client, count: 1 }
sweep:
  cartesian: { "network.jitterMs": [0, 5] }
`

test('souk sim check: each class of bad input exits 1 with file:line:col and the fix, never a stack trace', async () => {
  const dir = tmp()
  const cases: [string, string, string, RegExp][] = [
    ['unknown-field', ATTACK.replace('  jitterMs: 3\n', '  jitterMs: 3\n  jiterMs: 4\n'), 'jiterMs', /unknown key "jiterMs"\n\s+fix: remove it or fix its spelling/],
    ['unknown-role', ATTACK.replace('role: cache, count: 3', 'role: seeder, count: 3'), 'seeder', /unknown role "seeder": the cdn market has roles publisher, cache, client\n\s+fix: use one of: publisher, cache, client/],
    ['negative-rate', ATTACK.replace('bandwidthBytesPerSec: 12500000', 'bandwidthBytesPerSec: -5'), 'bandwidthBytesPerSec', /bandwidthBytesPerSec must be greater than 0\n\s+fix: give a number > 0/],
    ['no-latency', ATTACK.replace('{ eu: { eu: 15, us: 90 }', '{ eu: { eu: 15 }'), 'latencyMs', /impossible topology: no latency between regions "eu" and "us"\n\s+fix: add `us: <ms>` under latencyMs\.eu/],
    ['no-publisher', ATTACK.replace('  - { name: publisher, role: publisher }\n', ''), 'name: cache,', /impossible topology: .* need a publisher, and no peer group has role publisher\n\s+fix: add a group/],
  ]
  await Promise.all(cases.map(async ([name, text, needle, fix]) => {
    const file = join(dir, `${name}.yaml`)
    writeFileSync(file, text)
    const r = await souk(['sim', 'check', file])
    assert.equal(r.code, 1, `${name}: ${r.stderr}`)
    assert.equal(r.stdout, '', name)
    assert.match(r.stderr, new RegExp(`^error: Invalid scenario ${file.replace(/[.]/g, '\\.')} \\(1 problem\\):`), name)
    assert.ok(r.stderr.includes(`${file}:${lineOf(text, needle)}:`), `${name}: ${r.stderr}`)
    assert.match(r.stderr, fix, name)
    assert.doesNotMatch(r.stderr, /^\s+at /m, `${name}: a stack trace`)
  }))
})

test('souk sim check: ok, --json, and the schema command prints the published schema', async () => {
  const ok = await souk(['sim', 'check', 'scenarios/cdn-sweep.yaml'])
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /^scenarios\/cdn-sweep\.yaml: ok — cdn-sweep, cdn market, 5 peer groups \(11 peers; attackers: cache-attack, client-attack\), 4 sweep points x 2 runs = 8 runs\n$/)
  const js = await souk(['sim', 'check', 'scenarios/cdn-attack.yaml', '--json'])
  assert.deepEqual(JSON.parse(js.stdout), { ok: true, file: 'scenarios/cdn-attack.yaml', name: 'cdn-attack', market: 'cdn', groups: 5, peers: 13, attackers: ['cache-attack', 'client-attack'], points: 1, runs: 5, jobs: 5 })
  const schema = await souk(['sim', 'schema'])
  assert.deepEqual(JSON.parse(schema.stdout), JSON.parse(readFileSync(join(root, 'schemas/scenario.schema.json'), 'utf8')))
  const missing = await souk(['sim', 'check', 'scenarios/nope.yaml'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /scenarios\/nope\.yaml.*cannot read the file \(ENOENT\)/)
})

test('bad flags name the flag; report of a directory without results is an error', async () => {
  const w = await souk(['sim', 'sweep', 'scenarios/cdn-sweep.yaml', '--workers', '-1', '--out', tmp()])
  assert.equal(w.code, 1)
  assert.match(w.stderr, /error: --workers "-1": --workers must be 0 \(inline\) or more/)
  const s = await souk(['sim', 'run', 'scenarios/cdn-attack.yaml', '--seed', 'x'])
  assert.equal(s.code, 1)
  assert.match(s.stderr, /--seed "x"/)
  const rep = await souk(['sim', 'report', tmp()])
  assert.equal(rep.code, 1)
  assert.match(rep.stderr, /holds no sweep results/)
  assert.doesNotMatch(rep.stderr, /^\s+at /m)
})

test('souk sim sweep with the real runner: results, summary and report written; a second start resumes with nothing to do', async () => {
  const dir = tmp()
  const file = join(dir, 'tiny.yaml')
  writeFileSync(file, TINY)
  const out = join(dir, 'out')
  const r = await souk(['sim', 'sweep', file, '--workers', '0', '--out', out, '--json'])
  assert.equal(r.code, 0, r.stderr)
  const o = JSON.parse(r.stdout)
  assert.equal(o.total, 2)
  assert.equal(o.ran, 2)
  assert.equal(o.failed, 0, JSON.stringify(o.failures))
  assert.match(o.sweepHash, /^[0-9a-f]{64}$/)
  for (const f of ['results.csv', 'results.jsonl', 'summary.json', 'report.html']) assert.ok(existsSync(join(out, f)), f)
  assert.equal(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').length, 2)
  const again = await souk(['sim', 'sweep', file, '--workers', '0', '--out', out])
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stdout, /^cli-tiny: 2 of 2 runs recorded \(0 this time, 2 from before\), 0 failed\n  sweep hash [0-9a-f]{64}\n/)
  assert.ok(again.stdout.includes(`sweep hash ${o.sweepHash}`))
  assert.match(again.stderr, /resuming: 2 of 2 runs already in/)
  const rep = await souk(['sim', 'report', out])
  assert.equal(rep.code, 0, rep.stderr)
  assert.equal(rep.stdout, `wrote ${join(out, 'report.html')}\n`)
})

test('souk sim run scenarios/cdn-attack.yaml --seed 3 --json, twice: one JSON object on stdout, the same eventLogHash', async () => {
  const [a, b] = await Promise.all([souk(['sim', 'run', 'scenarios/cdn-attack.yaml', '--seed', '3', '--json']), souk(['sim', 'run', 'scenarios/cdn-attack.yaml', '--seed', '3', '--json'])])
  for (const r of [a, b]) {
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim().split('\n').length, 1, 'exactly one line on stdout')
  }
  const ra = JSON.parse(a.stdout), rb = JSON.parse(b.stdout)
  assert.equal(ra.seed, 3)
  assert.match(ra.eventLogHash, /^[0-9a-f]{64}$/)
  assert.equal(ra.eventLogHash, rb.eventLogHash)
  assert.equal(ra.error, undefined)
  assert.ok(ra.events > 0 && ra.messages > 0)
  const other = await souk(['sim', 'run', 'scenarios/cdn-attack.yaml', '--seed', '4', '--json'])
  assert.notEqual(JSON.parse(other.stdout).eventLogHash, ra.eventLogHash, 'another seed, another log')
})

test('souk sim run --point: one run of a sweep at that point; a point out of range is refused', async () => {
  const bad = await souk(['sim', 'run', 'scenarios/cdn-sweep.yaml', '--point', '4'])
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /error: --point 4: scenarios\/cdn-sweep\.yaml has 4 sweep points\n\nFix: give --point 0 to 3/)
  const r = await souk(['sim', 'run', 'scenarios/cdn-sweep.yaml', '--point', '3', '--seed', '9'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^cdn-sweep: seed 9 at point 3 \(network\.jitterMs=10, peers\.cache\.count=4\)\n/)
  assert.match(r.stdout, /rerun {7}souk sim run scenarios\/cdn-sweep\.yaml --point 3 --seed 9\n/)
})
