/**
 * The dashboard of `souk testnet`: the server, fed with the testnet's events, and a chain watch started as soon as
 * the testnet reports its chain's RPC URL. The command hands every event to `onEvent`, the summary to `finish`, and
 * calls `close` when it is done.
 *
 * @example
 * ```ts
 * import { startTestnetDashboard } from './testnet.js'
 * const dash = await startTestnetDashboard({ market: 'cdn' })
 * process.stderr.write(`dashboard ${dash.url}\n`)
 * const summary = await runTestnet(o, { onEvent: dash.onEvent })
 * dash.finish(summary)
 * await dash.close()
 * ```
 */
import { createChain } from '../chain/chain.js'
import type { Chain } from '../chain/types.js'
import { watchChain, type ChainWatch } from './chain-watch.js'
import { startDashboardServer, type DashboardServer } from './server.js'

export interface TestnetDashboardOptions {
  market: string
  scheme?: string
  /** The chain's real URL when the testnet runs on `--rpc` (the testnet reports it redacted); else the reported one. */
  rpcUrl?: string
  port?: number
  /** Chain polls (default 1000 ms). */
  pollMs?: number
}

export interface TestnetDashboard {
  readonly url: string
  readonly server: DashboardServer
  onEvent(e: unknown): void
  /** The run's summary: the page shows it finished, OK or not. */
  finish(summary: { ok: boolean }): void
  close(): Promise<void>
}

export async function startTestnetDashboard(o: TestnetDashboardOptions): Promise<TestnetDashboard> {
  const server = await startDashboardServer({ port: o.port })
  server.push({ kind: 'testnet', market: o.market, scheme: o.scheme })
  let chain: Chain | undefined
  let watch: ChainWatch | undefined
  let closed = false
  const startWatch = async (url: string) => {
    const c = await createChain({ kind: 'rpc', url, timeoutMs: 5_000 })
    if (closed) { await c.close().catch(() => {}); return }
    chain = c
    // An embedded chain is the run's own: every block from the first. A chain that is not ours: from now on.
    watch = watchChain(c, {
      fromBlock: o.rpcUrl ? undefined : 0n, intervalMs: o.pollMs ?? 1000, onEvent: (e) => server.push(e),
      contracts: () => Object.fromEntries(Object.entries(server.state.snapshot().chain.contracts).map(([n, a]) => [a, n])),
    })
  }
  return {
    url: server.url,
    server,
    onEvent(e) {
      server.push(e)
      const ev = e as { kind?: unknown; rpcUrl?: unknown }
      if (ev.kind === 'chain' && !chain && !closed && typeof ev.rpcUrl === 'string') void startWatch(o.rpcUrl ?? ev.rpcUrl).catch((err: unknown) => server.push({ kind: 'dashboard-warning', text: `cannot watch the chain: ${(err as Error).message.split('\n')[0]}` }))
    },
    finish(summary) { server.push({ kind: 'summary', ok: summary.ok }) },
    async close() {
      closed = true
      await watch?.stop()
      await chain?.close().catch(() => {})
      await server.close()
    },
  }
}
