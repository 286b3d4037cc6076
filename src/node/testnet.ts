/**
 * The local testnet: the embedded chain behind a JSON-RPC server on 127.0.0.1 (or another chain with `rpcUrl`), the
 * contracts deployed, and a publisher, caches and clients as separate OS processes (`souk node`) talking over
 * libp2p on 127.0.0.1 — the colluding cache + client pair among them. Children report JSON lines on stdout; this
 * parent turns them into progress and a final summary checked against the chain's own events.
 *
 * @example
 * ```ts
 * import { runTestnet } from './testnet.js'
 * const summary = await runTestnet({ caches: 2, clients: 2, contentBytes: 1 << 20 }, { signal, onEvent: console.log })
 * summary.contentOk // true
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { concat, decodeFunctionData, keccak256, toHex, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain } from '../chain/chain.js'
import type { Chain } from '../chain/types.js'
import { deploymentContracts } from './events.js'
import { deploySouk, type SoukDeployment } from '../payments/deploy.js'
import { devKeys, createEmbeddedProvider } from '../chain/embedded.js'
import { serveJsonRpc } from '../chain/rpc-server.js'
import { chainFromProvider } from '../chain/chain.js'
import { SoukTokenAbi } from '../../artifacts/contracts.js'
import { CAPNET_DEFAULT_PARAMS } from '../proofs/capnet/index.js'
import { schemeByName } from '../payments/registry.js'
import type { SchemeName, SchemeOf } from '../payments/schemes.js'
import { redactUrl, SoukError } from '../core/errors.js'
import { generateIdentity, peerIdFromIdentity } from '../net/index.js'
import { makeContent } from './peer.js'
import { DEPLOY_GAS, NODE_GAS, preflightFunds } from './preflight.js'
import { marketByName, type MarketName } from '../services/markets.js'
import { createHash } from 'node:crypto'

export interface TestnetOptions {
  /** The service market (`services/markets.ts`; default and, for now, only: cdn). */
  market?: MarketName
  caches?: number
  clients?: number
  contentBytes?: number
  scheme?: SchemeName
  /** Clients keep fetching until this many ms passed (0: each fetches the content once). */
  durationMs?: number
  /** Settle on this chain instead of the embedded one (a dev chain whose Souk dev keys are funded). */
  rpcUrl?: string
  /** The key that deploys the contracts (default the first dev key); checked for the ETH it needs first. */
  key?: Hex
  /** Include the colluding cache + client pair (default true when there are >= 2 caches and >= 2 clients). */
  colluders?: boolean
  /** Clients that stop paying (default 0). */
  stingy?: number
  cachesPerRequest?: number
  dataDir?: string
  /** Kill the whole testnet after this long (default 10 min; not the keep-alive phase). */
  timeoutMs?: number
  /**
   * After the summary (`io.onSummary`), start the publisher and caches again on their data dirs and keep them and
   * the chain running until `io.signal` aborts: a user joins more peers or reads the chain.
   */
  keepAlive?: boolean
}

export interface TestnetEvent { kind: string; role?: string; name?: string; [k: string]: unknown }

