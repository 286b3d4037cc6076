/**
 * The storage market's local testnet: the embedded chain behind a JSON-RPC server on 127.0.0.1 (a block every
 * `blockMs`, since storage periods are counted in blocks), the Souk contracts and `StorageMarket` deployed, providers
 * and clients as separate `souk node` processes over libp2p — one provider that drops data among them — and a
 * summary checked against the chain's own events: deals opened and activated, periods proven and faulted, the
 * collateral slashed, what each party withdrew.
 *
 * @example
 * ```ts
 * import { runStorageTestnet } from './testnet-storage.js'
 * const s = await runStorageTestnet({ providers: 2, clients: 2 }, { signal })
 * s.slashes // >= 1: the dropping provider was caught on chain
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { StorageMarketAbi } from '../../artifacts/contracts.js'
import { chainFromProvider } from '../chain/chain.js'
import { createEmbeddedProvider } from '../chain/embedded.js'
import { serveJsonRpc } from '../chain/rpc-server.js'
import { redactUrl, SoukError } from '../core/errors.js'
import { deploySouk } from '../payments/deploy.js'
import { deployStorageMarketContract } from '../services/storage/chain.js'

export interface StorageTestnetOptions {
  providers?: number
  clients?: number
  /** Bytes each client stores. */
  contentBytes?: number
  /** Providers that drop data (default 1 when there are >= 2 providers, so a slash is shown). */
  droppers?: number
  /** The fraction a dropping provider loses. */
  dropFraction?: number
  replicas?: number
  periods?: number
  periodBlocks?: number
  windowBlocks?: number
  challenges?: number
  /** One block every this many ms. */
  blockMs?: number
  dataDir?: string
  timeoutMs?: number
}

export interface StorageTestnetSummary {
  ok: boolean
  market: 'storage'
  elapsedMs: number
  rpcUrl: string
  contract: Address
  dataDir: string
  peers: { providers: number; clients: number }
  /** Deals the chain saw opened and activated. */
  deals: number
  activated: number
  proofs: number
  /** PeriodFaulted events (each one slashed collateral to its client). */
  slashes: number
  slashed: string
  /** Per deal, from the chain's events, beside what its client reported. */
  dealRows: { dealId: Hex; client: string; provider: string; behaviour: string; periods: number; proven: number; faulted: number; slashed: string; retrievedOk: boolean; matchesChain: boolean }[]
  proofTransactions: number
  proofGas: string
  withdrawn: Record<string, string>
  crashed: { name: string; code: number | null; signal: string | null; stderr: string[] }[]
  interrupted: boolean
}

interface Child { name: string; proc: ChildProcess; events: Record<string, unknown>[]; stderr: string[]; exited: Promise<{ code: number | null; signal: string | null }>; expectedExit: boolean }

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url))

