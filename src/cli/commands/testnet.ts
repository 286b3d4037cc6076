/**
 * `souk testnet` (`npm start`): the embedded chain on 127.0.0.1 JSON-RPC, a publisher, caches and clients as
 * separate processes over libp2p, progress bars while it runs, and a summary checked against the chain.
 */
import type { Command } from 'commander'
import type { TestnetEvent } from '../../node/testnet.js'
import { z } from 'zod'
import { schemeEnum, schemeNames } from '../../payments/schemes.js'
import { marketEnum, marketNames } from '../../services/markets.js'

const Options = z.object({
  market: marketEnum().default('cdn'),
  caches: z.coerce.number().int().min(1).max(16).default(4),
  clients: z.coerce.number().int().min(1).max(32).optional(),
  providers: z.coerce.number().int().min(1).max(16).default(2),
  droppers: z.coerce.number().int().min(0).max(16).optional(),
  workers: z.coerce.number().int().min(1).max(16).default(2),
  lazy: z.coerce.number().int().min(0).max(16).optional(),
  cheat: z.enum(['lazy', 'black', 'wrong-resolution']).default('lazy'),
  verifiers: z.coerce.number().int().min(1).max(16).default(1),
  units: z.coerce.number().int().min(1).max(100_000).default(16),
  contentBytes: z.coerce.number().int().min(1024).max(256 << 20).optional(),
  duration: z.coerce.number().min(0).default(0),
  scheme: schemeEnum().default('lottery'),
  rpc: z.string().url().optional(),
  stingy: z.coerce.number().int().min(0).default(0),
  colluders: z.boolean().default(true),
  json: z.boolean().default(false),
  keepAlive: z.boolean().default(false),
  dashboard: z.boolean().default(true),
  dataDir: z.string().optional(),
  key: z.string().optional(),
  passwordFile: z.string().optional(),
})

