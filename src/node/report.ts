/**
 * Progress bars (cli-progress) while a testnet runs, and the human-readable summary.
 *
 * @example
 * ```ts
 * const p = createProgress({ clients: 8, caches: 4, contentBytes: 4 << 20 })
 * p.update({ kind: 'bundle-done', role: 'client', name: 'client-0', bytes: 524288 })
 * p.stop()
 * ```
 */
import cliProgress from 'cli-progress'
import { schemeByName } from '../payments/registry.js'
import type { GasReportRow, TestnetEvent, TestnetSummary } from './testnet.js'
import { plainStyle, type Style } from './style.js'

const MiB = 1024 * 1024
const fmtMiB = (b: number) => `${(b / MiB).toFixed(2)} MiB`
const fmtTok = (v: string | bigint) => `${(Number(BigInt(v)) / 1e18).toFixed(6)} SOUK`

/**
 * Bars on a terminal (stderr), one line per phase elsewhere. With `durationMs` clients fetch until the time is up, so
 * the run's bar counts seconds (and the chunks paid so far) instead of a total it cannot know, and each client's bar
 * counts the KiB it verified. `log` prints a line above the bars (never overwritten by them).
 */
export function createProgress(o: { clients: number; caches: number; contentBytes: number; durationMs?: number; style?: Style }) {
  const enabled = process.stderr.isTTY === true
  const st = o.style ?? plainStyle
  const timed = (o.durationMs ?? 0) > 0
  const multi = new cliProgress.MultiBar({
    stream: process.stderr, clearOnComplete: false, hideCursor: true, autopadding: true,
    format: ' {name} |{bar}| {value}/{total} {unit} {note}',
  }, cliProgress.Presets.shades_classic)
  const bars = new Map<string, cliProgress.SingleBar>()
  const kib = new Map<string, number>()
  const chunks = Math.ceil(o.contentBytes / (128 * 1024))
  // Start-up takes a while (processes, hiring, caches fetching the content): show it as its own bar.
  const peers = enabled ? multi.create(1 + o.caches, 0, { name: 'peers     ', unit: 'ready', note: '(publisher, then caches fetch the content)' }) : undefined
  let cachesReady = 0
  let paid = 0
  const seconds = Math.ceil((o.durationMs ?? 0) / 1000)
  const payments = !enabled ? undefined : timed
    ? multi.create(seconds, 0, { name: 'time      ', unit: 's', note: '0 chunks paid' })
    : multi.create(o.clients * chunks, 0, { name: 'payments  ', unit: 'chunks paid', note: '' })
  let clock: ReturnType<typeof setInterval> | undefined
  let t0: number | undefined
  const bar = (name: string) => {
    let b = bars.get(name)
    if (!b && enabled) {
      b = timed
        ? multi.create(0, 0, { name: name.padEnd(10), note: '' }, { format: ' {name} {value} KiB verified {note}' })
        : multi.create(Math.round(o.contentBytes / 1024), 0, { name: name.padEnd(10), unit: 'KiB', note: '' })
      bars.set(name, b)
    }
    return b
  }
  let stopped = false
  const line = (msg: string) => { if (enabled && !stopped) multi.log(msg.endsWith('\n') ? msg : msg + '\n'); else process.stderr.write(msg.endsWith('\n') ? msg : msg + '\n') }
  return {
    log: line,
    update(e: TestnetEvent) {
      if (stopped) return
      if (!enabled) {
        // Not a terminal (CI, a pipe): one line per phase instead of bars.
        if (e.kind === 'crashed') process.stderr.write(`peer ${e.name} crashed (code ${e.code}): ${(e.stderr as string[]).slice(-3).join(' | ')}\n`)
        else if (e.kind === 'ready' && e.role === 'cache' && ++cachesReady === o.caches) process.stderr.write(`all ${o.caches} caches ready; ${o.clients} clients fetching${timed ? ` for ${seconds} s` : ''}\n`)
        else if (e.kind === 'cut-off' || e.kind === 'fetch-failed') process.stderr.write(`${e.name}: ${e.kind} (${String(e.reason).slice(0, 80)})\n`)
        return
      }
      if (e.kind === 'bundle-done' && e.role === 'client') {
        const b = bar(String(e.name))!
        const v = (kib.get(String(e.name)) ?? 0) + Math.round(Number(e.bytes) / 1024)
        kib.set(String(e.name), v)
        if (!timed && v > b.getTotal()) b.setTotal(v)
        b.update(v)
      } else if (e.kind === 'paid') {
        paid++
        if (timed) payments!.update({ note: `${paid} chunks paid` })
        else payments!.increment(1)
      } else if (e.kind === 'cut-off' || e.kind === 'fetch-failed') {
        bar(String(e.name))?.update({ note: st.yellow(`(${e.kind}: ${String(e.reason).slice(0, 40)})`) })
      } else if (e.kind === 'crashed') {
        multi.log(st.red(`peer ${e.name} crashed (code ${e.code}): ${(e.stderr as string[]).slice(-3).join(' | ')}`) + '\n')
      } else if (e.kind === 'publisher-up') {
        peers?.increment(1, { note: `(${o.caches} caches joining and fetching the content)` })
      } else if (e.kind === 'ready' && e.role === 'cache') {
        cachesReady++
        peers?.increment(1, { note: cachesReady === o.caches ? `(all caches ready; ${o.clients} clients fetching)` : `(${cachesReady}/${o.caches} caches ready)` })
        if (cachesReady === o.caches && timed && !clock) {
          // The clients start now: the time bar runs from here.
          t0 = Date.now()
          clock = setInterval(() => payments!.update(Math.min(seconds, Math.floor((Date.now() - t0!) / 1000))), 500)
          clock.unref()
        }
      }
    },
    stop() {
      if (stopped) return
      stopped = true
      if (clock) clearInterval(clock)
      if (enabled) multi.stop()
    },
  }
}

