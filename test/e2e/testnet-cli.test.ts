/**
 * `souk testnet` as a user runs it (the CLI as a child process): what it prints at start (chain, contracts, data
 * directory, funded accounts, join commands), --json clean on stdout, Ctrl-C reported as "stopped by you", and
 * --keep-alive with an extra cache joined by the printed command.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SMALL = ['--caches', '2', '--clients', '2', '--content-bytes', String(256 * 1024)]

interface Run { proc: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null>; until(re: RegExp, stream?: 'out' | 'err', ms?: number): Promise<RegExpMatchArray> }

function start(args: string[], env: Record<string, string> = {}): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'testnet', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = '', err = ''
  proc.stdout!.on('data', (d) => { out += d })
  proc.stderr!.on('data', (d) => { err += d })
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  return {
    proc, out: () => out, err: () => err, exited,
    until: (re, stream = 'err', ms = 120_000) => new Promise((resolve, reject) => {
      const t = setTimeout(() => { clearInterval(i); reject(new Error(`no ${re} in ${stream} after ${ms} ms:\n${stream === 'err' ? err : out}`)) }, ms)
      const i = setInterval(() => { const m = (stream === 'err' ? err : out).match(re); if (m) { clearTimeout(t); clearInterval(i); resolve(m) } }, 100)
    }),
  }
}

test('souk testnet --json: the summary alone on stdout (with the gas table); chain, contracts, data dir, funded accounts and join commands on stderr', { timeout: 180_000 }, async () => {
  const r = start([...SMALL, '--json'])
  assert.equal(await r.exited, 0, r.err())
  const s = JSON.parse(r.out())
  assert.equal(s.ok, true)
  assert.equal(s.stopReason, undefined)
  assert.ok(s.gasReport.some((g: { contract: string; fn: string; calls: number }) => g.contract === 'TicketBroker' && g.fn === 'fundReserve' && g.calls >= 1), JSON.stringify(s.gasReport))
  const err = r.err()
  assert.match(err, /^chain +JSON-RPC at http:\/\/127\.0\.0\.1:\d+\//m)
  assert.match(err, /^contracts +SoukToken 0x[0-9a-f]{40}, lottery\.ticketBroker 0x[0-9a-f]{40}/m)
  assert.match(err, /^data +\S*souk-testnet-\S+ \(deployment\.json/m)
  assert.match(err, /^ +publisher +0x[0-9a-fA-F]{40} +key 0x[0-9a-f]{64}$/m)
  assert.match(err, /^join +another cache while the run goes: +npx souk node --market cdn .*--role cache .*--key 0x[0-9a-f]{64}$/m)
})

test('Ctrl-C: every peer stops, the summary says "stopped by you" (not NOT OK), the exit code is 130', { timeout: 180_000 }, async () => {
  const r = start([...SMALL, '--duration', '60'])
  await r.until(/all 2 caches ready/)
  r.proc.kill('SIGINT')
  assert.equal(await r.exited, 130, r.err())
  assert.match(r.err(), /stopping every peer and settling what they hold/)
  assert.match(r.out(), /Souk testnet summary .* — stopped by you/)
  assert.match(r.out(), /result +stopped by you/)
  assert.doesNotMatch(r.out(), /NOT OK/)
})

test('--keep-alive: after the summary the chain and peers keep running; a cache joined with the printed command is hired and gets the content; Ctrl-C ends it with exit 0', { timeout: 240_000 }, async () => {
  const r = start([...SMALL, '--keep-alive', '--json'])
  await r.until(/^keep-alive /m)
  const s = JSON.parse(r.out())
  assert.equal(s.ok, true)
  // The publisher was started again: the last join command names its new address.
  await r.until(/(?:join +another cache while the run goes: +(npx souk node .*--role cache .*)\n[\s\S]*){2}/)
  const cmds = [...r.err().matchAll(/^join +another cache while the run goes: +npx souk (node .*--role cache .*)$/gm)]
  const joinArgs = cmds.at(-1)![1]!.split(' ')
  const extra = spawn(process.execPath, ['--import', 'tsx', MAIN, ...joinArgs], { cwd: ROOT, env: { ...process.env, SOUK_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let said = ''
  extra.stdout!.on('data', (d) => { said += d })
  extra.stderr!.on('data', (d) => { said += d })
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { clearInterval(i); reject(new Error(`the extra cache never became ready:\n${said}`)) }, 90_000)
      const i = setInterval(() => { if (/"kind":"ready"|^cache-extra\b.*\bready\b/m.test(said)) { clearTimeout(t); clearInterval(i); resolve() } }, 200)
    })
  } finally {
    extra.kill('SIGTERM')
  }
  // `souk events` reads the running chain: the deployment's events decoded (the publisher funded a reserve per cache).
  const rpc = r.err().match(/^chain +JSON-RPC at (\S+)/m)![1]!
  const deployment = r.err().match(/--deployment (\S+)/)![1]!
  const ev = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'events', '--rpc', rpc, '--deployment', deployment, '--json'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(ev.status, 0, ev.stderr)
  const events = JSON.parse(ev.stdout) as { contract: string; event: string; args: Record<string, string> }[]
  assert.ok(events.filter((e) => e.contract === 'TicketBroker' && e.event === 'ReserveFunded').length >= 2, ev.stdout.slice(0, 500))
  assert.ok(events.some((e) => e.contract === 'SoukToken' && e.event === 'Transfer'))
  const human = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'events', '--rpc', rpc, '--deployment', deployment, '--contract', 'TicketBroker'], { cwd: ROOT, encoding: 'utf8' })
  assert.match(human.stdout, /^block +\d+ +TicketBroker\.ReserveFunded +sender=0x[0-9a-fA-F]{8}/m)
  assert.doesNotMatch(human.stdout, /SoukToken/)
  r.proc.kill('SIGINT')
  assert.equal(await r.exited, 0, r.err())
})

test('souk events: a deployment file that is missing or names no contract is a clear error, not a stack trace', () => {
  for (const file of ['/nonexistent/deployment.json', fileURLToPath(new URL('../../package.json', import.meta.url))]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'events', '--rpc', 'http://127.0.0.1:9', '--deployment', file], { cwd: ROOT, encoding: 'utf8' })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /deployment/)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
})
