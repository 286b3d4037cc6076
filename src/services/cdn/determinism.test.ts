/**
 * Determinism (issue 9, item 7): the CDN scenario on the memory transport, a manual clock and a seeded rng reports
 * the same protocol events for the same seed, and other events for another seed.
 *
 * What the log is, and why its order is fixed: every event a role reports, tagged with the role's name, grouped
 * into one stream per (peer, event kind), streams in name order, each stream in the order its peer emitted it.
 * Within such a stream the protocol fixes the order in this run: caches join one at a time and clients fetch one
 * after another (`sequential`), a client's bundles follow each other, and a cache's claims go through one queue (the
 * claimant's mutex). What the protocol does not fix is the interleaving of different streams: the embedded EVM
 * answers from a native thread, so a cache's `paid` for bundle k (after a chain call) may land before or after its
 * `served` for bundle k+1. Hence one stream per kind rather than one per peer. Each run gets a fresh chain so block
 * numbers match; no event carries a wall-clock time (the manual clock stands still unless advanced).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createChain } from '../../chain/index.js'
import { manualClock } from '../../core/clock.js'
import { safeJson } from '../../core/errors.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { seededRng } from '../../crypto/rng.js'
import { sha256 } from '../../crypto/sha256.js'
import { createMemoryNetwork } from '../../net/index.js'
import { deploySouk } from '../../payments/deploy.js'
import type { ServiceEvent } from '../market.js'
import { runCdnScenario } from './scenario.js'

async function eventLog(seed: string): Promise<{ hash: string; streams: Record<string, ServiceEvent[]>; ok: boolean }> {
  const chain = await createChain({ kind: 'embedded', accounts: 8 })
  try {
    const deployment = await deploySouk(chain, chain.devKeys[0])
    const net = createMemoryNetwork()
    const clock = manualClock(0)
    const events: ServiceEvent[] = []
    const r = await runCdnScenario({
      chain, deployment, newTransport: async (name) => net.createTransport({ peerId: name }), clock, rng: seededRng(seed),
      caches: 3, clients: 2, contentBytes: 512 * 1024, puzzle: { cachesPerRequest: 2 }, sequential: true,
      passTime: async (ms) => clock.advance(ms), onEvent: (e) => events.push(e),
    })
    const streams: Record<string, ServiceEvent[]> = {}
    for (const e of events) (streams[`${String(e.name)}/${e.kind}`] ??= []).push(e)
    const ordered = Object.keys(streams).sort().map((k) => [k, streams[k]])
    return { hash: bytesToHex(sha256(new TextEncoder().encode(safeJson(ordered)))), streams, ok: r.clients.every((c) => c.ok) }
  } finally {
    await chain.close()
  }
}

test('the CDN scenario on a manual clock and a seeded rng: the same seed gives the same event log, another seed another', async () => {
  const a = await eventLog('determinism-a')
  const again = await eventLog('determinism-a')
  const b = await eventLog('determinism-b')
  assert.ok(a.ok && again.ok && b.ok, 'every client got the content byte-exact')
  // The log is about the protocol, not empty: hires, bundles (their request ids and drawn caches), chunks, payments.
  for (const kind of ['cache-hired', 'bundle', 'served', 'paid', 'bundle-done']) assert.ok(Object.keys(a.streams).some((k) => k.endsWith(`/${kind}`)), `the log has ${kind} events`)
  assert.deepEqual(again.streams, a.streams)
  assert.equal(again.hash, a.hash, 'same seed, same event log')
  assert.notEqual(b.hash, a.hash, 'another seed draws other request ids and caches')
})