export interface TestnetSummary {
  ok: boolean
  contentOk: boolean
  elapsedMs: number
  rpcUrl: string
  peers: { publisher: number; caches: number; clients: number }
  bytesDelivered: number
  bytesVerified: number
  chunksPaid: number
  /** Payments for verified claims that a cache refused (0 unless something is broken). */
  paymentsRefused: number
  /** What the payment scheme did, in its own terms. */
  payments: PaymentsSummary
  /** `receivedByCache`: ERC-20 Transfer events from the scheme's contract to each address, since deployment. */
  chain: { transactions: number; gasUsed: string; contract: string; receivedByCache: Record<string, string> }
  caches: CacheRow[]
  clients: { name: string; behaviour: string; bytesVerified: number; ok: boolean; error?: string; cutOff?: string }[]
  colluders?: {
    earned: string; earnedChunks: number; forgedClaims: number; forgedClaimsPaid: number
    /** Of the paid "forged" claims, those without a secret on bundles the client really solved: valid late claims. */
    forgedClaimsLateValid: number
    shortcutAttempts: number; shortcutFailures: number; clientDownloadedFromHonestCaches: number
  }
  crashed: { name: string; code: number | null; signal: string | null; stderr: string[] }[]
  interrupted: boolean
  /** Why the run ended early: `user` (Ctrl-C, SIGTERM: `io.signal`) or `timeout` (`timeoutMs`); absent when it did not. */
  stopReason?: 'user' | 'timeout'
  /** Gas per contract function over the run's transactions (deploy excluded), as Foundry's gas report shows it. */
  gasReport: GasReportRow[]
}

/** One contract function in the gas report: how often it was called and the gas its transactions used. */
export interface GasReportRow { contract: string; fn: string; calls: number; min: number; mean: number; median: number; max: number }

/**
 * One cache: `received` is what its payee says it settled on chain; `receivedOnChain` the token transfers from the
 * scheme's contract to it; `schemeEventsOnChain` the same amount read from the scheme's own events (lottery
 * WinningTicketRedeemed, channel ChannelCollected + ChannelSettled of its channels, microcash WinnersRedeemed).
 * `matchesChain`: all three agree.
 */
export interface CacheRow {
  name: string; behaviour: string; payee: string; chunksServed: number; claimsPaid: number; credited: string
  winning: number; settled: number; pending: number
  received: string; receivedOnChain: string; schemeEventsOnChain: string; matchesChain: boolean
  /**
   * lottery: the payout's standard deviation around `credited` (the expected payout), √(credited × face value) for
   * rare wins; a cache's `received` is inside ±2σ of `credited` about 95% of the time. Absent for other schemes.
   */
  payoutSigma?: string
  forgedClaims: number; forgedClaimsPaid: number; forgedClaimsLateValid: number
  /** Payments its payee can no longer settle (expired, consumed by someone else, refused): losses, never received. */
  lost: number
}

/** What the payment scheme did, in its own terms (`PaymentScheme.summarize` of the scheme named by `scheme`). */
export type PaymentsSummary = { [N in SchemeName]: { scheme: N } & ReturnType<SchemeOf<N>['summarize']> }[SchemeName]

interface Child { name: string; role: string; proc: ChildProcess; events: TestnetEvent[]; stderr: string[]; exited: Promise<{ code: number | null; signal: string | null }>; expectedExit: boolean }

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url))
/** Funded keys beyond the run's peers, for caches joined by hand. */
const SPARE_KEYS = 2

/** Sends each peer key the ETH of NODE_GAS at 1.5 × the current gas price, unless it holds that already. */
async function fundPeers(chain: Chain, from: Hex, peers: readonly Hex[], emit: (e: TestnetEvent) => void): Promise<void> {
  const gasPrice = await chain.public.getGasPrice()
  const each = (NODE_GAS * gasPrice * 3n) / 2n
  const wallet = chain.wallet(from)
  for (const k of peers) {
    const to = privateKeyToAddress(k)
    const have = await chain.public.getBalance({ address: to })
    if (have >= each) continue
    const hash = await wallet.sendTransaction({ to, value: each - have })
    await chain.public.waitForTransactionReceipt({ hash })
  }
  emit({ kind: 'peers-funded', peers: peers.length, weiEach: each })
}