/** The summary a person reads at the end of `souk testnet` (coloured with `style`; `plainStyle` for none). */
export function renderSummary(s: TestnetSummary, style: Style = plainStyle): string {
  const st = style
  const L: string[] = []
  const stopped = s.stopReason === 'user' ? ' — stopped by you' : s.stopReason === 'timeout' ? ' — stopped at its time limit' : s.interrupted ? ' — INTERRUPTED' : ''
  L.push('', st.bold(`Souk testnet summary (${(s.elapsedMs / 1000).toFixed(1)} s, chain ${s.rpcUrl})`) + stopped)
  L.push(`  peers                 1 publisher, ${s.peers.caches} caches, ${s.peers.clients} clients (separate processes, libp2p on 127.0.0.1)`)
  L.push(`  bytes delivered       ${fmtMiB(s.bytesDelivered)} (served by caches, doubly encrypted)`)
  L.push(`  bytes verified        ${fmtMiB(s.bytesVerified)} (decrypted, Merkle-checked; content byte-exact: ${s.contentOk ? st.green('yes') : st.red('NO')})`)
  const served = s.caches.reduce((a, c) => a + c.chunksServed, 0)
  L.push(`  chunks paid           ${s.chunksPaid} of ${served} served${s.paymentsRefused ? st.red(` (${s.paymentsRefused} payments REFUSED by caches)`) : ''}`)
  const scheme = schemeByName(s.payments.scheme as string)
  L.push(...scheme.describe(s.payments))
  L.push(`  on-chain              ${s.chain.transactions} transactions, ${BigInt(s.chain.gasUsed).toLocaleString('en-US')} gas (deploy excluded; per function below)`)
  L.push(`  caches                (received: settled on chain by the cache; chain: token transfers from ${scheme.contractName} and its own events)`)
  for (const c of s.caches) {
    const band = c.payoutSigma !== undefined ? ` (expected ${fmtTok(c.credited)} ± ${fmtTok(2n * BigInt(c.payoutSigma))})` : ''
    L.push(`    ${c.name.padEnd(9)} ${c.behaviour.padEnd(9)} served ${String(c.chunksServed).padStart(4)} chunks, paid ${String(c.claimsPaid).padStart(4)}, credited ${fmtTok(c.credited)}, received ${fmtTok(c.received)}${band} (chain: ${fmtTok(c.receivedOnChain)} ${c.matchesChain ? st.green('match') : st.red(`MISMATCH, events ${fmtTok(c.schemeEventsOnChain)}`)})${c.lost ? st.red(`, LOST ${c.lost} (see its log)`) : ''}`)
  }
  if (s.caches.some((c) => c.payoutSigma !== undefined)) {
    L.push(st.dim('                        A lottery pays a cache only for its winning tickets: "credited" is what its tickets were worth on'),
      st.dim('                        average, "received" what the winners paid. Over a short run they differ (a cache may receive 0 or'),
      st.dim('                        several times its credit); ± is two standard deviations, about 95% of runs. Over many chunks they meet.'))
  }
  L.push('  clients')
  for (const c of s.clients) L.push(`    ${c.name.padEnd(9)} ${c.behaviour.padEnd(9)} verified ${fmtMiB(c.bytesVerified)}${c.ok ? ', byte-exact' : ''}${c.cutOff ? `, cut off: ${c.cutOff}` : ''}${c.error && !c.cutOff ? st.red(`, error: ${c.error}`) : ''}`)
  if (s.colluders) {
    const k = s.colluders
    const late = k.forgedClaimsLateValid ?? 0
    const forgedPaid = k.forgedClaimsPaid - late
    L.push('  colluding pair (cache + client)')
    L.push(`    shortcut tries       ${k.shortcutAttempts} (solve without the honest caches' chunks), failed ${k.shortcutFailures}`)
    L.push(`    forged claims        ${k.forgedClaims} sent, ${forgedPaid === 0 ? st.green('none paid') : st.red(`${forgedPaid} PAID`)}${late ? `; ${late} more were late but valid (no secret, on bundles the client had really solved: the chunk was served)` : ''}`)
    L.push(`    earned               ${fmtTok(k.earned)} for ${k.earnedChunks} chunks, all of them in bundles the client solved`)
    L.push(`    client downloaded    ${fmtMiB(k.clientDownloadedFromHonestCaches)} from honest caches to get there`)
  }
  if (s.crashed.length) {
    L.push(st.red('  crashed peers'))
    for (const c of s.crashed) L.push(`    ${c.name}: exit ${c.code ?? c.signal}; last stderr: ${c.stderr.slice(-2).join(' | ')}`)
  }
  if (s.gasReport?.length) L.push(...renderGasReport(s.gasReport, st))
  const result = s.stopReason === 'user'
    ? st.yellow('stopped by you') + ' (the figures cover what ran before Ctrl-C)'
    : s.ok ? st.green('OK') : st.red('NOT OK')
  L.push(`  result                ${result}`, '')
  return L.join('\n')
}

/** Foundry-style gas table: per contract function its calls and min / mean / median / max gas. */
export function renderGasReport(rows: readonly GasReportRow[], st: Style = plainStyle): string[] {
  const head = ['contract', 'function', 'calls', 'min', 'mean', 'median', 'max']
  const cells = rows.map((r) => [r.contract, r.fn, String(r.calls), ...[r.min, r.mean, r.median, r.max].map((n) => n.toLocaleString('en-US'))])
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: string[]) => '    ' + c.map((x, i) => (i < 2 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ')
  return ['  gas by function', st.dim(line(head)), ...cells.map(line)]
}
