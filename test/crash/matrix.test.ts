/**
 * The crash matrix (issue 15): each role of the CDN market (cache, client, publisher, the chain process) SIGKILLed at
 * a phase of its work, what restarts restarted over the same data dir, and the books read from the chain's events
 * alone: every winner a cache acknowledged is redeemed exactly once (none lost, none twice), the payer is charged
 * exactly what the broker paid out, and the survivors finish or fail with a clear message and a non-zero exit.
 * Kill points come from what the peers print (stdout JSON events, stderr log lines) or the transactions they send to
 * the chain's JSON-RPC server, never from timers. The cells are listed in docs/testing.md#crash-matrix.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { assertBooks, killAll, until, vanishingClient, world, type Node } from './world.js'

/** What the cells measured: kills survived, winners acknowledged / redeemed / lost. */
const figures = { kills: 0, acked: 0, redeemed: 0, lost: 0, kept: 0 }
const t0 = performance.now()
after(() => {
  killAll()
  process.stdout.write(`# crash matrix: ${figures.kills} kills survived, ${figures.acked} winners acknowledged, ${figures.redeemed} redeemed on chain exactly once, ${figures.kept} kept pending for a dead chain, ${figures.lost} lost, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
})
const book = (r: { acked: number; redeemed: number; lost: number }, kills: number) => {
  figures.kills += kills
  figures.acked += r.acked
  figures.redeemed += r.redeemed
  figures.lost += r.lost
}

const ready = (n: Node) => n.event('ready', (e) => e.kind === 'ready')
const paid = (n: Node) => n.events.filter((e) => e.kind === 'paid').length
const stats = (n: Node) => n.events.find((e) => e.kind === 'stats') as { stats: { proofsAccepted: number; claimsPaid: number; lateClaimsPaid: number; chunksServed: number } } | undefined
/** No stack trace in what a process said: a person's message, one line. */
const noStack = (n: Node) => assert.doesNotMatch(n.stderr.join('\n'), /\n\s+at /, `${n.name}: no stack trace`)
/** SIGTERM a cache: it settles and exits 0. */
async function settleAndStop(n: Node) {
  const exit = await n.kill('SIGTERM')
  assert.equal(exit.code, 0, `${n.name} on SIGTERM: ${n.stderr.slice(-5).join('\n')}`)
  noStack(n)
}

test('cache SIGKILLed right after it acknowledged a winning payment, mid-download: the client finishes on the other cache; restarted, the cache redeems every winner exactly once', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/cache-after-ack', caches: 2, maxCaches: 3 })
  try {
    const caches = [w.cache(0), w.cache(1)]
    await Promise.all(caches.map(ready))
    const client = w.client('client', 4)
    // Whichever cache acknowledges a winner first is killed at once (the publisher picks the cache of each bundle).
    const k = await Promise.race(caches.map((c, i) => c.event('a winning payment acknowledged', (e) => e.kind === 'paid' && e.winning === true).then(() => i)))
    const [a, b] = [caches[k], caches[1 - k]]
    assert.equal((await a.kill('SIGKILL')).signal, 'SIGKILL')
    const ackedBefore = a.winners()
    assert.ok(ackedBefore >= 1)
    await client // the survivor finishes: its bundles go to the other cache
    const a2 = w.cache(k)
    const recovered = await a2.event('recovered', (e) => e.kind === 'recovered') as unknown as { settle: { settled: number; pending: number } }
    assert.ok(recovered.settle.settled >= ackedBefore, `settled ${recovered.settle.settled} of ${ackedBefore} acknowledged at start`)
    await ready(a2)
    await settleAndStop(a2)
    await settleAndStop(b)
    const acked = [0, 0]
    acked[k] = ackedBefore + a2.winners()
    acked[1 - k] = b.winners()
    const r = await assertBooks(w, acked)
    book(r, 1)
    t.diagnostic(`acknowledged ${r.acked}, redeemed ${r.redeemed}, lost ${r.lost}`)
  } finally {
    await w.close()
  }
})

test('cache SIGKILLed during its redemption transaction (sent, not yet run by the chain): restarted, it redeems each winner exactly once', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/cache-redeem-tx', caches: 1, maxCaches: 2 })
  try {
    const a = w.cache(0)
    await ready(a)
    await w.client('client', 3)
    await until('6 paid claims', () => paid(a) >= 6)
    const acked = a.winners()
    assert.ok(acked >= 2, `need winners (got ${acked})`)
    let seen = 0
    w.onRedeem(async (tx) => {
      if (tx.from !== w.payees[0]) throw new Error('unexpected sender')
      w.onRedeem(undefined)
      seen = tx.tickets
      await a.kill('SIGKILL') // the transaction dies with its sender: the chain never runs it
      throw new Error('the sender is gone')
    })
    a.proc.kill('SIGTERM') // stop: drain, then settle (the batch)
    assert.equal((await a.exited).signal, 'SIGKILL')
    assert.equal(seen, acked, 'one batch of every acknowledged winner')
    assert.equal((await w.redeemed()).length, 0)
    const a2 = w.cache(0)
    const recovered = await a2.event('recovered', (e) => e.kind === 'recovered') as unknown as { settle: { settled: number; pending: number } }
    assert.equal(recovered.settle.settled, acked)
    await ready(a2)
    await settleAndStop(a2)
    const r = await assertBooks(w, [acked])
    book(r, 1)
    t.diagnostic(`acknowledged ${r.acked}, redeemed ${r.redeemed}, lost ${r.lost}`)
  } finally {
    await w.close()
  }
})

test('cache SIGKILLed mid-batch (its batch mined, its store not yet updated): restarted, it finds the batch on chain and redeems nothing twice', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/cache-mid-batch', caches: 1, maxCaches: 2 })
  try {
    const a = w.cache(0)
    await ready(a)
    await w.client('client', 3)
    await until('6 paid claims', () => paid(a) >= 6)
    const acked = a.winners()
    assert.ok(acked >= 2, `need winners (got ${acked})`)
    w.onRedeem(async (_tx, forward) => {
      w.onRedeem(undefined)
      const res = await forward() // mined
      await a.kill('SIGKILL') // before the receipt reaches the cache
      return res
    })
    a.proc.kill('SIGTERM')
    assert.equal((await a.exited).signal, 'SIGKILL')
    assert.equal((await w.redeemed()).length, acked, 'the batch is on chain')
    assert.equal(w.stored(0).filter((x) => x.status === 'pending').length, acked, 'the store still says pending')
    const a2 = w.cache(0)
    await ready(a2)
    await settleAndStop(a2)
    const r = await assertBooks(w, [acked])
    assert.equal(r.redeemed, acked, 'not redeemed again')
    book(r, 1)
    t.diagnostic(`acknowledged ${r.acked}, redeemed ${r.redeemed}, lost ${r.lost}`)
  } finally {
    await w.close()
  }
})

test('cache SIGKILLed while a late claim is outstanding (a client vanished after the outer key): restarted, its winners are redeemed once and the lost late claim is never paid', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/cache-late-claim', caches: 1, maxCaches: 2, cacheOpts: ['lateClaimDelayMs=60000'] })
  try {
    const a = w.cache(0)
    await ready(a)
    await w.client('client', 2)
    await until('4 paid claims', () => paid(a) >= 4)
    const acked = a.winners()
    const from = a.stderr.length
    const v = await vanishingClient(w.bootstrap)
    await a.line(/client left before proving delivery/, from) // its late claim is scheduled, 60 s away
    assert.equal((await a.kill('SIGKILL')).signal, 'SIGKILL')
    await v.stop()
    const a2 = w.cache(0)
    await ready(a2)
    await settleAndStop(a2)
    const pub = await w.stopPublisher() as unknown as { stats: { claimsPaid: number } }
    assert.equal(pub.stats.claimsPaid, 4, 'the publisher paid the 4 proven claims, not the late one the cache lost')
    const r = await assertBooks(w, [acked])
    book(r, 1)
    t.diagnostic(`acknowledged ${r.acked}, redeemed ${r.redeemed}, lost ${r.lost}`)
  } finally {
    await w.close()
  }
})

test('publisher SIGKILLed mid-download: the client exits non-zero with a clear message; the caches settle what they hold', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/publisher', caches: 2, maxCaches: 2, publisherProcess: true })
  try {
    const a = w.cache(0)
    const b = w.cache(1)
    await Promise.all([ready(a), ready(b)])
    const client = w.clientProcess('client', 20)
    await Promise.race([a, b].map((c) => c.event('a paid claim', (e) => e.kind === 'paid')))
    assert.equal((await w.pubNode!.kill('SIGKILL')).signal, 'SIGKILL')
    const exit = await client.exited
    assert.notEqual(exit.code, 0, 'the client failed')
    assert.equal(exit.signal, null)
    assert.match(client.stderr.join('\n'), /error: client \(cdn client\) failed: .*publisher/i)
    noStack(client)
    assert.ok(!client.events.some((e) => e.kind === 'content' && (e.round as number) >= 19), 'it did not finish')
    await settleAndStop(a)
    await settleAndStop(b)
    const r = await assertBooks(w, [a.winners(), b.winners()])
    book(r, 1)
    t.diagnostic(`client: ${client.stderr.find((l) => l.startsWith('error:'))}; acknowledged ${r.acked}, redeemed ${r.redeemed}, lost ${r.lost}`)
  } finally {
    await w.close()
  }
})

test('client SIGKILLed mid-download: the caches are paid for what was proven, nothing more', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/client', caches: 2, maxCaches: 2 })
  try {
    const a = w.cache(0)
    const b = w.cache(1)
    await Promise.all([ready(a), ready(b)])
    const client = w.clientProcess('client', 20)
    await until('2 paid claims', () => paid(a) + paid(b) >= 2)
    // Right after a cache served a chunk: the client is between the chunk and its proof.
    const servedBefore = [a, b].map((c) => c.events.filter((e) => e.kind === 'served').length)
    await Promise.race([a, b].map((c, i) => c.event('a chunk served', (e) => e.kind === 'served' && c.events.filter((x) => x.kind === 'served').indexOf(e) >= servedBefore[i])))
    assert.equal((await client.kill('SIGKILL')).signal, 'SIGKILL')
    await settleAndStop(a)
    await settleAndStop(b)
    const pub = await w.stopPublisher() as unknown as { stats: { claimsPaid: number } }
    const s = [a, b].map((c) => stats(c)!.stats)
    const proven = s.reduce((n, x) => n + x.proofsAccepted + x.lateClaimsPaid, 0)
    assert.equal(pub.stats.claimsPaid, s.reduce((n, x) => n + x.claimsPaid, 0), 'the publisher paid what the caches were paid')
    assert.equal(pub.stats.claimsPaid, proven, 'every proven chunk paid, nothing more')
    assert.ok(s.reduce((n, x) => n + x.chunksServed, 0) >= proven, 'no more proven than served')
    const r = await assertBooks(w, [a.winners(), b.winners()])
    book(r, 1)
    t.diagnostic(`served ${s.reduce((n, x) => n + x.chunksServed, 0)}, proven ${proven}, paid ${pub.stats.claimsPaid}; acknowledged ${r.acked}, redeemed ${r.redeemed}, lost ${r.lost}`)
  } finally {
    await w.close()
  }
})

test('chain process (anvil) SIGKILLed while the cache holds winners: it stops with a clear message and a non-zero exit, its winners kept pending, not lost or booked; a restart says the same', { timeout: 180_000 }, async (t) => {
  const w = await world({ label: 'matrix/chain', chain: 'anvil', caches: 1, maxCaches: 2 })
  try {
    const a = w.cache(0)
    await ready(a)
    await w.client('client', 2)
    await until('4 paid claims', () => paid(a) >= 4)
    const acked = a.winners()
    assert.ok(acked >= 1, `need winners (got ${acked})`)
    w.anvil!.proc.kill('SIGKILL')
    await new Promise((r) => w.anvil!.proc.exitCode !== null || w.anvil!.proc.signalCode !== null ? r(undefined) : w.anvil!.proc.once('exit', r))
    const exit = await a.kill('SIGTERM')
    const said = a.stderr.join('\n')
    assert.notEqual(exit.code, 0, `the cache said: ${a.stderr.slice(-5).join('\n')}`)
    const url = w.rpcUrl.replace(/[.]/g, '\\.')
    // One `error:` line naming the chain (and, once the cache can tell how many it keeps, the winners kept pending).
    assert.match(said, new RegExp(`error: .*the chain at ${url}\\/? does not answer`, 'i'), said.slice(-600))
    noStack(a)
    const rows = w.stored(0)
    assert.ok(rows.length >= acked && rows.every((x) => x.status === 'pending'), `every winner still pending: ${JSON.stringify(rows)}`)
    const m = new RegExp(`error: The cdn cache stopped with (\\d+) payments? not settled: the chain at ${url}\\/? does not answer; kept pending in `).exec(said)
    if (m) assert.equal(Number(m[1]), rows.length, 'the message counts the winners kept')
    // Restarted against the dead chain: the same clear failure, the store untouched.
    const a2 = w.cache(0)
    const exit2 = await a2.exitWithin(60_000)
    if (exit2 === 'running') {
      await a2.kill('SIGKILL')
      assert.fail(`the restarted cache kept running against a dead chain; it said: ${a2.stderr.slice(-6).join('\n')}`)
    }
    assert.notEqual(exit2.code, 0)
    assert.match(a2.stderr.join('\n'), new RegExp(`error: Could not reach the chain at ${url}\\/?\\n`))
    noStack(a2)
    assert.deepEqual(w.stored(0), rows)
    figures.kills += 1
    figures.acked += acked
    figures.kept += rows.length
    t.diagnostic(`acknowledged ${acked}, pending in the store ${rows.length}; cache: ${a.stderr.find((l) => l.startsWith('error:'))}`)
  } finally {
    await w.close()
  }
})