export async function runStorageTestnet(o: StorageTestnetOptions = {}, io: { signal?: AbortSignal; onEvent?: (e: Record<string, unknown>) => void } = {}): Promise<StorageTestnetSummary> {
  const started = performance.now()
  const nProviders = o.providers ?? 2, nClients = o.clients ?? 2
  const droppers = Math.min(o.droppers ?? (nProviders >= 2 ? 1 : 0), nProviders)
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'souk-storage-testnet-'))
  mkdirSync(dataDir, { recursive: true })
  const emit = io.onEvent ?? (() => {})
  const provider = await createEmbeddedProvider({ accounts: 2 + nProviders + nClients })
  const server = await serveJsonRpc(provider, { port: 0 })
  const chain = await chainFromProvider(provider, { kind: 'embedded', devKeys: provider.keys, dev: true })
  const keys = provider.keys as Hex[]
  const children: Child[] = []
  const crashed: StorageTestnetSummary['crashed'] = []
  let interrupted = false
  let miner: ReturnType<typeof setInterval> | undefined
  try {
    emit({ kind: 'chain', rpcUrl: server.url })
    const deployment = await deploySouk(chain, keys[0])
    const contract = (await deployStorageMarketContract(chain, keys[0], deployment.token)).toLowerCase() as Address
    const deploymentPath = join(dataDir, 'deployment.json')
    writeFileSync(deploymentPath, JSON.stringify({ ...deployment, storageMarket: contract }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2))
    emit({ kind: 'deployed', storageMarket: contract })
    const startBlock = await chain.blockNumber()
    // Storage periods are counted in blocks: the chain makes one every blockMs, transactions or not.
    let mining = false
    miner = setInterval(() => { if (!mining) { mining = true; void chain.dev!.mine(1).catch(() => {}).finally(() => { mining = false }) } }, o.blockMs ?? 250)
    const common = ['--rpc', server.url, '--deployment', deploymentPath, '--opt', `storageMarket=${contract}`, '--opt', 'pollMs=100',
      '--opt', `replicas=${o.replicas ?? 2}`, '--opt', `periods=${o.periods ?? 4}`, '--opt', `periodBlocks=${o.periodBlocks ?? 12}`, '--opt', `windowBlocks=${o.windowBlocks ?? 8}`,
      '--opt', `challenges=${o.challenges ?? 16}`, '--opt', 'minPeriodBlocks=4', '--content-bytes', String(o.contentBytes ?? 256 * 1024)]
    const spawnPeer = (name: string, role: string, key: Hex, args: string[]): Child => {
      const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'node', '--json', '--market', 'storage', '--role', role, '--name', name, '--data-dir', join(dataDir, name), ...common, ...args], {
        env: { ...process.env, SOUK_NODE_KEY: key, SOUK_LOG_LEVEL: process.env.SOUK_LOG_LEVEL ?? 'info' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
      })
      const c: Child = { name, proc, events: [], stderr: [], expectedExit: false, exited: new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal }))) }
      createInterface({ input: proc.stdout! }).on('line', (line) => { try { const e = JSON.parse(line) as Record<string, unknown>; c.events.push(e); emit(e) } catch { /* not an event */ } })
      const logFile = createWriteStream(join(dataDir, `${name}.log`), { flags: 'a' })
      proc.on('exit', () => logFile.end())
      createInterface({ input: proc.stderr! }).on('line', (line) => { logFile.write(line + '\n'); c.stderr.push(line); if (c.stderr.length > 20) c.stderr.shift() })
      void c.exited.then(({ code, signal }) => {
        if (!(code === 0 || (c.expectedExit && signal === 'SIGTERM'))) { crashed.push({ name, code, signal, stderr: c.stderr.slice(-8) }); emit({ kind: 'crashed', name, code, signal }) }
      })
      children.push(c)
      return c
    }
    const until = async (c: Child, kind: string, ms: number) => {
      for (const t0 = performance.now(); !c.events.some((e) => e.kind === kind);) {
        if (performance.now() - t0 > ms || c.proc.exitCode !== null) throw new SoukError(`${c.name} did not report ${kind}`, { details: { stderr: c.stderr.slice(-5) } })
        if (io.signal?.aborted) { interrupted = true; throw new SoukError('Interrupted while starting') }
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const behaviourOf = (i: number) => (i >= nProviders - droppers ? 'drop' : 'honest')
    // For the dashboard (src/dashboard): where the run keeps its data, who holds which account, who will run.
    emit({ kind: 'run-info', dataDir, deploymentPath, rpcUrl: server.url, token: deployment.token, accounts: [{ role: 'deployer', address: privateKeyToAddress(keys[0]) },
      ...Array.from({ length: nProviders }, (_, i) => ({ role: `provider-${i}`, address: privateKeyToAddress(keys[1 + i]) })), ...Array.from({ length: nClients }, (_, j) => ({ role: `client-${j}`, address: privateKeyToAddress(keys[1 + nProviders + j]) }))] })
    emit({ kind: 'peers-planned', peers: [...Array.from({ length: nProviders }, (_, i) => ({ name: `provider-${i}`, role: 'provider', behaviour: behaviourOf(i) })), ...Array.from({ length: nClients }, (_, j) => ({ name: `client-${j}`, role: 'client', behaviour: 'honest' }))] })
    const providers = Array.from({ length: nProviders }, (_, i) => spawnPeer(`provider-${i}`, 'provider', keys[1 + i], ['--behaviour', behaviourOf(i), '--opt', `dropFraction=${o.dropFraction ?? 0.5}`]))
    for (const p of providers) await until(p, 'offering', 60_000)
    const addrOf = (p: Child) => (p.events.find((e) => e.kind === 'listening')!.addresses as string[])[0]
    const clients = Array.from({ length: nClients }, (_, j) => spawnPeer(`client-${j}`, 'client', keys[1 + nProviders + j], ['--bootstrap', addrOf(providers[j % nProviders]), '--opt', `contentSeed=client-${j}`]))
    const hard = setTimeout(() => { interrupted = true; for (const c of clients) c.proc.kill('SIGTERM') }, o.timeoutMs ?? 600_000)
    const onAbort = () => { interrupted = true; for (const c of clients) { c.expectedExit = true; c.proc.kill('SIGTERM') } }
    io.signal?.addEventListener('abort', onAbort, { once: true })
    await Promise.all(clients.map((c) => c.exited))
    clearTimeout(hard)
    io.signal?.removeEventListener('abort', onAbort)
    // Providers finalize their ended deals and withdraw on SIGTERM.
    for (const p of providers) { p.expectedExit = true; p.proc.kill('SIGTERM') }
    await Promise.all(providers.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 60_000))])))
    clearInterval(miner)
    miner = undefined

    // --- Summary, from the chain's events.
    const range = { address: contract, abi: StorageMarketAbi, fromBlock: startBlock, toBlock: await chain.blockNumber() }
    const ev = async (eventName: string) => (await chain.public.getContractEvents({ ...range, eventName } as never)) as unknown as { args: Record<string, unknown>; transactionHash: Hex }[]
    const opened = await ev('DealOpened'), activated = await ev('DealActivated'), proven = await ev('PeriodProven'), faulted = await ev('PeriodFaulted'), withdrawnEv = await ev('Withdrawn')
    const proofTxs = new Set(proven.map((e) => e.transactionHash).concat(faulted.filter((e) => Number(e.args.reason) === 1).map((e) => e.transactionHash)))
    let proofGas = 0n
    for (const h of proofTxs) proofGas += (await chain.public.getTransactionReceipt({ hash: h })).gasUsed
    const withdrawn: Record<string, string> = {}
    for (const e of withdrawnEv) { const a = (e.args.who as string).toLowerCase(); withdrawn[a] = (BigInt(withdrawn[a] ?? '0') + (e.args.amount as bigint)).toString() }
    const dealRows = clients.map((c, j) => {
      const o1 = c.events.find((e) => e.kind === 'deal-opened')
      const dealId = (o1?.dealId ?? '0x') as Hex
      const mine = (list: typeof proven) => list.filter((e) => e.args.dealId === dealId)
      const ended = c.events.find((e) => e.kind === 'deal-ended')
      const retrieved = c.events.find((e) => e.kind === 'retrieved')
      const p = mine(proven).length, f = mine(faulted).length
      return {
        dealId, client: c.name, provider: providers[j % nProviders].name, behaviour: behaviourOf(j % nProviders), periods: Number(o1?.periods ?? 0), proven: p, faulted: f,
        slashed: mine(faulted).reduce((s, e) => s + (e.args.slashed as bigint), 0n).toString(), retrievedOk: retrieved?.ok === true,
        matchesChain: ended !== undefined && Number(ended.proven) === p && p + f === Number(o1?.periods ?? -1),
      }
    })
    const slashed = faulted.reduce((s, e) => s + (e.args.slashed as bigint), 0n)
    const summary: StorageTestnetSummary = {
      ok: false, market: 'storage', elapsedMs: Math.round(performance.now() - started), rpcUrl: redactUrl(server.url), contract, dataDir,
      peers: { providers: nProviders, clients: nClients }, deals: opened.length, activated: activated.length, proofs: proven.length, slashes: faulted.length, slashed: slashed.toString(),
      dealRows, proofTransactions: proofTxs.size, proofGas: proofGas.toString(), withdrawn, crashed, interrupted,
    }
    const honest = dealRows.filter((d) => d.behaviour === 'honest')
    summary.ok = !interrupted && crashed.length === 0 && dealRows.every((d) => d.matchesChain) && honest.every((d) => d.faulted === 0 && d.retrievedOk)
      && (droppers === 0 || faulted.length >= 1) && activated.length === nClients
    return summary
  } finally {
    if (miner) clearInterval(miner)
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) { c.expectedExit = true; c.proc.kill('SIGTERM') }
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 10_000).unref())])))
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
    await chain.close().catch(() => {})
    await server.close().catch(() => {})
  }
}

