/**
 * `souk testnet` serves its live dashboard (docs/dashboard.md): the `dashboard http://127.0.0.1:PORT/` line comes early
 * (on stderr with --json, stdout staying the summary), and while the run goes /api/state shows the running market —
 * peers, the chain's blocks, tickets paid — and /metrics the same in Prometheus' format. `--no-dashboard` is listed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

test('souk testnet: the dashboard URL early, the running market on /api/state and /metrics, stdout still the JSON summary', { timeout: 180_000 }, async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'testnet', '--caches', '2', '--clients', '2', '--content-bytes', String(256 * 1024), '--json'], {
    cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = '', err = ''
  proc.stdout.on('data', (d) => { out += d })
  proc.stderr.on('data', (d) => { err += d })
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  try {
    let url: string | undefined
    for (const t0 = Date.now(); !url && Date.now() - t0 < 60_000;) {
      url = /^dashboard (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(err)?.[1]
      if (!url) await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(url, `no dashboard line on stderr:\n${err}`)
    const page = await fetch(url)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /<title>Souk testnet dashboard<\/title>/)
    // While the run goes: peers up, blocks seen, tickets paid.
    let s: { market: string; peers: { name: string }[]; chain: { block: number | null; dataDir: string | null; contracts: Record<string, string> }; payments: { ticketsIssued: number } } | undefined
    for (const t0 = Date.now(); Date.now() - t0 < 120_000;) {
      const r = await fetch(`${url}api/state`).catch(() => undefined)
      if (!r) break // the run ended and closed its dashboard
      s = await r.json() as typeof s
      if (s!.peers.length >= 5 && (s!.chain.block ?? 0) > 0 && s!.payments.ticketsIssued > 0) break
      await new Promise((r) => setTimeout(r, 250))
    }
    assert.ok(s, 'a snapshot')
    assert.equal(s.market, 'cdn')
    assert.deepEqual(s.peers.map((p) => p.name).sort(), ['cache-0', 'cache-1', 'client-0', 'client-1', 'publisher'])
    assert.ok((s.chain.block ?? 0) > 0, 'the chain watch saw blocks')
    assert.ok(s.payments.ticketsIssued > 0, 'tickets paid while the run goes')
    assert.match(s.chain.dataDir ?? '', /souk-testnet-/)
    assert.match(s.chain.contracts.TicketBroker ?? '', /^0x[0-9a-f]{40}$/)
    const m = await fetch(`${url}metrics`).then((r) => r.text()).catch(() => '')
    if (m) assert.match(m, /^souk_chain_block_number \d+$/m)
    assert.equal(await exited, 0, err)
    assert.ok(err.search(/^dashboard /m) < err.search(/^chain /m), 'the dashboard line comes before the chain line')
    assert.equal(JSON.parse(out).ok, true, 'stdout is the JSON summary alone')
    await assert.rejects(fetch(`${url}api/state`), 'the dashboard closes with the run')
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL')
  }
})

test('souk testnet --help lists --no-dashboard', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'testnet', '--help'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /--no-dashboard +do not serve the live dashboard on 127\.0\.0\.1/)
})