/** Runs the testnet to its summary. `io.signal` (Ctrl-C) stops every child cleanly and still summarizes. */
export async function runTestnet(o: TestnetOptions, io: { signal?: AbortSignal; onEvent?: (e: TestnetEvent) => void; onSummary?: (s: TestnetSummary) => void } = {}): Promise<TestnetSummary> {
  const started = performance.now()
  const nCaches = o.caches ?? 4, nClients = o.clients ?? 8
  const contentBytes = o.contentBytes ?? 4 << 20
  const scheme = o.scheme ?? 'lottery'
  const market = marketByName(o.market ?? 'cdn')
  const plugin = schemeByName(scheme as string)
  const colluders = o.colluders ?? (nCaches >= 2 && nClients >= 2)
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'souk-testnet-'))
  mkdirSync(dataDir, { recursive: true })
  const emit = io.onEvent ?? (() => {})
  // Two spare funded keys beyond the run's own: caches a user joins by hand (the join command names one).
  const keys = devKeys(2 + nCaches + SPARE_KEYS)
  // Chain: embedded behind JSON-RPC, or a remote one.
  let rpcUrl = o.rpcUrl
  let closeRpc: (() => Promise<void>) | undefined
  let chain
  if (!rpcUrl) {
    const provider = await createEmbeddedProvider({ accounts: 2 + nCaches + SPARE_KEYS })
    const server = await serveJsonRpc(provider, { port: 0 })
    rpcUrl = server.url
    closeRpc = () => server.close()
    chain = await chainFromProvider(provider, { kind: 'embedded', devKeys: provider.keys, dev: true })
  } else {
    chain = await createChain({ kind: 'rpc', url: rpcUrl, dev: true })
  }
  emit({ kind: 'chain', rpcUrl: redactUrl(rpcUrl) })
  const deployerKey = o.key ?? keys[0]
  // On a chain that is not ours with a funded --key, every peer's key is derived from it (recoverable from that key
  // alone: keccak256(key ‖ "souk-testnet:peer:<i>")) and funded from it with the ETH its role needs.
  if (o.rpcUrl && o.key) for (let i = 0; i < keys.length; i++) keys[i] = i === 0 ? o.key : keccak256(concat([o.key, toHex(`souk-testnet:peer:${i}`)]))
  try {
    const peerGas = o.rpcUrl && o.key ? NODE_GAS * BigInt(keys.length - 1) : 0n
    await preflightFunds(chain, { address: privateKeyToAddress(deployerKey).toLowerCase() as Address, gas: DEPLOY_GAS + peerGas, action: peerGas ? `deploying and funding ${keys.length - 1} peers` : 'deploying' })
    if (peerGas) await fundPeers(chain, deployerKey, keys.slice(1), emit)
  } catch (e) {
    await chain.close().catch(() => {})
    await closeRpc?.().catch(() => {})
    throw e
  }
  const deployment = await deploySouk(chain, deployerKey)
  const deploymentPath = join(dataDir, 'deployment.json')
  writeFileSync(deploymentPath, JSON.stringify(deployment, null, 2))
  const startBlock = BigInt(deployment.blockNumber)
  emit({ kind: 'deployed', contracts: deployment.contracts, token: deployment.token })
  // What a user needs to look at the chain or join it by hand. Keys are printed only for the embedded dev chain
  // (well-known dev keys); on a chain given by --rpc only the addresses.
  const roleOf = (i: number) => (i === 0 ? 'deployer' : i === 1 ? 'publisher' : i < 2 + nCaches ? `cache-${i - 2}` : `spare-${i - 2 - nCaches}`)
  emit({
    kind: 'run-info', dataDir, deploymentPath, rpcUrl: redactUrl(rpcUrl),
    accounts: keys.map((k, i) => ({ role: roleOf(i), address: privateKeyToAddress(k), ...(o.rpcUrl ? {} : { key: k }) })),
  })

  const children: Child[] = []
  // If this parent dies, take the (detached) children with it.
  const killAll = () => { for (const c of children) if (c.proc.exitCode === null) { try { c.proc.kill('SIGKILL') } catch { /* gone */ } } }
  process.once('exit', killAll)
  const crashed: TestnetSummary['crashed'] = []
  let interrupted = false
  const spawnPeer = (name: string, role: string, args: string[], env: Record<string, string>): Child => {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'node', '--json', '--market', market.name, '--role', role, '--name', name, '--rpc', rpcUrl!, '--deployment', deploymentPath,
      '--data-dir', join(dataDir, name), '--scheme', scheme, '--content-bytes', String(contentBytes), ...args], {
      // Own process group: a terminal's Ctrl-C reaches only this parent, which then stops children in order.
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    })

    const c: Child = { name, role, proc, events: [], stderr: [], expectedExit: false, exited: new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal }))) }
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let e: TestnetEvent
      try { e = JSON.parse(line) } catch { return }
      c.events.push(e)
      emit(e)
    })
    // Each child's full log stays in its data dir (<data-dir>/<name>.log); the last lines go into the summary.
    const logFile = createWriteStream(join(dataDir, `${name}.log`), { flags: 'a' })
    proc.on('exit', () => logFile.end())
    createInterface({ input: proc.stderr! }).on('line', (line) => { logFile.write(line + '\n'); c.stderr.push(line); if (c.stderr.length > 20) c.stderr.shift() })
    void c.exited.then(({ code, signal }) => {
      const clean = code === 0 || (c.expectedExit && signal === 'SIGTERM')
      if (!clean) {
        crashed.push({ name, code, signal, stderr: c.stderr.slice(-8) })
        emit({ kind: 'crashed', name, code, signal, stderr: c.stderr.slice(-8) })
      }
    })
    children.push(c)
    return c
  }
  const waitFor = (c: Child, pred: (e: TestnetEvent) => boolean, timeoutMs: number) => new Promise<TestnetEvent>((resolve, reject) => {
    const found = c.events.find(pred)
    if (found) return resolve(found)
    const t = setTimeout(() => { cleanup(); reject(new SoukError(`${c.name} did not report in time`, { details: { stderr: c.stderr.slice(-5) } })) }, timeoutMs)
    const onLine = () => { const f = c.events.find(pred); if (f) { cleanup(); resolve(f) } }
    const onExit = () => { cleanup(); reject(new SoukError(`${c.name} exited before it was ready`, { details: { stderr: c.stderr.slice(-5) } })) }
    const cleanup = () => { clearTimeout(t); c.proc.stdout!.off('data', onLine); c.proc.off('exit', onExit) }
    c.proc.stdout!.on('data', () => setImmediate(onLine))
    c.proc.on('exit', onExit)
  })
  const stopChild = async (c: Child, graceMs = 30_000) => {
    c.expectedExit = true
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM')
    const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs)
    await c.exited
    clearTimeout(t)
  }
  const abort = new AbortController()
  let stopReason: TestnetSummary['stopReason']
  const onAbort = () => { interrupted = true; stopReason ??= 'user'; abort.abort() }
  io.signal?.addEventListener('abort', onAbort, { once: true })
  const hardTimeout = setTimeout(() => { interrupted = true; stopReason ??= 'timeout'; abort.abort() }, o.timeoutMs ?? 600_000)
  const aborted = new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }))

  const ids = await Promise.all(Array.from({ length: 1 + nCaches + nClients }, () => generateIdentity()))
  const hexId = (i: number) => Buffer.from(ids[i]).toString('hex')
  const cachePeer = (i: number) => peerIdFromIdentity(ids[1 + i])
  const clientPeer = (j: number) => peerIdFromIdentity(ids[1 + nCaches + j])
  const badCache = colluders ? nCaches - 1 : -1
  const badClient = colluders ? 0 : -1
  const stingy = new Set(Array.from({ length: Math.min(o.stingy ?? 0, nClients) }, (_, k) => nClients - 1 - k))
  // For the dashboard (src/dashboard): who will run, and how each behaves.
  emit({ kind: 'peers-planned', peers: [{ name: 'publisher', role: 'publisher', behaviour: 'honest' }, ...Array.from({ length: nCaches }, (_, i) => ({ name: `cache-${i}`, role: 'cache', behaviour: i === badCache ? 'colluding' : 'honest' })),
    ...Array.from({ length: nClients }, (_, j) => ({ name: `client-${j}`, role: 'client', behaviour: j === badClient ? 'colluding' : stingy.has(j) ? 'stingy' : 'honest' }))] })
  try {
    // The publisher sizes its payer for the chunks a run pays per round (every client fetches the content once; with
    // --duration, guess one fetch per 2 s per client): microcash sizes its escrow from it.
    const chunkCount = Math.ceil(contentBytes / CAPNET_DEFAULT_PARAMS.chunkSize)
    const expectedChunks = nClients * chunkCount * Math.max(1, Math.ceil((o.durationMs ?? 0) / 2_000))
    const startPublisher = () => spawnPeer('publisher', 'publisher', ['--max-caches', String(nCaches + SPARE_KEYS), '--caches-per-request', String(o.cachesPerRequest ?? Math.min(4, nCaches)),
      '--expected-chunks', String(expectedChunks)], { SOUK_NODE_KEY: keys[1], SOUK_NODE_IDENTITY: hexId(0) })
    const publisherUp = async (p: Child) => {
      const listening = await Promise.race([waitFor(p, (e) => e.kind === 'published', 60_000), aborted.then(() => undefined)])
      if (!listening) throw new SoukError('Interrupted while starting')
      const bootstrap = (p.events.find((e) => e.kind === 'listening')!.addresses as string[])[0]!
      emit({ kind: 'publisher-up', bootstrap })
      // Ready-to-paste commands for a peer joined by hand while the run goes (the publisher hires SPARE_KEYS more caches).
      const base = `npx souk node --market ${market.name} --rpc ${redactUrl(rpcUrl!)} --deployment ${deploymentPath} --bootstrap ${bootstrap} --scheme ${scheme} --content-bytes ${contentBytes}`
      emit({
        kind: 'join',
        cache: `${base} --role cache --name cache-extra --data-dir ${join(dataDir, 'cache-extra')} --key ${o.rpcUrl ? '<a funded key>' : keys[2 + nCaches]}`,
        client: `${base} --role client --name client-extra --data-dir ${join(dataDir, 'client-extra')}`,
      })
      return bootstrap
    }
    const startCaches = (bootstrap: string) => Array.from({ length: nCaches }, (_, i) => spawnPeer(`cache-${i}`, 'cache', ['--bootstrap', bootstrap,
      ...(i === badCache ? ['--behaviour', 'colluding', '--partner', clientPeer(badClient)] : [])], { SOUK_NODE_KEY: keys[2 + i], SOUK_NODE_IDENTITY: hexId(1 + i) }))
    const pub = startPublisher()
    const bootstrap = await publisherUp(pub)
    const caches = startCaches(bootstrap)
    await Promise.race([Promise.all(caches.map((c) => waitFor(c, (e) => e.kind === 'ready', 120_000).catch((e) => emit({ kind: 'cache-not-ready', name: c.name, reason: (e as Error).message })))), aborted])
    const servingFrom = await chain.blockNumber()
    const clients = Array.from({ length: nClients }, (_, j) => spawnPeer(`client-${j}`, 'client', ['--bootstrap', bootstrap, '--duration-ms', String(o.durationMs ?? 0),
      ...(j === badClient ? ['--behaviour', 'colluding', '--partner', cachePeer(badCache)] : stingy.has(j) ? ['--behaviour', 'stingy'] : [])], { SOUK_NODE_IDENTITY: hexId(1 + nCaches + j) }))
    await Promise.race([Promise.all(clients.map((c) => { c.expectedExit = true; return c.exited })), aborted])
    // Let the last claims land (until no payment for 1 s, at most 10 s), then stop caches (they drain and redeem),
    // then the publisher.
    if (!abort.signal.aborted) {
      const paidEvents = () => caches.reduce((n, c) => n + c.events.filter((e) => e.kind === 'paid').length, 0)
      let seen = -1
      for (let waited = 0; waited < 10_000 && !abort.signal.aborted; waited += 1_000) {
        await new Promise((r) => setTimeout(r, waited === 0 ? 1_500 : 1_000))
        const now = paidEvents()
        if (now === seen) break
        seen = now
      }
    }
    for (const c of clients) if (c.proc.exitCode === null) await stopChild(c, 5_000)
    const servingTo = await chain.blockNumber()
    // Some schemes need blocks to pass before what was paid can settle (microcash: the draw of the round the
    // tickets were issued in; the embedded chain makes blocks only with transactions). `ripen` mines them, on a dev
    // chain only, never with --rpc.
    let minedBlocks = 0
    const planFacts = pub.events.find((e) => e.kind === 'published')?.plan as Record<string, unknown> | undefined
    if (plugin.ripen && !o.rpcUrl && chain.dev && planFacts && !abort.signal.aborted) {
      minedBlocks = await plugin.ripen(chain, planFacts)
      emit({ kind: 'mined', blocks: minedBlocks, reason: `so the ${scheme} payments can settle` })
    }
    await Promise.all(caches.map((c) => stopChild(c)))
    await stopChild(pub)

    // --- Summary, checked against the chain.
    const latest = await chain.blockNumber()
    let transactions = 0, gasUsed = 0n
    const gasCalls: GasCall[] = []
    for (let b = startBlock + 1n; b <= latest; b++) {
      const block = await chain.public.getBlock({ blockNumber: b, includeTransactions: true })
      for (const tx of block.transactions) {
        const g = (await chain.public.getTransactionReceipt({ hash: tx.hash })).gasUsed
        transactions++
        gasUsed += g
        gasCalls.push({ to: tx.to ?? undefined, input: tx.input, gas: g })
      }
    }
    // What each address received from the scheme's contract: ERC-20 Transfer events (generic), and the same
    // amount from the scheme's own events (its `audit`).
    const range = { fromBlock: startBlock, toBlock: latest }
    const audit = await plugin.audit(chain, deployment.contracts[scheme], range)
    const contract = audit.contract
    const add = (m: Record<string, bigint>, a: string, v: bigint) => { m[a.toLowerCase()] = (m[a.toLowerCase()] ?? 0n) + v }
    const transfers: Record<string, bigint> = {}
    for (const l of await chain.public.getContractEvents({ address: deployment.token, abi: SoukTokenAbi, eventName: 'Transfer', args: { from: contract }, ...range })) {
      const a = l.args as { to: Address; value: bigint }
      add(transfers, a.to, a.value)
    }
    const schemeEvents = audit.paidByEvents
    const last = (c: Child, kind: string) => [...c.events].reverse().find((e) => e.kind === kind)
    const contentSha = createHash('sha256').update(makeContent(contentBytes, 'souk')).digest('hex')
    const cacheRows: CacheRow[] = caches.map((c, i) => {
      const s = last(c, 'stats') as { stats?: Record<string, unknown>; settle?: Record<string, unknown>; payments?: Record<string, unknown>; payee?: string } | undefined
      const payee = (s?.payee ?? privateKeyToAddress(keys[2 + i])).toLowerCase()
      const received = BigInt((s?.settle?.received as string) ?? '0')
      const onChain = transfers[payee] ?? 0n
      const byEvents = schemeEvents[payee] ?? 0n
      return {
        name: c.name, behaviour: i === badCache ? 'colluding' : 'honest', payee,
        chunksServed: Number(s?.stats?.chunksServed ?? 0), claimsPaid: Number(s?.stats?.claimsPaid ?? 0), credited: String(s?.stats?.credited ?? '0'),
        // Winners: the lottery knows at receipt (winning tickets), microcash at the draw (the payee's count).
        winning: plugin.winnersOf({ service: s?.stats ?? {}, payee: s?.payments ?? {} }),
        settled: Number(s?.settle?.settled ?? 0), pending: Number(s?.settle?.pending ?? 0),
        received: received.toString(), receivedOnChain: onChain.toString(), schemeEventsOnChain: byEvents.toString(), matchesChain: received === onChain && onChain === byEvents,
        forgedClaims: Number(s?.stats?.forgedClaims ?? 0), forgedClaimsPaid: Number(s?.stats?.forgedClaimsPaid ?? 0),
        forgedClaimsLateValid: Number(s?.stats?.forgedClaimsLateValid ?? 0),
        lost: Number(s?.settle?.lostCount ?? 0),
        ...(scheme === 'lottery' && s?.payments?.faceValue !== undefined ? { payoutSigma: lotteryPayoutSigma(BigInt(String(s?.stats?.credited ?? '0')), BigInt(String(s.payments.faceValue))).toString() } : {}),
      }
    })
    const clientRows = clients.map((c, j) => {
      const s = last(c, 'stats') as { stats?: Record<string, unknown>; error?: string } | undefined
      const contents = c.events.filter((e) => e.kind === 'content')
      return {
        name: c.name, behaviour: j === badClient ? 'colluding' : stingy.has(j) ? 'stingy' : 'honest',
        bytesVerified: Number(s?.stats?.bytesVerified ?? 0),
        bytesDelivered: Object.values((s?.stats?.bytesFrom as Record<string, number>) ?? {}).reduce((a, b) => a + b, 0),
        ok: contents.length > 0 && contents.every((e) => e.sha256 === contentSha),
        error: s?.error, cutOff: s?.stats?.cutOff as string | undefined,
        bytesFrom: (s?.stats?.bytesFrom as Record<string, number>) ?? {},
        shortcutAttempts: Number(s?.stats?.shortcutAttempts ?? 0), shortcutFailures: Number(s?.stats?.shortcutFailures ?? 0),
      }
    })
    const honestClients = clientRows.filter((c) => c.behaviour !== 'stingy')
    const pubStats = (last(pub, 'stats') as { stats?: Record<string, unknown> } | undefined)?.stats
    const chunksPaid = cacheRows.reduce((s, c) => s + c.claimsPaid, 0)
    const sum = (f: (c: CacheRow) => number) => cacheRows.reduce((s, c) => s + f(c), 0)
    const payments = {
      scheme,
      ...plugin.summarize({
        paymentsAccepted: chunksPaid, payer: pubStats, plan: planFacts, servingFrom, servingTo, latest, ripenedBlocks: minedBlocks,
        payees: cacheRows.map((c) => ({ winning: c.winning, pending: c.pending, credited: BigInt(c.credited) })),
      }, audit),
    } as PaymentsSummary
    const summary: TestnetSummary = {
      ok: false,
      contentOk: honestClients.length > 0 && honestClients.every((c) => c.ok),
      elapsedMs: Math.round(performance.now() - started),
      rpcUrl: redactUrl(rpcUrl),
      peers: { publisher: 1, caches: nCaches, clients: nClients },
      bytesDelivered: clientRows.reduce((s, c) => s + c.bytesDelivered, 0),
      bytesVerified: clientRows.reduce((s, c) => s + c.bytesVerified, 0),
      chunksPaid,
      paymentsRefused: Number(pubStats?.paymentsRefused ?? 0),
      payments,
      chain: { transactions, gasUsed: gasUsed.toString(), contract, receivedByCache: Object.fromEntries(Object.entries(transfers).map(([k, v]) => [k, v.toString()])) },
      caches: cacheRows,
      clients: clientRows,
      crashed,
      interrupted,
      ...(stopReason ? { stopReason } : {}),
      gasReport: gasReport(gasCalls, deployment),
    }
    if (colluders) {
      const bc = cacheRows[badCache], cl = clientRows[badClient]
      summary.colluders = {
        earned: bc.credited, earnedChunks: bc.claimsPaid, forgedClaims: bc.forgedClaims, forgedClaimsPaid: bc.forgedClaimsPaid, forgedClaimsLateValid: bc.forgedClaimsLateValid,
        shortcutAttempts: cl.shortcutAttempts, shortcutFailures: cl.shortcutFailures,
        clientDownloadedFromHonestCaches: Object.entries(cl.bytesFrom).filter(([p]) => p !== cachePeer(badCache)).reduce((s, [, b]) => s + b, 0),
      }
    }
    summary.ok = summary.contentOk && crashed.length === 0 && !interrupted && summary.paymentsRefused === 0 && cacheRows.every((c) => c.matchesChain && c.lost === 0)
    io.onSummary?.(summary)
    if (o.keepAlive && !abort.signal.aborted) {
      clearTimeout(hardTimeout)
      emit({ kind: 'keep-alive', rpcUrl: redactUrl(rpcUrl), dataDir })
      const again = startPublisher()
      const at = await publisherUp(again)
      const more = startCaches(at)
      await aborted
      await Promise.all(more.map((c) => stopChild(c)))
      await stopChild(again)
    }
    return summary
  } finally {
    clearTimeout(hardTimeout)
    process.off('exit', killAll)
    io.signal?.removeEventListener('abort', onAbort)
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) { c.expectedExit = true; c.proc.kill('SIGTERM') }
    // (unref'd: a grace timer must not keep the caller's process alive 10 s after the children are gone)
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 10_000).unref())])))
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
    await chain.close().catch(() => {})
    await closeRpc?.().catch(() => {})
  }
}