export function register(program: Command): void {
  program
    .command('testnet')
    .description('run a local testnet of a market as separate processes, then a summary checked against the chain (cdn: publisher + caches + clients; storage: providers + clients; compute: workers + verifiers + clients)')
    .option('--market <name>', `service market: ${marketNames().join(' | ')}`, 'cdn')
    .option('--caches <n>', 'caches', '4')
    .option('--clients <n>', 'clients (default: cdn 8, storage 2, compute one per worker)')
    .option('--providers <n>', 'storage: providers', '2')
    .option('--droppers <n>', 'storage: providers that drop data (default 1 with 2 or more providers)')
    .option('--workers <n>', 'compute: workers', '2')
    .option('--lazy <n>', 'compute: workers that skip the work (default 1 with 2 or more workers)')
    .option('--cheat <how>', 'compute: what a lazy worker returns: lazy (garbage) | black (black frames) | wrong-resolution', 'lazy')
    .option('--verifiers <n>', 'compute: checkers re-executing the challenged units (a majority of them must sign a fault)', '1')
    .option('--units <n>', 'compute: units (segments of 2 frames) in each client\'s job', '16')
    .option('--content-bytes <n>', 'content size in bytes (default: cdn 4 MiB; storage 256 KiB a client)')
    .option('--duration <seconds>', 'clients keep fetching for this long (0: fetch once)', '0')
    .option('--scheme <name>', `payment scheme: ${schemeNames().join(' | ')}`, 'lottery')
    .option('--rpc <url>', 'settle on this chain instead of the embedded one')
    .option('--stingy <n>', 'clients that stop paying', '0')
    .option('--no-colluders', 'leave out the colluding cache + client pair')
    .option('--data-dir <dir>', 'where peers keep their SQLite state (default: a temp dir)')
    .option('--key <keystore|hex>', 'the key that deploys the contracts: a keystore file (souk key new) or 0x hex (default $SOUK_PRIVATE_KEY, else a dev key)')
    .option('--password-file <file>', "the keystore's password (default $SOUK_KEY_PASSWORD)")
    .option('--json', 'print the summary as JSON on stdout (no progress bars; everything else on stderr)')
    .option('--keep-alive', 'after the summary, keep the chain and the publisher and caches running (join more peers, read the chain) until Ctrl-C')
    .option('--no-dashboard', 'do not serve the live dashboard on 127.0.0.1')
    .action(async (raw: unknown) => {
      const o = Options.parse(raw)
      // An unusable --data-dir is a clear error before anything starts (a recursive mkdir under /proc never returns).
      if (o.dataDir) (await import('../output.js')).prepareOutputDir(o.dataDir, '--data-dir')
      if (o.market === 'storage') return storageTestnet(o)
      if (o.market === 'compute') return computeTestnet(o)
      const clients = o.clients ?? 8
      const { runTestnet } = await import('../../node/testnet.js')
      const { resolveSigningKey } = await import('../../chain/keystore.js')
      const key = resolveSigningKey({ key: o.key, passwordFile: o.passwordFile })?.key
      const { renderSummary, createProgress } = await import('../../node/report.js')
      const { styleFor } = await import('../../node/style.js')
      const st = styleFor(process.stderr, process.env)
      const out = styleFor(process.stdout, process.env)
      const ac = new AbortController()
      const dash = await openDashboard(o, o.market, o.scheme)
      const progress = o.json ? undefined : createProgress({ clients, caches: o.caches, contentBytes: o.contentBytes ?? 4 << 20, durationMs: o.duration * 1000, style: st })
      // Everything but the summary goes to stderr (above the bars when there are bars), so stdout stays the summary.
      const say = (line: string) => (progress ? progress.log(line) : process.stderr.write(line + '\n'))
      let interrupts = 0
      const onSig = () => {
        interrupts++
        if (interrupts > 1) {
          progress?.stop()
          if (process.stderr.isTTY) process.stderr.write('\x1b[?25h') // the bars hid the cursor: give it back
          process.stderr.write('forced: peers may still be stopping in the background (souk clean removes their data)\n')
          process.exit(130)
        }
        say(st.yellow('stopping every peer and settling what they hold (Ctrl-C again to force)...'))
        ac.abort()
      }
      process.on('SIGINT', onSig)
      process.on('SIGTERM', onSig)
      const onEvent = (e: TestnetEvent) => {
        dash?.onEvent(e)
        progress?.update(e)
        if (e.kind === 'chain') say(`${st.bold('chain')}      JSON-RPC at ${st.cyan(String(e.rpcUrl))}`)
        else if (e.kind === 'deployed') {
          const c = e.contracts as Record<string, Record<string, unknown>>
          say(`${st.bold('contracts')}  SoukToken ${e.token as string}` + Object.entries(c).map(([k, v]) => Object.entries(v).filter(([, a]) => typeof a === 'string' && String(a).startsWith('0x')).map(([n, a]) => `, ${k}.${n} ${a as string}`).join('')).join(''))
        } else if (e.kind === 'run-info') {
          say(`${st.bold('data')}       ${e.dataDir as string} (deployment.json, each peer's SQLite and log; \`souk clean\` removes old runs)`)
          const accts = e.accounts as { role: string; address: string; key?: string }[]
          say(`${st.bold('accounts')}   funded dev accounts (ETH for gas; the publisher also holds SOUK):`)
          for (const a of accts) say(`             ${a.role.padEnd(10)} ${a.address}${a.key ? st.dim(`  key ${a.key}`) : ''}`)
        } else if (e.kind === 'publisher-up') say(`${st.bold('publisher')}  at ${e.bootstrap as string}`)
        else if (e.kind === 'join') {
          say(`${st.bold('join')}       another cache while the run goes:  ${st.dim(String(e.cache))}`)
          say(`             another client:  ${st.dim(String(e.client))}`)
        }
      }
      try {
        const summary = await runTestnet({ market: o.market, caches: o.caches, clients, contentBytes: o.contentBytes ?? 4 << 20, durationMs: o.duration * 1000, scheme: o.scheme, rpcUrl: o.rpc, stingy: o.stingy, colluders: o.colluders, dataDir: o.dataDir, key, keepAlive: o.keepAlive },
          {
            signal: ac.signal, onEvent,
            onSummary: (s) => {
              dash?.finish(s)
              progress?.stop()
              process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s, out))
              if (o.keepAlive && !s.stopReason) process.stderr.write(`${st.bold('keep-alive')} the chain, the publisher and the caches keep running: Ctrl-C to stop them\n`)
            },
          })
        // A deliberate Ctrl-C is not a failure of the run; a run that stopped early for another reason or went wrong is.
        process.exitCode = summary.stopReason === 'user' ? 130 : summary.ok ? 0 : 1
      } finally {
        progress?.stop()
        process.off('SIGINT', onSig)
        process.off('SIGTERM', onSig)
        await dash?.close()
      }
    })
}