/** The summary as text. */
export function renderStorageSummary(s: StorageTestnetSummary): string {
  const tok = (v: string) => (Number(BigInt(v)) / 1e18).toFixed(6)
  const lines = [
    `\nSouk storage testnet (${s.peers.providers} providers, ${s.peers.clients} clients, ${(s.elapsedMs / 1000).toFixed(1)} s, chain ${s.rpcUrl}, StorageMarket ${s.contract})`,
    `  deals       ${s.deals} opened, ${s.activated} activated`,
    `  proofs      ${s.proofs} periods proven in ${s.proofTransactions} transactions (${s.proofGas} gas)`,
    `  faults      ${s.slashes} periods faulted, ${tok(s.slashed)} SOUK of collateral slashed to the clients`,
    '  deal                client    provider    behaviour  proven faulted  slashed      retrieved  chain',
  ]
  for (const d of s.dealRows) lines.push(`  ${d.dealId.slice(0, 18)}  ${d.client.padEnd(9)} ${d.provider.padEnd(11)} ${d.behaviour.padEnd(10)} ${String(d.proven).padStart(6)} ${String(d.faulted).padStart(7)}  ${tok(d.slashed).padStart(11)}  ${(d.retrievedOk ? 'ok' : 'no').padEnd(9)}  ${d.matchesChain ? 'matches' : 'MISMATCH'}`)
  for (const c of s.crashed) lines.push(`  crashed     ${c.name} (code ${c.code}, signal ${c.signal}): ${c.stderr.slice(-2).join(' | ')}`)
  lines.push(`  data dir    ${s.dataDir}`, `  result      ${s.ok ? 'OK' : 'NOT OK'}${s.interrupted ? ' (interrupted)' : ''}`, '')
  return lines.join('\n')
}