/** √(credited × face): the spread of a lottery payout whose expected value is `credited` (wins are rare: Poisson). */
export function lotteryPayoutSigma(credited: bigint, face: bigint): bigint {
  const v = credited * face
  if (v <= 0n) return 0n
  let x = BigInt(Math.floor(Math.sqrt(Number(v))))
  // Newton steps from the float estimate: the exact integer square root.
  for (let i = 0; i < 4; i++) x = (x + v / (x || 1n)) / 2n
  while (x * x > v) x--
  while ((x + 1n) * (x + 1n) <= v) x++
  return x
}

interface GasCall { to?: Address; input: Hex; gas: bigint }

/** Gas by (contract, function) over `calls`, the contracts named from the deployment and decoded with their ABIs. */
export function gasReport(calls: readonly GasCall[], deployment: SoukDeployment): GasReportRow[] {
  const names = deploymentContracts(deployment as never)
  const groups = new Map<string, { contract: string; fn: string; gas: number[] }>()
  for (const c of calls) {
    const to = c.to?.toLowerCase()
    const known = to ? names.get(to) : undefined
    const contract = known?.name ?? (to ? 'other' : 'create')
    let fn = c.input.length <= 2 ? '(transfer)' : c.input.slice(0, 10)
    if (known) { try { fn = decodeFunctionData({ abi: known.abi, data: c.input }).functionName } catch { /* an unknown selector: kept as hex */ } }
    const k = `${contract}.${fn}`
    const g = groups.get(k) ?? { contract, fn, gas: [] }
    g.gas.push(Number(c.gas))
    groups.set(k, g)
  }
  return [...groups.values()].map(({ contract, fn, gas }) => {
    gas.sort((a, b) => a - b)
    const mid = gas.length >> 1
    return { contract, fn, calls: gas.length, min: gas[0]!, mean: Math.round(gas.reduce((a, b) => a + b, 0) / gas.length), median: gas.length % 2 ? gas[mid]! : Math.round((gas[mid - 1]! + gas[mid]!) / 2), max: gas.at(-1)! }
  }).sort((a, b) => a.contract.localeCompare(b.contract) || a.fn.localeCompare(b.fn))
}
