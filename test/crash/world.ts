/**
 * The crash matrix's world (test/crash/matrix.test.ts): a chain (the embedded EVM behind JSON-RPC, or Foundry's anvil
 * as a separate process), a CDN publisher, caches and clients as real peers on 127.0.0.1 (libp2p), each role either a
 * `souk node` child process (which a cell SIGKILLs and restarts over the same SQLite data dir) or `runPeer` in this
 * process. Kill points are chosen from what the peers say (their stdout JSON events, their stderr log lines) or from
 * the JSON-RPC requests they send to the chain, never from timers. The books are read from the chain's events alone
 * (TicketBroker), beside the caches' stores. Adapted from src/node/restart.test.ts.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import Database from 'better-sqlite3'
import { decodeFunctionData, parseTransaction, recoverTransactionAddress, type Address, type Hex, type TransactionSerialized } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { abis, createChain, serveJsonRpc, type Chain, type Eip1193Provider } from '../../src/chain/index.js'
import { safeJson } from '../../src/core/errors.js'
import { silentLogger } from '../../src/core/logger.js'
import { createLibp2pTransport, readMessage, request, sendMessage } from '../../src/net/index.js'
import { deploySouk, type SoukDeployment } from '../../src/payments/deploy.js'
import { RUN_RECORD_BYTES, runRedemptions } from '../../src/payments/lottery/ticket.js'
import { parseBundle, peelOuterLayer, solveBundle } from '../../src/proofs/capnet/index.js'
import { CDN_FETCH, CDN_REQUEST, fetchCodec, fetchReplyCodec, requestCodec, requestReplyCodec } from '../../src/services/cdn/protocol.js'
import type { ServiceEvent } from '../../src/services/market.js'
import { runPeer } from '../../src/node/peer.js'
import { startAnvil, type Anvil } from '../chain/anvil.js'

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname
/** A price near the lottery's face value: most tickets win. */
export const PRICE = '20000000000000000'
/** 2 chunks of 128 KiB. */
export const CONTENT = String(256 * 1024)

/** Polls `f` every 50 ms until it holds (a generous bound, not a timed assertion). */
export async function until(what: string, f: () => boolean, ms = 90_000): Promise<void> {
  for (const t0 = performance.now(); !f();) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A `souk node` child process: its stdout events, its stderr lines, how it ended. */
export interface Node {
  name: string
  proc: ChildProcess
  events: ServiceEvent[]
  stderr: string[]
  exited: Promise<{ code: number | null; signal: string | null }>
  /** Resolves when an event satisfying `f` has been printed (at once if one was). */
  event(what: string, f: (e: ServiceEvent) => boolean): Promise<ServiceEvent>
  /** Resolves when a stderr line from index `from` on (default 0) matches `re`. */
  line(re: RegExp, from?: number): Promise<string>
  /** Its exit if it ends within `ms`, else 'running'. */
  exitWithin(ms: number): Promise<{ code: number | null; signal: string | null } | 'running'>
  /** Sends `signal` and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }>
  running(): boolean
  /** Its acknowledged winning payments so far ('paid' events with `winning: true`). */
  winners(): number
}

/** Every child process started, so that a test that timed out leaves none behind (`killAll`). */
const live = new Set<ChildProcess>()

/** SIGKILLs every child process still running (an `after` hook: a cancelled test's children must not hold the run). */
export function killAll(): void {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
}

function spawnNode(role: string, name: string, args: string[], env: Record<string, string>): Node {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'node', '--json', '--role', role, '--name', name, ...args], {
    env: { ...process.env, SOUK_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
  const events: ServiceEvent[] = []
  const stderr: string[] = []
  const waiters: (() => void)[] = []
  const wake = () => { for (const w of waiters.splice(0)) w() }
  createInterface({ input: proc.stdout! }).on('line', (l) => { try { events.push(JSON.parse(l)) } catch { /* not an event */ } wake() })
  createInterface({ input: proc.stderr! }).on('line', (l) => { stderr.push(l); wake() })
  let ended = false
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.on('exit', (code, signal) => { ended = true; wake(); r({ code, signal }) }))
  const waitFor = <T>(what: string, probe: () => T | undefined) => new Promise<T>((resolve, reject) => {
    const bound = setTimeout(() => reject(new Error(`${name}: timed out waiting for ${what}; stderr: ${stderr.slice(-8).join('\n')}`)), 120_000)
    const check = () => {
      const v = probe()
      if (v !== undefined) { clearTimeout(bound); resolve(v); return }
      if (ended) { clearTimeout(bound); reject(new Error(`${name} exited before ${what}; stderr: ${stderr.slice(-8).join('\n')}`)); return }
      waiters.push(check)
    }
    check()
  })
  return {
    name, proc, events, stderr, exited,
    event: (what, f) => waitFor(what, () => events.find(f)),
    line: (re, from = 0) => waitFor(String(re), () => stderr.slice(from).find((l) => re.test(l))),
    exitWithin: (ms) => Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), ms).unref())]),
    async kill(signal = 'SIGKILL') { if (!ended) proc.kill(signal); return exited },
    running: () => !ended,
    winners: () => events.filter((e) => e.kind === 'paid' && e.winning === true).length,
  }
}

