/**
 * The compute market's local testnet: the embedded chain behind a JSON-RPC server on 127.0.0.1 (a block every
 * `blockMs`, since challenges and dispute windows are counted in blocks), the Souk contracts and `WorkMarket`
 * deployed, workers, verifiers and clients as separate `souk node` processes over libp2p — a lazy worker among the
 * workers — and a summary checked against the chain's own events: jobs opened, batches claimed, settled and
 * faulted, the stake slashed, what each party withdrew.
 *
 * @example
 * ```ts
 * import { runComputeTestnet } from './testnet-compute.js'
 * const s = await runComputeTestnet({ workers: 2 }, { signal })
 * s.slashes // >= 1: the lazy worker was caught on chain
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
import { WorkMarketAbi } from '../../artifacts/contracts.js'
import { chainFromProvider } from '../chain/chain.js'
import { createEmbeddedProvider } from '../chain/embedded.js'
import { serveJsonRpc } from '../chain/rpc-server.js'
import { redactUrl, SoukError } from '../core/errors.js'
import { deploySouk } from '../payments/deploy.js'
import { deployWorkMarketContract } from '../services/compute/chain.js'
import { readComputeTerms } from '../services/compute/contract.js'

export interface ComputeTestnetOptions {
  workers?: number
  /** Workers that skip the work (default 1 when there are >= 2 workers, so a slash is shown). */
  lazy?: number
  /** What the lazy workers return instead of the work: garbage (`lazy`), black frames, or a smaller rendition. */
  lazyBehaviour?: 'lazy' | 'black' | 'wrong-resolution'
  verifiers?: number
  clients?: number
  units?: number
  batchUnits?: number
  checksPerBatch?: number
  /** One block every this many ms. */
  blockMs?: number
  dataDir?: string
  timeoutMs?: number
}

export interface ComputeTestnetSummary {
  ok: boolean
  market: 'compute'
  elapsedMs: number
  rpcUrl: string
  contract: Address
  dataDir: string
  peers: { workers: number; verifiers: number; clients: number }
  jobs: number
  batchesClaimed: number
  batchesSettled: number
  /** BatchFaulted events (each one slashed the worker's stake to its client and the finder). */
  slashes: number
  slashed: string
  /** Gas of the work claims, on average. */
  claimGasAverage: number
  /** Per job, from the chain's events, beside what its client reported. */
  jobRows: { jobId: Hex; client: string; worker: string; behaviour: string; units: number; claimed: number; settled: number; faulted: number; slashed: string; matchesChain: boolean }[]
  withdrawn: Record<string, string>
  crashed: { name: string; code: number | null; signal: string | null; stderr: string[] }[]
  interrupted: boolean
}

interface Child { name: string; proc: ChildProcess; events: Record<string, unknown>[]; stderr: string[]; exited: Promise<{ code: number | null; signal: string | null }>; expectedExit: boolean }

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url))

