/**
 * `souk testnet --market compute --json` from the CLI, as a user runs it: two workers (one lazy: garbage instead of
 * the work), one verifier and two clients as processes over libp2p on 127.0.0.1, the embedded chain behind JSON-RPC.
 * The one JSON object on stdout says `ok`, and its figures come from the chain's events: the honest job's batches all
 * paid, the lazy worker's faulted and slashed, each job's books matching its client's.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

test('souk testnet --market compute --json: a lazy worker caught and slashed on chain, the honest one paid every batch', { timeout: 240_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'testnet', '--market', 'compute', '--units', '8', '--json'], { encoding: 'utf8', timeout: 230_000 })
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr.slice(-2000)}`)
  const s = JSON.parse(r.stdout) as { ok: boolean; slashes: number; jobs: number; jobRows: { behaviour: string; claimed: number; settled: number; faulted: number; slashed: string; matchesChain: boolean }[]; crashed: unknown[] }
  assert.equal(s.ok, true)
  assert.deepEqual(s.crashed, [])
  assert.equal(s.jobs, 2)
  assert.ok(s.slashes >= 1, `slashes ${s.slashes}`)
  const honest = s.jobRows.find((d) => d.behaviour === 'honest')!
  assert.equal(honest.claimed, 2)
  assert.equal(honest.settled, 2)
  assert.equal(honest.faulted, 0)
  const lazy = s.jobRows.find((d) => d.behaviour === 'lazy')!
  assert.ok(lazy.faulted >= 1 && BigInt(lazy.slashed) > 0n)
  assert.equal(lazy.settled + lazy.faulted, lazy.claimed)
  for (const d of s.jobRows) assert.ok(d.matchesChain)
})
