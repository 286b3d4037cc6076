/**
 * A bounded wire fuzzer (issue 15): 10,000 malformed and hostile messages from throw-away identities against a
 * running CDN market (a publisher and a cache wired exactly as `souk node` wires them, bans after 3 protocol
 * violations as `souk node` does), on every protocol they serve. Afterwards nothing crashed, nothing leaked into
 * Object.prototype, no promise went unhandled, and an honest client still downloads the content byte-exact with
 * every chunk paid. Seeded: the same messages on every run.
 *
 * The roles run on the memory transport (the same codecs, caps and ban policy as libp2p: the transport compliance
 * suite holds both to one behaviour), so 10^4 identities cost nothing; a new libp2p identity costs ~30 ms.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Hex } from 'viem'
import { createChain } from '../../src/chain/index.js'
import { systemClock } from '../../src/core/clock.js'
import { openDatabase } from '../../src/core/db.js'
import { memoryLogger } from '../../src/core/logger.js'
import { forkRng, randomBelow, seededRng, type Rng } from '../../src/crypto/rng.js'
import { bytesToHex } from '../../src/crypto/bytes.js'
import { createMemoryNetwork, type Transport } from '../../src/net/index.js'
import { deploySouk } from '../../src/payments/deploy.js'
import { MARKET_NEGOTIATE } from '../../src/market/negotiate.js'
import { SPONSOR_CLAIM_PROTOCOL } from '../../src/exchange/protocol.js'
import type { RoleComponents, ServiceEvent } from '../../src/services/market.js'
import { CdnConfigSchema, cdnMarket } from '../../src/services/cdn/market.js'
import { CDN_CLAIM, CDN_CONTENT, CDN_FETCH, CDN_JOIN, CDN_REQUEST } from '../../src/services/cdn/protocol.js'

const MESSAGES = 10_000
const unhandled: unknown[] = []
const onUnhandled = (e: unknown) => unhandled.push(e)
process.on('unhandledRejection', onUnhandled)

const chain = await createChain({ kind: 'embedded', accounts: 8, seed: 'wire-fuzz' })
const deployment = await deploySouk(chain, chain.devKeys[0])
const clock = systemClock()
const rng = seededRng('wire-fuzz')
const net = createMemoryNetwork({ seed: 11 })
const logger = memoryLogger()
const events: (ServiceEvent & { name: string })[] = []
const handles: { stop(): Promise<unknown> }[] = []
after(async () => {
  for (const h of handles.reverse()) await h.stop().catch(() => {})
  await chain.close()
  process.off('unhandledRejection', onUnhandled)
})

const components = (name: string, key: Hex | undefined, bootstrap?: string): RoleComponents => ({
  transport: net.createTransport({ peerId: name, logger: logger.child(name), banAfterViolations: 3 }), clock, rng: forkRng(rng, name), logger: logger.child(name), bootstrap,
  onEvent: (e) => events.push({ ...e, name }), openDb: () => openDatabase(':memory:'),
  payments: key ? { scheme: 'lottery', context: { chain, deployment, key, clock, rng: forkRng(rng, `${name}:pay`), logger } } : undefined,
})
const content = new Uint8Array(Buffer.alloc(512 * 1024).map((_, i) => (i * 7 + (i >> 9)) & 0xff))
const cfg = CdnConfigSchema.parse({ content, maxCaches: 1, cachesPerRequest: 1, pricePerChunk: 100n, expectedChunks: 64 })

/** Hostile frames: random bytes, truncated or retyped JSON of real messages, deep nesting, prototype keys, huge numbers, oversize. */
function hostileFrame(r: Rng, valid: string[]): Uint8Array {
  const enc = (s: string) => new TextEncoder().encode(s)
  const pick = <T>(xs: readonly T[]) => xs[randomBelow(r, xs.length)]
  const base = pick(valid)
  switch (randomBelow(r, 10)) {
    case 0: return r(randomBelow(r, 2048))
    case 1: return enc(base.slice(0, randomBelow(r, Math.max(1, base.length))))
    case 2: { // a value replaced by something of the wrong type or absurd size
      const bad = pick(['-1', '1e308', `"${'9'.repeat(400)}"`, 'null', '[]', '{}', '{"$bigint":"12x"}', '{"$bytes":"@@"}', 'true', `{"$bigint":"${'9'.repeat(200)}"}`, '"\\u0000"'])
      return enc(base.replace(/:(\d+|"[^"]*"|true|false|null)/, `:${bad}`))
    }
    case 3: return enc('['.repeat(30_000) + ']'.repeat(30_000))
    case 4: return enc(`{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"type":"join"}`)
    case 5: return enc(base.replace(/^\{/, '{"extra":' + '{"a":'.repeat(50) + '1' + '}'.repeat(50) + ','))
    case 6: return new Uint8Array(0)
    case 7: return enc(JSON.stringify({ type: pick(['join', 'bundle', 'repair', 'claim', 'get', 'pay', 'open', 'bid', 'confirm', 'withdraw', 'accept']), x: bytesToHex(r(16)) }))
    case 8: return enc(base.replace(/"type":"[a-z-]+"/, `"type":"${pick(['hire', 'ready', 'decline', 'counter', 'take', 'proof', 'ack'])}"`))
    default: return enc(base.split('').reverse().join(''))
  }
}

test(`${MESSAGES.toLocaleString('en-US')} hostile messages: the publisher and cache stay up, nothing leaks, an honest client is served and every chunk paid`, { timeout: 240_000 }, async () => {
  const [, pubKey, cacheKey] = chain.devKeys
  const publisher = await cdnMarket.wire('publisher', components('publisher', pubKey), cfg)
  handles.push(publisher)
  const cache = await cdnMarket.wire('cache', components('cache', cacheKey, 'publisher'), cfg)
  handles.push(cache)
  await cache.ready

  // Real messages of each protocol, as JSON, for the fuzzer to corrupt.
  const valid = [
    '{"type":"join","offer":{"type":"offer","service":"cdn","server":"0x0000000000000000000000000000000000000001","peer":"f","seq":{"$bigint":"1"}}}',
    '{"type":"bundle","contentId":"souk-demo","firstChunk":0,"avoid":[],"solved":[]}',
    '{"type":"repair","requestId":{"$bytes":"AAAAAAAAAAAAAAAAAAAAAA=="},"slot":0,"avoid":[],"reason":"x"}',
    '{"contentId":"souk-demo","from":0,"to":4}',
    '{"type":"get","contentId":"souk-demo","chunkIndex":0,"requestId":{"$bytes":"AAAA"},"cacheTicket":{"$bytes":"AAAA"}}',
    '{"type":"open","ask":{"type":"ask"},"offer":"0x00","total":{"$bigint":"5"}}',
    '{"type":"claim","id":"a/0","proof":{"requestId":{"$bytes":"AAAA"},"chunkIndex":0},"payment":{"scheme":"lottery"}}',
  ]
  const targets: [string, string][] = [
    ['publisher', CDN_JOIN], ['publisher', CDN_REQUEST], ['publisher', CDN_CONTENT], ['publisher', CDN_CLAIM], ['publisher', SPONSOR_CLAIM_PROTOCOL],
    ['cache', CDN_FETCH], ['cache', MARKET_NEGOTIATE],
  ]
  const fr = forkRng(rng, 'fuzzer')
  let sent = 0, identities = 0, refusedDials = 0
  const t0 = performance.now()
  const lanes = 16
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    let t: Transport | undefined
    let n = 0
    while (sent < MESSAGES) {
      if (!t || n >= 3) { t = net.createTransport({ peerId: `fuzz-${lane}-${identities++}` }); n = 0 }
      const [peer, protocol] = targets[randomBelow(fr, targets.length)]
      let frame = hostileFrame(fr, valid)
      if (randomBelow(fr, 200) === 0) frame = new Uint8Array(2 * 1024 * 1024) // oversize: refused on the length prefix
      sent++
      n++
      try {
        const s = await t.dial(peer, protocol, { timeoutMs: 2_000 })
        await s.write(frame, { timeoutMs: 2_000 }).catch(() => {})
        await s.read({ timeoutMs: 500 }).catch(() => {})
        s.abort()
      } catch { refusedDials++ }
    }
  }))
  const seconds = (performance.now() - t0) / 1000

  // Nothing leaked into prototypes; no promise went unhandled; nothing was logged as a crash of ours.
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  assert.deepEqual(unhandled, [])
  const crashes = logger.entries.filter((e) => e.level === 'error')
  assert.deepEqual(crashes.map((e) => `${e.scope}: ${e.msg} ${JSON.stringify(e.fields)}`).slice(0, 5), [])
  const violations = logger.entries.filter((e) => e.msg === 'dropping stream: peer broke the protocol').length
  assert.ok(violations > MESSAGES / 4, `${violations} violations logged of ${MESSAGES} messages`)

  // An honest client is still served, byte-exact, and every chunk it fetched is paid to the cache.
  const client = await cdnMarket.wire('client', components('client', undefined, 'publisher'), cfg)
  handles.push(client)
  await client.run({ signal: new AbortController().signal })
  const got = events.filter((e) => e.name === 'client' && (e.kind === 'content' || e.kind === 'fetch-failed')) as unknown as { kind: string; sha256?: string; reason?: string }[]
  assert.deepEqual(got.map((e) => e.kind), ['content'], JSON.stringify(got))
  const published = events.find((e) => e.kind === 'published') as unknown as { sha256: string }
  assert.equal(got[0].sha256, published.sha256)
  const cacheStats = (cache as unknown as { cache: { drain(): Promise<void>; stats(): { claimsPaid: number } } }).cache
  await cacheStats.drain()
  assert.equal(cacheStats.stats().claimsPaid, Math.ceil(content.length / (128 * 1024)))
  process.stderr.write(`  wire fuzz: ${sent} messages from ${identities} identities in ${seconds.toFixed(1)} s; ${violations} violations, ${refusedDials} dials refused (the identity was banned); 0 crashes, 0 unhandled rejections\n`)
})