export async function runComputeTestnet(o: ComputeTestnetOptions = {}, io: { signal?: AbortSignal; onEvent?: (e: Record<string, unknown>) => void } = {}): Promise<ComputeTestnetSummary> {
  const started = performance.now()
  const nWorkers = o.workers ?? 2, nVerifiers = o.verifiers ?? 1, nClients = o.clients ?? nWorkers
  const lazy = Math.min(o.lazy ?? (nWorkers >= 2 ? 1 : 0), nWorkers)
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'souk-compute-testnet-'))
  mkdirSync(dataDir, { recursive: true })
  const emit = io.onEvent ?? (() => {})
  const provider = await createEmbeddedProvider({ accounts: 1 + nWorkers + nVerifiers + nClients })
  const server = await serveJsonRpc(provider, { port: 0 })
  const chain = await chainFromProvider(provider, { kind: 'embedded', devKeys: provider.keys, dev: true })
  const keys = provider.keys as Hex[]
  const children: Child[] = []
  const crashed: ComputeTestnetSummary['crashed'] = []
  let interrupted = false
  let miner: ReturnType<typeof setInterval> | undefined
  try {
    emit({ kind: 'chain', rpcUrl: server.url })
    const deployment = await deploySouk(chain, keys[0])
    const contract = (await deployWorkMarketContract(chain, keys[0], deployment.token)).toLowerCase() as Address
    const deploymentPath = join(dataDir, 'deployment.json')
    writeFileSync(deploymentPath, JSON.stringify({ ...deployment, workMarket: contract }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2))
    emit({ kind: 'deployed', workMarket: contract })
    const startBlock = await chain.blockNumber()
    // Challenges and windows are counted in blocks: the chain makes one every blockMs, transactions or not.
    let mining = false
    miner = setInterval(() => { if (!mining) { mining = true; void chain.dev!.mine(1).catch(() => {}).finally(() => { mining = false }) } }, o.blockMs ?? 250)
    const common = ['--rpc', server.url, '--deployment', deploymentPath, '--opt', `workMarket=${contract}`, '--opt', 'pollMs=100',
      '--opt', `units=${o.units ?? 16}`, '--opt', `batchUnits=${o.batchUnits ?? 4}`, '--opt', `checksPerBatch=${o.checksPerBatch ?? 2}`]
    const spawnPeer = (name: string, role: string, key: Hex, args: string[]): Child => {
      const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'node', '--json', '--market', 'compute', '--role', role, '--name', name, '--data-dir', join(dataDir, name), ...common, ...args], {
        env: { ...process.env, SOUK_NODE_KEY: key, SOUK_LOG_LEVEL: process.env.SOUK_LOG_LEVEL ?? 'info' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
      })
      const c: Child = { name, proc, events: [], stderr: [], expectedExit: false, exited: new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal }))) }
      createInterface({ input: proc.stdout! }).on('line', (line) => { try { const e = JSON.parse(line) as Record<string, unknown>; c.events.push(e); emit({ ...e, name }) } catch { /* not an event */ } })
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
    const addrOf = (p: Child) => (p.events.find((e) => e.kind === 'listening')!.addresses as string[])[0]
    const behaviourOf = (i: number) => (i >= nWorkers - lazy ? (o.lazyBehaviour ?? 'lazy') : 'honest')
    // For the dashboard (src/dashboard): where the run keeps its data, who holds which account, who will run.
    const named = (role: string, n: number, first: number) => Array.from({ length: n }, (_, i) => ({ role: `${role}-${i}`, address: privateKeyToAddress(keys[first + i]) }))
    emit({ kind: 'run-info', dataDir, deploymentPath, rpcUrl: server.url, token: deployment.token, accounts: [{ role: 'deployer', address: privateKeyToAddress(keys[0]) }, ...named('worker', nWorkers, 1), ...named('verifier', nVerifiers, 1 + nWorkers), ...named('client', nClients, 1 + nWorkers + nVerifiers)] })
    emit({ kind: 'peers-planned', peers: [...Array.from({ length: nWorkers }, (_, i) => ({ name: `worker-${i}`, role: 'worker', behaviour: behaviourOf(i) })), ...Array.from({ length: nVerifiers }, (_, i) => ({ name: `verifier-${i}`, role: 'verifier', behaviour: 'honest' })),
      ...Array.from({ length: nClients }, (_, j) => ({ name: `client-${j}`, role: 'client', behaviour: 'honest' }))] })
    const workers = Array.from({ length: nWorkers }, (_, i) => spawnPeer(`worker-${i}`, 'worker', keys[1 + i], ['--behaviour', behaviourOf(i)]))
    const verifiers = Array.from({ length: nVerifiers }, (_, i) => spawnPeer(`verifier-${i}`, 'verifier', keys[1 + nWorkers + i], []))
    for (const p of [...workers, ...verifiers]) await until(p, p.name.startsWith('worker') ? 'offering' : 'checking', 60_000)
    const checkers = verifiers.map((v, i) => `${privateKeyToAddress(keys[1 + nWorkers + i]).toLowerCase()}@${addrOf(v)}`).join(',')
    const clients = Array.from({ length: nClients }, (_, j) => spawnPeer(`client-${j}`, 'client', keys[1 + nWorkers + nVerifiers + j], [
      '--bootstrap', addrOf(workers[j % nWorkers]), '--opt', `checkers=${checkers}`, '--opt', `quorum=${Math.ceil((nVerifiers + 1) / 2)}`, '--opt', `contentSeed=client-${j}`,
    ]))
    const hard = setTimeout(() => { interrupted = true; for (const c of clients) c.proc.kill('SIGTERM') }, o.timeoutMs ?? 600_000)
    const onAbort = () => { interrupted = true; for (const c of clients) { c.expectedExit = true; c.proc.kill('SIGTERM') } }
    io.signal?.addEventListener('abort', onAbort, { once: true })
    await Promise.all(clients.map((c) => c.exited))
    clearTimeout(hard)
    io.signal?.removeEventListener('abort', onAbort)
    // Workers settle what is left, finalize and withdraw on SIGTERM; verifiers just stop.
    for (const p of [...workers, ...verifiers]) { p.expectedExit = true; p.proc.kill('SIGTERM') }
    await Promise.all([...workers, ...verifiers].map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 60_000))])))
    clearInterval(miner)
    miner = undefined

    // --- Summary, from the chain's events.
    const range = { address: contract, abi: WorkMarketAbi, fromBlock: startBlock, toBlock: await chain.blockNumber() }
    const ev = async (eventName: string) => (await chain.public.getContractEvents({ ...range, eventName } as never)) as unknown as { args: Record<string, unknown>; transactionHash: Hex }[]
    const opened = await ev('JobOpened'), claimed = await ev('WorkClaimed'), settled = await ev('BatchSettled'), faulted = await ev('BatchFaulted'), withdrawnEv = await ev('Withdrawn')
    let claimGas = 0n
    for (const e of claimed) claimGas += (await chain.public.getTransactionReceipt({ hash: e.transactionHash })).gasUsed
    const withdrawn: Record<string, string> = {}
    for (const e of withdrawnEv) { const a = (e.args.who as string).toLowerCase(); withdrawn[a] = (BigInt(withdrawn[a] ?? '0') + (e.args.amount as bigint)).toString() }
    // BatchFaulted names the batch; the slash is the job's terms.slash (its stake covers one per batch).
    const slashOf = new Map<string, bigint>()
    for (const e of opened) slashOf.set(e.args.jobId as string, (await readComputeTerms(chain, contract, e.args.jobId as Hex)).slash)
    const jobRows = clients.map((c, j) => {
      const o1 = c.events.find((e) => e.kind === 'job-opened')
      const jobId = (o1?.jobId ?? '0x') as Hex
      const mine = (list: typeof claimed) => list.filter((e) => e.args.jobId === jobId)
      const ended = c.events.find((e) => e.kind === 'job-ended')
      const f = mine(faulted)
      return {
        jobId, client: c.name, worker: workers[j % nWorkers].name, behaviour: behaviourOf(j % nWorkers), units: Number(o1?.units ?? 0), claimed: mine(claimed).length, settled: mine(settled).length,
        faulted: f.length, slashed: (BigInt(f.length) * (slashOf.get(jobId) ?? 0n)).toString(),
        matchesChain: ended !== undefined && Number(ended.faults) === f.length && mine(settled).length + f.length === mine(claimed).length,
      }
    })
    const slashed = faulted.reduce((s, e) => s + (slashOf.get(e.args.jobId as string) ?? 0n), 0n)
    const summary: ComputeTestnetSummary = {
      ok: false, market: 'compute', elapsedMs: Math.round(performance.now() - started), rpcUrl: redactUrl(server.url), contract, dataDir,
      peers: { workers: nWorkers, verifiers: nVerifiers, clients: nClients }, jobs: opened.length, batchesClaimed: claimed.length, batchesSettled: settled.length,
      slashes: faulted.length, slashed: slashed.toString(), claimGasAverage: claimed.length ? Number(claimGas / BigInt(claimed.length)) : 0, jobRows, withdrawn, crashed, interrupted,
    }
    const honest = jobRows.filter((d) => d.behaviour === 'honest')
    const cheats = jobRows.filter((d) => d.behaviour !== 'honest')
    summary.ok = !interrupted && crashed.length === 0 && jobRows.every((d) => d.matchesChain) && honest.every((d) => d.faulted === 0 && d.settled === d.claimed)
      && cheats.every((d) => d.faulted >= 1) && (lazy === 0 || faulted.length >= 1) && opened.length === nClients
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
export function renderComputeSummary(s: ComputeTestnetSummary): string {
  const tok = (v: string) => (Number(BigInt(v)) / 1e18).toFixed(6)
  const lines = [
    `\nSouk compute testnet (${s.peers.workers} workers, ${s.peers.verifiers} verifiers, ${s.peers.clients} clients, ${(s.elapsedMs / 1000).toFixed(1)} s, chain ${s.rpcUrl}, WorkMarket ${s.contract})`,
    `  jobs        ${s.jobs} opened`,
    `  work        ${s.batchesClaimed} batches claimed (one root each, ${s.claimGasAverage} gas on average), ${s.batchesSettled} paid after their dispute window`,
    `  spot checks ${s.slashes} batches faulted, ${tok(s.slashed)} SOUK of stake slashed to the clients and finders`,
    '  job                 client    worker      behaviour         units claimed paid faulted  slashed      chain',
  ]
  for (const d of s.jobRows) lines.push(`  ${d.jobId.slice(0, 18)}  ${d.client.padEnd(9)} ${d.worker.padEnd(11)} ${d.behaviour.padEnd(17)} ${String(d.units).padStart(5)} ${String(d.claimed).padStart(7)} ${String(d.settled).padStart(4)} ${String(d.faulted).padStart(7)}  ${tok(d.slashed).padStart(11)}  ${d.matchesChain ? 'matches' : 'MISMATCH'}`)
  for (const c of s.crashed) lines.push(`  crashed     ${c.name} (code ${c.code}, signal ${c.signal}): ${c.stderr.slice(-2).join(' | ')}`)
  lines.push(`  data dir    ${s.dataDir}`, `  result      ${s.ok ? 'OK' : 'NOT OK'}${s.interrupted ? ' (interrupted)' : ''}`, '')
  return lines.join('\n')
}