/** `souk testnet --market storage`: providers and clients as processes, one provider dropping data. */
async function storageTestnet(o: z.output<typeof Options>): Promise<void> {
  const { runStorageTestnet, renderStorageSummary } = await import('../../node/testnet-storage.js')
  const ac = new AbortController()
  let interrupts = 0
  const onSig = () => { interrupts++; if (interrupts > 1) process.exit(130); process.stderr.write('\nstopping every peer (Ctrl-C again to force)...\n'); ac.abort() }
  process.on('SIGINT', onSig)
  const clients = o.clients ?? 2
  let proven = 0, faulted = 0
  const say = (s: string) => { if (!o.json) process.stderr.write(s + '\n') }
  const dash = await openDashboard(o, 'storage')
  try {
    const s = await runStorageTestnet({ providers: o.providers, clients, droppers: o.droppers, contentBytes: o.contentBytes ?? 256 * 1024, dataDir: o.dataDir }, {
      signal: ac.signal,
      onEvent: (e) => {
        dash?.onEvent(e)
        if (e.kind === 'deployed') say(`StorageMarket deployed at ${e.storageMarket as string}`)
        else if (e.kind === 'deal-stored') say(`${e.name as string}: deal ${(e.dealId as string).slice(0, 10)}… stored and active`)
        else if (e.kind === 'period-proven') { proven++; say(`${e.name as string}: period ${e.period as number} proven (${proven} in all)`) }
        else if (e.kind === 'fault-called' || e.kind === 'period-faulted') { faulted++; say(`${e.name as string}: period ${e.period as number} of deal ${(e.dealId as string).slice(0, 10)}… faulted: collateral slashed to the client (${faulted} in all)`) }
        else if (e.kind === 'deal-ended') say(`${e.name as string}: deal ended, ${e.proven as number} proven, ${e.faulted as number} faulted`)
      },
    })
    dash?.finish(s)
    process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : renderStorageSummary(s))
    if (!s.ok) process.exitCode = 1
  } finally {
    process.off('SIGINT', onSig)
    await dash?.close()
  }
}

/** `souk testnet --market compute`: workers, verifiers and clients as processes, one worker skipping the work. */
async function computeTestnet(o: z.output<typeof Options>): Promise<void> {
  const { runComputeTestnet, renderComputeSummary } = await import('../../node/testnet-compute.js')
  const ac = new AbortController()
  let interrupts = 0
  const onSig = () => { interrupts++; if (interrupts > 1) process.exit(130); process.stderr.write('\nstopping every peer (Ctrl-C again to force)...\n'); ac.abort() }
  process.on('SIGINT', onSig)
  const say = (s: string) => { if (!o.json) process.stderr.write(s + '\n') }
  const short = (h: unknown) => `${String(h).slice(0, 10)}…`
  const dash = await openDashboard(o, 'compute')
  try {
    const s = await runComputeTestnet({ workers: o.workers, lazy: o.lazy, lazyBehaviour: o.cheat, verifiers: o.verifiers, clients: o.clients, units: o.units, dataDir: o.dataDir }, {
      signal: ac.signal,
      onEvent: (e) => {
        dash?.onEvent(e)
        if (e.kind === 'deployed') say(`WorkMarket deployed at ${e.workMarket as string}`)
        else if (e.kind === 'job-opened') say(`${e.name as string}: job ${short(e.jobId)} opened, ${e.units as number} units at ${e.pricePerUnit as string} each, worker stake ${e.stake as string}`)
        else if (e.kind === 'batch-claimed') say(`${e.name as string}: batch ${e.batch as number} (units ${e.first as number}..${(e.first as number) + (e.count as number) - 1}) claimed on chain${e.rootMatches ? '' : ' — the root is NOT what we received'}`)
        else if (e.kind === 'batch-faulted' && e.reasons) say(`${e.name as string}: batch ${e.batch as number} of job ${short(e.jobId)} faulted (${(e.reasons as string[])[0]}): stake slashed to us`)
        else if (e.kind === 'batches-settled') say(`${e.name as string}: paid for batches ${(e.batches as number[]).join(', ')} of job ${short(e.jobId)}`)
        else if (e.kind === 'job-ended') say(`${e.name as string}: job ended, ${e.faults as number} faulted batches`)
      },
    })
    dash?.finish(s)
    process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : renderComputeSummary(s))
    if (!s.ok) process.exitCode = 1
  } finally {
    process.off('SIGINT', onSig)
    await dash?.close()
  }
}

// --- The live dashboard (src/dashboard, docs/dashboard.md): served on 127.0.0.1 while the run goes (and through
// --keep-alive), its URL printed early on a line of its own (stderr with --json, so stdout stays JSON). A dashboard
// that cannot start is a warning, not a failed run.
async function openDashboard(o: z.output<typeof Options>, market: string, scheme?: string) {
  if (!o.dashboard) return undefined
  try {
    const { startTestnetDashboard } = await import('../../dashboard/testnet.js')
    const d = await startTestnetDashboard({ market, scheme, rpcUrl: o.rpc })
    ;(o.json ? process.stderr : process.stdout).write(`dashboard ${d.url}\n`)
    return d
  } catch (e) {
    process.stderr.write(`warning: no dashboard: ${(e as Error).message.split('\n')[0]}\n`)
    return undefined
  }
}
