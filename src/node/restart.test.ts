/**
 * Issue 15, failure 3: a cache that is killed holding winning tickets and restarted with the same data directory
 * redeems them, whether its publisher takes it back (a full publisher gives a restarted cache, a new peer id under the
 * same key, its own place back) or is gone. Real parts: the publisher and client in this process
 * (`runPeer`: libp2p on 127.0.0.1, the JSON-RPC chain), the cache as a `souk node` child process SIGKILLed and
 * restarted over the same SQLite files, the embedded chain behind JSON-RPC; the count is the chain's own events.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import Database from 'better-sqlite3'
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { abis, createChain, serveJsonRpc } from '../chain/index.js'
import { safeJson } from '../core/errors.js'
import { deploySouk } from '../payments/deploy.js'
import { redeemedTickets } from '../payments/lottery/index.js'
import type { ServiceEvent } from '../services/market.js'
import { runPeer } from './peer.js'

const MAIN = new URL('../cli/main.ts', import.meta.url).pathname
/** A price near the lottery's face value: most tickets win. */
const PRICE = '20000000000000000'
const CONTENT = String(256 * 1024) // 2 chunks

const until = async (what: string, f: () => boolean, ms = 90_000) => {
  for (const t0 = performance.now(); !f();) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function spawnCache(args: string[], env: Record<string, string>) {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'node', '--json', '--role', 'cache', '--name', 'cache', ...args], {
    env: { ...process.env, SOUK_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  const events: ServiceEvent[] = []
  const stderr: string[] = []
  createInterface({ input: proc.stdout! }).on('line', (l) => { try { events.push(JSON.parse(l)) } catch { /* not an event */ } })
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l))
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })))
  return { proc, events, stderr, exited }
}

/** A chain, a publisher hiring `maxCaches` caches, and helpers to run a cache child, a client and read the chain. */
async function world(label: string, maxCaches: number) {
  const dir = mkdtempSync(join(tmpdir(), 'souk-restart-'))
  const chain = await createChain({ kind: 'embedded', accounts: 4, seed: label })
  const server = await serveJsonRpc(chain.provider, { port: 0 })
  const stopPub = new AbortController()
  const children: ReturnType<typeof spawnCache>[] = []
  const d = await deploySouk(chain, chain.devKeys[0])
  const deploymentPath = join(dir, 'deployment.json')
  writeFileSync(deploymentPath, safeJson(d))
  const [, pubKey, cacheKey] = chain.devKeys as Hex[]
  const payee = privateKeyToAddress(cacheKey).toLowerCase() as Address
  const common = { rpcUrl: server.url, deploymentPath, options: { contentBytes: CONTENT, pricePerChunk: PRICE } }
  const pubEvents: ServiceEvent[] = []
  const pubRun = runPeer({ ...common, role: 'publisher', name: 'publisher', key: pubKey, dataDir: join(dir, 'publisher'), options: { ...common.options, maxCaches, cachesPerRequest: 1 } },
    { report: (e) => pubEvents.push(e), signal: stopPub.signal })
  await until('the publisher', () => pubEvents.some((e) => e.kind === 'published'))
  const bootstrap = (pubEvents.find((e) => e.kind === 'listening')!.addresses as string[])[0]
  const cacheArgs = ['--rpc', server.url, '--deployment', deploymentPath, '--bootstrap', bootstrap, '--data-dir', join(dir, 'cache'), '--content-bytes', CONTENT, '--opt', `pricePerChunk=${PRICE}`]
  return {
    dir,
    /** Starts the cache (same key and data dir each time, a fresh libp2p identity). */
    cache() { const c = spawnCache(cacheArgs, { SOUK_NODE_KEY: cacheKey }); children.push(c); return c },
    /** A client fetches the content 3 times: 6 chunks, each proven and claimed. */
    client: (name: string) => runPeer({ ...common, role: 'client', name, bootstrap, dataDir: join(dir, name), options: { ...common.options, rounds: 3 } }, { report: () => {}, signal: new AbortController().signal }),
    /** The winners of the cache's payee the chain redeemed, as sender/nonce. */
    redeemed: async () => (await redeemedTickets(chain, d.contracts.lottery.ticketBroker, { recipient: payee }))
      .map((e) => `${e.sender}/${e.nonce}`),
    /** Winners pending in the cache's store (read-only, beside the cache). */
    stored() {
      const db = new Database(join(dir, 'cache', 'payments.sqlite'), { readonly: true })
      try { return (db.prepare("select count(*) as n from lottery_winners where status = 'pending'").get() as { n: number }).n } finally { db.close() }
    },
    /** Stops the publisher (its transport goes with it). */
    async stopPublisher() { stopPub.abort(); await pubRun.catch(() => {}) },
    async close() {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
      stopPub.abort()
      await pubRun.catch(() => {})
      await server.close()
      await chain.close()
    },
  }
}

