/**
 * `souk testnet --market storage --json` from the CLI, as a user runs it: two providers (one drops half its data)
 * and two clients as processes over libp2p on 127.0.0.1, the embedded chain behind JSON-RPC. The one JSON object on
 * stdout says `ok`, and its figures come from the chain's events: the honest deal proven in every period and
 * retrieved byte-exact, the dropping provider slashed at least once, each deal's books matching its client's.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

test('souk testnet --market storage --json: an adversarial provider caught and slashed on chain, the honest one paid every period', { timeout: 240_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'testnet', '--market', 'storage', '--content-bytes', String(64 * 1024), '--json'], { encoding: 'utf8', timeout: 230_000 })
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr.slice(-2000)}`)
  const s = JSON.parse(r.stdout) as { ok: boolean; slashes: number; deals: number; activated: number; dealRows: { behaviour: string; periods: number; proven: number; faulted: number; retrievedOk: boolean; matchesChain: boolean; slashed: string }[]; crashed: unknown[] }
  assert.equal(s.ok, true)
  assert.deepEqual(s.crashed, [])
  assert.equal(s.deals, 2)
  assert.equal(s.activated, 2)
  assert.ok(s.slashes >= 1, `slashes ${s.slashes}`)
  const honest = s.dealRows.find((d) => d.behaviour === 'honest')!
  assert.equal(honest.proven, honest.periods)
  assert.equal(honest.faulted, 0)
  assert.ok(honest.retrievedOk)
  const dropper = s.dealRows.find((d) => d.behaviour === 'drop')!
  assert.ok(dropper.faulted >= 1 && BigInt(dropper.slashed) > 0n)
  for (const d of s.dealRows) assert.ok(d.matchesChain)
})
