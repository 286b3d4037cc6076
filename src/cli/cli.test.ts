/**
 * Issue 14, "scripting traps" and "housekeeping", each on the real `souk` process: output paths that are not
 * directories Souk may write (an existing file, a path under a file, /proc, a FIFO in place of a report) are clear
 * errors that exit at once; a validation error names the flag typed, not the internal key; `npm run -s souk -- …
 * --json` gives JSON on stdout (plain `npm run` prints its banner there, and souk says so on stderr); `souk clean`
 * lists and removes old testnet run directories and says how much it freed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'souk-cli-'))

/** Runs `souk ...args` from the repository root; `ms` bounds it (a hang fails the test instead of holding it). */
function souk(args: string[], o: { env?: Record<string, string | undefined>; ms?: number; cmd?: string[] } = {}): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now()
  const [bin, ...pre] = o.cmd ?? [process.execPath, '--import', 'tsx', 'src/cli/main.ts']
  const p = spawn(bin!, [...pre, ...args], { cwd: root, env: { ...process.env, ...o.env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = '', stderr = ''
  p.stdout.on('data', (b) => (stdout += b))
  p.stderr.on('data', (b) => (stderr += b))
  const timer = setTimeout(() => p.kill('SIGKILL'), o.ms ?? 60_000)
  return new Promise((r) => p.on('close', (status) => { clearTimeout(timer); r({ status, stdout, stderr, ms: performance.now() - t0 }) }))
}
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, `a stack trace:\n${s}`)

test('-o README.md, -o /etc/passwd/x and -o /proc/forbidden: one clear error each, exit 1 at once, nothing written', { timeout: 240_000 }, async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const cases: [string[], RegExp][] = [
    [['threat', 'report', 'models/cdn.yaml', '-o', 'README.md'], /^error: -o README\.md is a file, not a directory: -o names the directory Souk writes its files into\n[\s\S]*Fix: Pass -o <a directory>/],
    [['threat', 'report', 'models/cdn.yaml', '-o', '/etc/passwd/x'], /^error: -o \/etc\/passwd\/x is under \/etc\/passwd, which is a file, not a directory/],
    [['threat', 'report', 'models/cdn.yaml', '-o', '/proc/forbidden'], /^error: -o \/proc\/forbidden: \/proc is a kernel file system/],
    [['viability', '--preset', 'bbc-iplayer', '-o', 'README.md'], /^error: -o README\.md is a file, not a directory/],
    [['viability', '--preset', 'storage', '-o', '/proc/forbidden'], /^error: -o \/proc\/forbidden: \/proc is a kernel file system/],
    [['market', '--servers', '2', '--buyers', '2', '--rounds', '1', '-o', '/etc/passwd/x'], /^error: -o \/etc\/passwd\/x is under \/etc\/passwd/],
    [['testnet', '--data-dir', '/proc/forbidden'], /^error: --data-dir \/proc\/forbidden: \/proc is a kernel file system/],
    [['node', '--role', 'client', '--rpc', 'http://127.0.0.1:9', '--deployment', 'x.json', '--data-dir', 'README.md'], /^error: --data-dir README\.md is a file, not a directory/],
  ]
  await Promise.all(cases.map(async ([args, re]) => {
    // A hang (the -o /proc/forbidden bug spun forever) is killed at the limit and has no exit status; no timing is
    // asserted (eight processes at once on a loaded machine can take tens of seconds).
    const r = await souk(args, { ms: 90_000 })
    assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status} after ${r.ms} ms: ${r.stderr}`)
    assert.match(r.stderr, re, args.join(' '))
    noStack(r.stderr)
  }))
  assert.equal(readFileSync(join(root, 'README.md'), 'utf8'), readme, 'README.md untouched')
  assert.equal(existsSync('/proc/forbidden'), false)
})

test('-o creates missing directories; a FIFO where a report goes is refused (a write would block forever); key --out refuses an existing file without --force', { timeout: 120_000 }, async () => {
  const nested = join(dir, 'a', 'b', 'c')
  const ok = await souk(['threat', 'report', 'models/cdn.yaml', '-o', nested, '--json'])
  assert.equal(ok.status, 0, ok.stderr)
  assert.deepEqual(JSON.parse(ok.stdout).files, { markdown: join(nested, 'cdn.threat.md'), html: join(nested, 'cdn.threat.html') })
  // The same again replaces its own files.
  assert.equal((await souk(['threat', 'report', 'models/cdn.yaml', '-o', nested, '-q'])).status, 0)
  const fifoDir = join(dir, 'fifo')
  mkdirSync(fifoDir)
  execFileSync('mkfifo', [join(fifoDir, 'cdn.threat.md')])
  const fifo = await souk(['threat', 'report', 'models/cdn.yaml', '-o', fifoDir, '-q'], { ms: 30_000 })
  assert.equal(fifo.status, 1, fifo.stderr)
  assert.match(fifo.stderr, /error: Cannot write .*cdn\.threat\.md \(-o\): it exists and is a named pipe, not a file Souk may replace/)
  noStack(fifo.stderr)
  const existing = join(dir, 'key.json')
  writeFileSync(existing, 'mine')
  const key = await souk(['key', 'new', '--out', existing], { env: { SOUK_KEY_PASSWORD: 'a long password' } })
  assert.equal(key.status, 1)
  assert.match(key.stderr, /error: .*key\.json exists[\s\S]*--force/)
  assert.equal(readFileSync(existing, 'utf8'), 'mine')
  const proc = await souk(['key', 'new', '--out', '/proc/forbidden'], { env: { SOUK_KEY_PASSWORD: 'a long password' }, ms: 30_000 })
  assert.equal(proc.status, 1)
  assert.match(proc.stderr, /error: --out \/proc\/forbidden: \/proc is a kernel file system/)
  noStack(proc.stderr)
})

test('a validation error names the flag the user typed (--content-bytes), never the internal key (contentBytes)', { timeout: 60_000 }, async () => {
  const t = await souk(['testnet', '--content-bytes', '12'])
  assert.equal(t.status, 1)
  assert.match(t.stderr, /^error: --content-bytes "12": Too small: expected number to be >=1024\n\(run souk testnet --help for usage\)\n$/)
  assert.doesNotMatch(t.stderr, /contentBytes/)
  const n = await souk(['node', '--role', 'cache', '--rpc', 'http://127.0.0.1:9', '--deployment', 'x.json', '--content-bytes', 'lots', '--data-dir', join(dir, 'n')])
  assert.equal(n.status, 1)
  assert.match(n.stderr, /^error: --content-bytes "lots": not a number$/m)
  assert.doesNotMatch(n.stderr, /contentBytes/)
  // A role's field without a flag of its own is named as the --opt that sets it.
  const s = await souk(['node', '--market', 'storage', '--role', 'client', '--rpc', 'http://127.0.0.1:9', '--deployment', 'x.json', '--data-dir', join(dir, 's')])
  assert.equal(s.status, 1)
  assert.match(s.stderr, /^error: --opt storageMarket=<value>: required, not given/m)
  const rpc = await souk(['node', '--role', 'cache', '--rpc', 'notaurl', '--deployment', 'x.json', '--data-dir', join(dir, 'r')])
  assert.match(rpc.stderr, /^error: --rpc "notaurl": Invalid URL$/m)
  const dep = await souk(['node', '--role', 'client', '--rpc', 'http://127.0.0.1:9', '--deployment', join(dir, 'nope.json'), '--bootstrap', '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWMWaS3x5FAiyGRAUpA3Jq2EjQ6RaioAPrn2ddbtRTuDv1', '--data-dir', join(dir, 'd')])
  assert.equal(dep.status, 1)
  assert.match(dep.stderr, /^error: Cannot read the deployment file .*nope\.json: no such file\n[\s\S]*Fix: Pass --deployment/)
  noStack(t.stderr + n.stderr + s.stderr + rpc.stderr + dep.stderr)
})

test('npm run -s souk -- … --json | jq: stdout is the JSON alone; plain npm run prints its banner there and souk says how to avoid it', { timeout: 120_000 }, async () => {
  const npm = ['npm']
  const env = { npm_config_loglevel: undefined, npm_lifecycle_event: undefined, npm_config_update_notifier: 'false' }
  const quiet = await souk(['run', '-s', 'souk', '--', 'threat', 'check', 'models/cdn.yaml', '--json'], { cmd: npm, env })
  assert.equal(quiet.status, 0, quiet.stderr)
  assert.equal(JSON.parse(quiet.stdout).ok, true)
  assert.equal(quiet.stderr, '')
  const loud = await souk(['run', 'souk', '--', 'threat', 'check', 'models/cdn.yaml', '--json'], { cmd: npm, env })
  assert.equal(loud.status, 0, loud.stderr)
  assert.match(loud.stdout, /^\n> souk@[^\n]+ souk\n/, "npm's banner (if npm stops printing it, the README's advice can go)")
  assert.match(loud.stderr, /note: npm printed its .* banner on stdout before this JSON; for clean JSON run `npm run -s souk -- …` or `npx souk …`/)
  const npx = await souk(['souk', 'threat', 'check', 'models/cdn.yaml', '--json'], { cmd: ['npx'], env })
  assert.equal(npx.status, 0, npx.stderr)
  assert.equal(JSON.parse(npx.stdout).ok, true)
})

test('souk clean --dry-run lists an old run directory and keeps it; souk clean removes it, keeps a recent one and says what it freed', { timeout: 60_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'souk-clean-'))
  const old = join(tmp, 'souk-testnet-Old123'), recent = join(tmp, 'souk-testnet-New456'), other = join(tmp, 'souk-notarun-abc')
  for (const d of [old, recent, other]) mkdirSync(join(d, 'cache-0'), { recursive: true })
  writeFileSync(join(old, 'cache-0', 'payments.sqlite'), Buffer.alloc(3 << 20))
  writeFileSync(join(old, 'deployment.json'), '{}')
  writeFileSync(join(recent, 'deployment.json'), '{}')
  const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000)
  for (const p of [join(old, 'cache-0', 'payments.sqlite'), join(old, 'cache-0'), join(old, 'deployment.json'), old]) utimesSync(p, threeDaysAgo, threeDaysAgo)
  const env = { TMPDIR: tmp }
  const dry = await souk(['clean', '--dry-run'], { env })
  assert.equal(dry.status, 0, dry.stderr)
  assert.match(dry.stdout, new RegExp(`^would remove ${old}  3\\.0 MiB, 3\\.0 days old$`, 'm'))
  assert.match(dry.stdout, new RegExp(`^kept ${recent}: 0 min old, younger than --older-than 1\\.0 h$`, 'm'))
  assert.match(dry.stdout, /dry run: would free 3\.0 MiB \(1 run directory in .*\); nothing removed/)
  assert.ok(existsSync(old))
  const json = JSON.parse((await souk(['clean', '--dry-run', '--json', '--older-than', '2d'], { env })).stdout)
  assert.deepEqual(json.removed.map((r: { path: string }) => r.path), [old])
  assert.ok(json.freedBytes >= 3 << 20)
  const real = await souk(['clean', '--older-than', '2d'], { env })
  assert.equal(real.status, 0, real.stderr)
  assert.match(real.stdout, /freed 3\.0 MiB: 1 run directory removed from /)
  assert.equal(existsSync(old), false)
  assert.ok(existsSync(recent) && existsSync(other), 'a recent run and a directory of another name are kept')
  const bad = await souk(['clean', '--older-than', 'yesterday'], { env })
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /^error: --older-than "yesterday": an age: a number with s, m, h, d or w/)
})