/** One redeemed ticket (a WinningTicketRedeemed event, or one ticket of a TicketsRedeemed run): who paid whom, which ticket, and from where the payer's money came. */
export interface Redeemed { sender: Address; recipient: Address; nonce: bigint; face: bigint; fromDeposit: bigint; fromReserve: bigint; tx: Hex }

export interface WorldOptions {
  label: string
  chain?: 'embedded' | 'anvil'
  /** Caches the world has keys and data dirs for (each may be started, killed and restarted). */
  caches: number
  /** Caches the publisher hires (restarts come back with a new peer id: leave room for them). */
  maxCaches: number
  cachesPerRequest?: number
  /** The publisher as a child process (to be killed) rather than in this process. */
  publisherProcess?: boolean
  /** Extra `--opt key=value` for the caches (e.g. lateClaimDelayMs). */
  cacheOpts?: string[]
}

/**
 * Hook on the caches' batch redemptions as they reach the JSON-RPC server (embedded chain only): `forward` hands the
 * transaction to the chain; the hook decides whether and when.
 */
export type RedeemHook = (tx: { from: Address; tickets: number }, forward: () => Promise<unknown>) => Promise<unknown>

export type World = Awaited<ReturnType<typeof world>>

export async function world(o: WorldOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'souk-crash-matrix-'))
  const nodes: Node[] = []
  let anvil: Anvil | undefined
  let chain: Chain
  let server: { url: string; close(): Promise<void> } | undefined
  let rpcUrl: string
  let keys: Hex[]
  let deployment: SoukDeployment
  let redeemHook: RedeemHook | undefined
  const batchSelector = (data: Hex) => { try { const d = decodeFunctionData({ abi: abis.TicketBrokerAbi, data }); if (d.functionName === 'batchRedeemWinningTickets') return (d.args![0] as unknown[]).length
    if (d.functionName === 'redeemRuns') return (d.args![0] as readonly { tickets: Hex }[]).reduce((n, r) => n + (r.tickets.length - 2) / 2 / RUN_RECORD_BYTES, 0)
    return undefined } catch { return undefined } }
  if (o.chain === 'anvil') {
    anvil = await startAnvil({ accounts: 3 + o.caches })
    chain = await createChain({ kind: 'rpc', url: anvil.url, dev: true, devKeys: anvil.keys, timeoutMs: 2_000 })
    rpcUrl = anvil.url
    keys = anvil.keys
  } else {
    chain = await createChain({ kind: 'embedded', accounts: 3 + o.caches, seed: o.label })
    const inner = chain.provider
    // The caches' redemption transactions pass through `redeemHook` on their way to the chain.
    const provider: Eip1193Provider = {
      async request(a: { method: string; params?: unknown }) {
        if (redeemHook && a.method === 'eth_sendRawTransaction') {
          const raw = (a.params as Hex[])[0] as TransactionSerialized
          const t = parseTransaction(raw)
          const tickets = t.to?.toLowerCase() === deployment.contracts.lottery.ticketBroker.toLowerCase() && t.data ? batchSelector(t.data) : undefined
          if (tickets !== undefined) {
            const from = (await recoverTransactionAddress({ serializedTransaction: raw })).toLowerCase() as Address
            return redeemHook({ from, tickets }, () => inner.request(a as never))
          }
        }
        return inner.request(a as never)
      },
    } as Eip1193Provider
    server = await serveJsonRpc(provider, { port: 0 })
    rpcUrl = server.url
    keys = chain.devKeys as Hex[]
  }
  deployment = await deploySouk(chain, keys[0])
  const deploymentPath = join(dir, 'deployment.json')
  writeFileSync(deploymentPath, safeJson(deployment))
  const pubKey = keys[1]
  const cacheKeys = keys.slice(2, 2 + o.caches)
  const payer = privateKeyToAddress(pubKey).toLowerCase() as Address
  const payees = cacheKeys.map((k) => privateKeyToAddress(k).toLowerCase() as Address)
  const base = ['--rpc', rpcUrl, '--deployment', deploymentPath, '--content-bytes', CONTENT, '--opt', `pricePerChunk=${PRICE}`]
  const pubOptions = { contentBytes: CONTENT, pricePerChunk: PRICE, maxCaches: o.maxCaches, cachesPerRequest: o.cachesPerRequest ?? 1 }

  // The publisher: in this process (runPeer), or a child process a cell can kill.
  const pubEvents: ServiceEvent[] = []
  const stopPub = new AbortController()
  let pubRun: Promise<void> | undefined
  let pubNode: Node | undefined
  let bootstrap: string
  if (o.publisherProcess) {
    pubNode = spawnNode('publisher', 'publisher', [...base, '--data-dir', join(dir, 'publisher'), '--max-caches', String(o.maxCaches), '--caches-per-request', String(o.cachesPerRequest ?? 1)], { SOUK_NODE_KEY: pubKey })
    nodes.push(pubNode)
    await pubNode.event('published', (e) => e.kind === 'published')
    bootstrap = (pubNode.events.find((e) => e.kind === 'listening')!.addresses as string[])[0]
  } else {
    pubRun = runPeer({ role: 'publisher', name: 'publisher', rpcUrl, deploymentPath, key: pubKey, dataDir: join(dir, 'publisher'), options: pubOptions },
      { report: (e) => pubEvents.push(e), signal: stopPub.signal })
    pubRun.catch(() => {})
    await until('the publisher', () => pubEvents.some((e) => e.kind === 'published'))
    bootstrap = (pubEvents.find((e) => e.kind === 'listening')!.addresses as string[])[0]
  }
  const broker = deployment.contracts.lottery.ticketBroker

  const w = {
    dir, chain, deployment, rpcUrl, bootstrap, payer, payees, pubNode, anvil,
    /** Every event the in-process publisher reported. */
    pubEvents,
    /** Starts cache `i` (same key and data dir each time, a fresh libp2p identity). */
    cache(i: number): Node {
      const c = spawnNode('cache', `cache-${i}`, [...base, '--bootstrap', bootstrap, '--data-dir', join(dir, `cache-${i}`), ...(o.cacheOpts ?? []).flatMap((x) => ['--opt', x])], { SOUK_NODE_KEY: cacheKeys[i] })
      nodes.push(c)
      return c
    },
    /** A client as a `souk node` child process fetching the content `rounds` times. */
    clientProcess(name: string, rounds: number): Node {
      const c = spawnNode('client', name, [...base, '--bootstrap', bootstrap, '--data-dir', join(dir, name), '--rounds', String(rounds)], {})
      nodes.push(c)
      return c
    },
    /** A client in this process (runPeer); resolves when it fetched the content `rounds` times. */
    client(name: string, rounds: number, events: ServiceEvent[] = []): Promise<void> {
      return runPeer({ role: 'client', name, rpcUrl, deploymentPath, bootstrap, dataDir: join(dir, name), options: { contentBytes: CONTENT, pricePerChunk: PRICE, rounds } },
        { report: (e) => events.push(e), signal: new AbortController().signal })
    },
    /** Redemption transactions of the caches go through `h` (undefined: straight to the chain). */
    onRedeem(h: RedeemHook | undefined) { redeemHook = h },
    /** Stops the in-process publisher; returns its stats event. */
    async stopPublisher(): Promise<ServiceEvent | undefined> {
      stopPub.abort()
      await pubRun?.catch(() => {})
      return pubEvents.find((e) => e.kind === 'stats')
    },
    /** The chain's WinningTicketRedeemed events (all recipients). */
    async redeemed(): Promise<Redeemed[]> {
      const evs = await chain.public.getContractEvents({ address: broker, abi: abis.TicketBrokerAbi, eventName: 'WinningTicketRedeemed', fromBlock: 0n })
      const single = evs.map((e) => {
        const a = e.args as { sender: Address; recipient: Address; faceValue: bigint; senderNonce: bigint; fromDeposit: bigint; fromReserve: bigint }
        return { sender: a.sender.toLowerCase() as Address, recipient: a.recipient.toLowerCase() as Address, nonce: a.senderNonce, face: a.faceValue, fromDeposit: a.fromDeposit, fromReserve: a.fromReserve, tx: e.transactionHash! }
      })
      // The run format (what the caches send): one TicketsRedeemed per run, ticket by ticket.
      const runs = await chain.public.getContractEvents({ address: broker, abi: abis.TicketBrokerAbi, eventName: 'TicketsRedeemed', fromBlock: 0n })
      return [...single, ...runs.flatMap((e) => {
        const a = e.args as { sender: Address; recipient: Address; lane: bigint; faceValue: bigint; fromDeposit: bigint; fromReserve: bigint; seqs: Hex }
        return runRedemptions(a).map((t) => ({ sender: a.sender.toLowerCase() as Address, recipient: a.recipient.toLowerCase() as Address, nonce: t.nonce, face: t.faceValue, fromDeposit: t.fromDeposit, fromReserve: t.fromReserve, tx: e.transactionHash! }))
      })]
    },
    /** Cache `i`'s stored winners (read-only, beside the cache): sender/nonce and status. */
    stored(i: number): { id: string; status: string }[] {
      const db = new Database(join(dir, `cache-${i}`, 'payments.sqlite'), { readonly: true })
      try {
        return (db.prepare('select sender, nonce, status from lottery_winners').all() as { sender: string; nonce: string; status: string }[])
          .map((r) => ({ id: `${r.sender.toLowerCase()}/${r.nonce}`, status: r.status }))
      } finally { db.close() }
    },
    /**
     * The payer's books from the chain's events and state alone: what it funded (DepositFunded, ReserveFunded), what
     * it still holds (getSender, reserveOf each cache), and what the broker paid out of it (WinningTicketRedeemed,
     * ClaimPaid). Charged = funded - held; paid = the events' sums.
     */
    async payerBooks(): Promise<{ charged: bigint; paidOut: bigint; claimsPaid: bigint; claimsQueued: number }> {
      const ev = async (eventName: 'DepositFunded' | 'ReserveFunded' | 'ClaimPaid' | 'ClaimQueued' | 'Withdrawn') =>
        chain.public.getContractEvents({ address: broker, abi: abis.TicketBrokerAbi, eventName, args: { sender: payer } as never, fromBlock: 0n })
      const sum = (xs: { args: unknown }[], f: string) => xs.reduce((s, x) => s + ((x.args as Record<string, bigint>)[f] ?? 0n), 0n)
      const funded = sum(await ev('DepositFunded'), 'amount') + sum(await ev('ReserveFunded'), 'amount')
      const withdrawn = (await ev('Withdrawn')).reduce((s, x) => s + (x.args as { deposit: bigint }).deposit + (x.args as { reserves: bigint }).reserves, 0n)
      const [deposit] = await chain.public.readContract({ address: broker, abi: abis.TicketBrokerAbi, functionName: 'getSender', args: [payer] }) as readonly [bigint, bigint, bigint]
      let reserves = 0n
      for (const p of payees) reserves += await chain.public.readContract({ address: broker, abi: abis.TicketBrokerAbi, functionName: 'reserveOf', args: [payer, p] }) as bigint
      const paid = (await w.redeemed()).filter((r) => r.sender === payer)
      const claimsPaid = sum(await ev('ClaimPaid'), 'amount')
      return { charged: funded - withdrawn - deposit - reserves, paidOut: paid.reduce((s, r) => s + r.fromDeposit + r.fromReserve, 0n) + claimsPaid, claimsPaid, claimsQueued: (await ev('ClaimQueued')).length }
    },
    async close() {
      redeemHook = undefined
      for (const n of nodes) if (n.running()) await n.kill('SIGKILL')
      stopPub.abort()
      await pubRun?.catch(() => {})
      await server?.close()
      await chain.close().catch(() => {})
      await anvil?.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return w
}

/**
 * The checks every cell ends with, from the chain's events alone (beside each cache's store): for each cache, every
 * winner it stored (at least the `acked[i]` it acknowledged) was redeemed on chain exactly once, and nothing it did not
 * store was; no ticket was redeemed twice; the payer was charged exactly what the broker paid out for those winners
 * (each event's fromDeposit + fromReserve is its face value). Returns the figures for the report.
 */
export async function assertBooks(w: World, acked: number[], o: { pending?: boolean } = {}) {
  const onChain = await w.redeemed()
  const ids = onChain.map((r) => `${r.sender}/${r.nonce}`)
  assert.equal(new Set(onChain.map((r) => `${r.sender}/${r.recipient}/${r.nonce}`)).size, onChain.length, 'no ticket redeemed twice')
  for (const r of onChain) assert.equal(r.fromDeposit + r.fromReserve, r.face, 'each redemption charged its face value once')
  let lost = 0
  let redeemed = 0
  for (let i = 0; i < acked.length; i++) {
    const payee = w.payees[i]
    const mine = onChain.filter((r) => r.recipient === payee).map((r) => `${r.sender}/${r.nonce}`)
    const rows = w.stored(i)
    assert.ok(rows.length >= acked[i], `cache-${i} stored every winner it acknowledged (${rows.length} stored, ${acked[i]} acknowledged)`)
    const badRows = rows.filter((r) => r.status !== (o.pending ? 'pending' : 'redeemed'))
    assert.deepEqual(badRows, [], `cache-${i}: every stored winner ${o.pending ? 'still pending' : 'redeemed'}`)
    if (o.pending) assert.deepEqual(mine, [], `cache-${i}: nothing redeemed`)
    else assert.deepEqual([...mine].sort(), rows.map((r) => r.id).sort(), `cache-${i}: the chain redeemed exactly the winners it stored, each once`)
    lost += Math.max(0, acked[i] - (o.pending ? rows.length : mine.length))
    redeemed += mine.length
  }
  assert.equal(new Set(ids).size, ids.length, 'no ticket redeemed for two caches')
  const books = await w.payerBooks()
  assert.equal(books.charged, books.paidOut, 'the payer was charged exactly what the broker paid out')
  assert.equal(books.claimsQueued, 0, 'no winner became a claim')
  return { redeemed, lost, acked: acked.reduce((a, b) => a + b, 0), charged: books.charged }
}

/**
 * A client that vanishes after the outer key (for the late-claim cell): asks the publisher for a bundle, takes the
 * chunk from its cache, hands over the payment order, gets the outer key, and drops the stream without the proof.
 * Then it solves the bundle and reports the secret to the publisher in its next request, so the cache's late claim
 * would be paid: the chunk is delivered and proven, only the cache never heard it.
 */
export async function vanishingClient(bootstrap: string): Promise<{ requestId: string; stop(): Promise<void> }> {
  const t = await createLibp2pTransport({ listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger() })
  const timeoutMs = 30_000
  const ask = async (msg: Parameters<typeof requestCodec.encode>[0]) => request(await t.dial(bootstrap, CDN_REQUEST, { timeoutMs }), requestCodec, requestReplyCodec, msg, { timeoutMs })
  const r = await ask({ type: 'bundle', contentId: 'content', firstChunk: 0, avoid: [], solved: [] })
  if (r.type !== 'bundle') throw new Error(`publisher: ${JSON.stringify(r)}`)
  const bundle = parseBundle(r.bundle)
  assert.equal(bundle.entries.length, 1)
  const e = bundle.entries[0]
  const s = await t.dial(r.caches[0].addresses[0] ?? e.cacheId, CDN_FETCH, { timeoutMs })
  await sendMessage(s, fetchCodec, { type: 'get', contentId: 'content', requestId: bundle.requestId, chunkIndex: e.chunkIndex, cacheTicket: e.cacheTicket })
  const m = await readMessage(s, fetchReplyCodec, { timeoutMs })
  assert.equal(m.header.type, 'chunk')
  const served = m.body.slice()
  await sendMessage(s, fetchCodec, { type: 'pay', order: r.orders[0] })
  const k = await readMessage(s, fetchReplyCodec, { timeoutMs })
  if (k.header.type !== 'key') throw new Error(`cache: ${JSON.stringify(k.header)}`)
  s.abort(new Error('vanished'))
  const inner = peelOuterLayer(served, k.header.outerKey, bundle.requestId, e.chunkIndex)
  const { secret } = solveBundle({ bundle, innerChunks: [inner] })
  const next = await ask({ type: 'bundle', contentId: 'content', firstChunk: 0, avoid: [], solved: [{ requestId: bundle.requestId, secret }] })
  assert.equal(next.type, 'bundle', 'the publisher took the solved secret')
  return { requestId: Buffer.from(bundle.requestId).toString('hex'), stop: () => t.stop() }
}