/** Serves a client, then SIGKILLs the cache: returns the winners it acknowledged (all of them stored, none redeemed). */
async function serveAndKill(w: Awaited<ReturnType<typeof world>>, c: ReturnType<typeof spawnCache>, client: string) {
  await until('the cache to be ready', () => c.events.some((e) => e.kind === 'ready'))
  const paidBefore = c.events.filter((e) => e.kind === 'paid').length
  await w.client(client)
  await until('6 paid claims', () => c.events.filter((e) => e.kind === 'paid').length >= paidBefore + 6)
  const acked = c.events.filter((e) => e.kind === 'paid' && e.winning).length
  c.proc.kill('SIGKILL')
  assert.equal((await c.exited).signal, 'SIGKILL')
  assert.equal(w.stored(), acked, 'every acknowledged winner is in the store')
  assert.ok(acked >= 2, `need winners to test (got ${acked})`)
  return acked
}

test('a cache SIGKILLed with stored winners and restarted on the same data dir after its publisher died redeems each exactly once; it then exits 1 saying why', { timeout: 240_000 }, async () => {
  const w = await world('restart.test/orphaned', 1)
  try {
    const acked = await serveAndKill(w, w.cache(), 'client')
    assert.equal((await w.redeemed()).length, 0)
    await w.stopPublisher()

    const second = w.cache()
    const exit = await Promise.race([second.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 90_000).unref())])
    assert.notEqual(exit, 'running', `the orphaned cache kept running; stderr: ${second.stderr.slice(-5).join('\n')}`)
    assert.equal((exit as { code: number }).code, 1)
    const said = second.stderr.join('\n')
    assert.match(said, /error: The cdn cache stopped: .+ \(it settled \d+ stored payments?, none left\)/)
    assert.match(said, new RegExp(`settled ${acked} stored payment`))
    assert.doesNotMatch(said, /\n\s+at /, 'no stack trace')
    const onChain = await w.redeemed()
    assert.equal(onChain.length, acked, 'every stored winner redeemed')
    assert.equal(new Set(onChain).size, acked, 'each once')
    assert.equal(w.stored(), 0)

    // A third start finds nothing left to redeem: still exactly once on chain.
    const third = w.cache()
    assert.equal((await third.exited).code, 1)
    assert.match(third.stderr.join('\n'), /settled 0 stored payments, none left/)
    assert.equal((await w.redeemed()).length, acked)
  } finally {
    await w.close()
  }
})

test('a restarted cache takes its own place back at a full publisher, redeems the old winners at start, serves, and on SIGTERM redeems the new ones: each exactly once', { timeout: 240_000 }, async () => {
  // One cache wanted: the restarted cache (a new peer id, the same key) replaces its earlier, dead hire.
  const w = await world('restart.test/rehired', 1)
  try {
    const old = await serveAndKill(w, w.cache(), 'client-1')
    const second = w.cache()
    await until('the restarted cache to be ready', () => second.events.some((e) => e.kind === 'ready'))
    // Before it served anything: the old winners are on chain.
    const recovered = second.events.find((e) => e.kind === 'recovered') as { settle: { settled: number } } | undefined
    assert.equal(recovered?.settle.settled, old)
    assert.equal((await w.redeemed()).length, old)
    await w.client('client-2')
    await until('6 paid claims', () => second.events.filter((e) => e.kind === 'paid').length >= 6)
    const fresh = second.events.filter((e) => e.kind === 'paid' && e.winning).length
    assert.ok(fresh >= 1, `need new winners (got ${fresh})`)
    second.proc.kill('SIGTERM')
    assert.equal((await second.exited).code, 0, second.stderr.slice(-5).join('\n'))
    const onChain = await w.redeemed()
    assert.equal(onChain.length, old + fresh, 'old and new winners redeemed')
    assert.equal(new Set(onChain).size, old + fresh, 'each once')
    assert.equal(w.stored(), 0)
  } finally {
    await w.close()
  }
})
