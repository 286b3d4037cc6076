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
import type { TestnetEvent, TestnetSummary } from './testnet.js'

const MiB = 1024 * 1024
const fmtMiB = (b: number) => `${(b / MiB).toFixed(2)} MiB`
const fmtTok = (v: string | bigint) => `${(Number(BigInt(v)) / 1e18).toFixed(6)} SOUK`

export function createProgress(o: { clients: number; caches: number; contentBytes: number }) {
  const enabled = process.stderr.isTTY === true
  const multi = new cliProgress.MultiBar({
    stream: process.stderr, clearOnComplete: false, hideCursor: true, autopadding: true,
    format: ' {name} |{bar}| {value}/{total} {unit} {note}',
  }, cliProgress.Presets.shades_classic)
  const bars = new Map<string, cliProgress.SingleBar>()
  const chunks = Math.ceil(o.contentBytes / (128 * 1024))
  // Start-up takes a while (processes, hiring, caches fetching the content): show it as its own bar.
  const peers = enabled ? multi.create(1 + o.caches, 0, { name: 'peers     ', unit: 'ready', note: '(publisher, then caches fetch the content)' }) : undefined
  let cachesReady = 0
  const payments = enabled ? multi.create(o.clients * chunks, 0, { name: 'payments  ', unit: 'chunks paid', note: '' }) : undefined
  const bar = (name: string) => {
    let b = bars.get(name)
    if (!b && enabled) { b = multi.create(Math.round(o.contentBytes / 1024), 0, { name: name.padEnd(10), unit: 'KiB', note: '' }); bars.set(name, b) }
    return b
  }
  let stopped = false
  return {
    update(e: TestnetEvent) {
      if (stopped) return
      if (!enabled) {
        // Not a terminal (CI, a pipe): one line per phase instead of bars.
        if (e.kind === 'crashed') process.stderr.write(`peer ${e.name} crashed (code ${e.code}): ${(e.stderr as string[]).slice(-3).join(' | ')}\n`)
        else if (e.kind === 'chain') process.stderr.write(`chain JSON-RPC at ${e.rpcUrl}\n`)
        else if (e.kind === 'publisher-up') process.stderr.write(`publisher up; ${o.caches} caches joining\n`)
        else if (e.kind === 'ready' && e.role === 'cache' && ++cachesReady === o.caches) process.stderr.write(`all ${o.caches} caches ready; ${o.clients} clients fetching\n`)
        else if (e.kind === 'cut-off' || e.kind === 'fetch-failed') process.stderr.write(`${e.name}: ${e.kind} (${String(e.reason).slice(0, 80)})\n`)
        return
      }
      if (e.kind === 'bundle-done' && e.role === 'client') {
        const b = bar(String(e.name))!
        const v = (b.getProgress() * b.getTotal()) + Math.round(Number(e.bytes) / 1024)
        if (v > b.getTotal()) b.setTotal(v)
        b.update(v)
      } else if (e.kind === 'paid') {
        payments!.increment(1)
      } else if (e.kind === 'cut-off' || e.kind === 'fetch-failed') {
        bar(String(e.name))?.update({ note: `(${e.kind}: ${String(e.reason).slice(0, 40)})` })
      } else if (e.kind === 'crashed') {
        multi.log(`peer ${e.name} crashed (code ${e.code}): ${(e.stderr as string[]).slice(-3).join(' | ')}\n`)
      } else if (e.kind === 'publisher-up') {
        peers?.increment(1, { note: `(${o.caches} caches joining and fetching the content)` })
        multi.log(`publisher at ${e.bootstrap}\n`)
      } else if (e.kind === 'ready' && e.role === 'cache') {
        cachesReady++
        peers?.increment(1, { note: cachesReady === o.caches ? `(all caches ready; ${o.clients} clients fetching)` : `(${cachesReady}/${o.caches} caches ready)` })
      } else if (e.kind === 'chain') {
        multi.log(`chain JSON-RPC at ${e.rpcUrl}\n`)
      }
    },
    stop() { if (!stopped) { stopped = true; if (enabled) multi.stop() } },
  }
}

/** The summary a person reads at the end of `souk testnet`. */
export function renderSummary(s: TestnetSummary): string {
  const L: string[] = []
  L.push('', `Souk testnet summary (${(s.elapsedMs / 1000).toFixed(1)} s, chain ${s.rpcUrl})${s.interrupted ? ' — INTERRUPTED' : ''}`)
  L.push(`  peers                 1 publisher, ${s.peers.caches} caches, ${s.peers.clients} clients (separate processes, libp2p on 127.0.0.1)`)
  L.push(`  bytes delivered       ${fmtMiB(s.bytesDelivered)} (served by caches, doubly encrypted)`)
  L.push(`  bytes verified        ${fmtMiB(s.bytesVerified)} (decrypted, Merkle-checked; content byte-exact: ${s.contentOk ? 'yes' : 'NO'})`)
  const served = s.caches.reduce((a, c) => a + c.chunksServed, 0)
  L.push(`  chunks paid           ${s.chunksPaid} of ${served} served${s.paymentsRefused ? ` (${s.paymentsRefused} payments REFUSED by caches)` : ''}`)
  const scheme = schemeByName(s.payments.scheme as string)
  L.push(...scheme.describe(s.payments))
  L.push(`  on-chain              ${s.chain.transactions} transactions, ${BigInt(s.chain.gasUsed).toLocaleString('en-US')} gas (deploy excluded)`)
  L.push(`  caches                (received: settled on chain by the cache; chain: token transfers from ${scheme.contractName} and its own events)`)
  for (const c of s.caches) L.push(`    ${c.name.padEnd(9)} ${c.behaviour.padEnd(9)} served ${String(c.chunksServed).padStart(4)} chunks, paid ${String(c.claimsPaid).padStart(4)}, credited ${fmtTok(c.credited)}, received ${fmtTok(c.received)} (chain: ${fmtTok(c.receivedOnChain)} ${c.matchesChain ? 'match' : `MISMATCH, events ${fmtTok(c.schemeEventsOnChain)}`})${c.lost ? `, LOST ${c.lost} (see its log)` : ''}`)
  L.push('  clients')
  for (const c of s.clients) L.push(`    ${c.name.padEnd(9)} ${c.behaviour.padEnd(9)} verified ${fmtMiB(c.bytesVerified)}${c.ok ? ', byte-exact' : ''}${c.cutOff ? `, cut off: ${c.cutOff}` : ''}${c.error && !c.cutOff ? `, error: ${c.error}` : ''}`)
  if (s.colluders) {
    const k = s.colluders
    L.push('  colluding pair (cache + client)')
    L.push(`    shortcut tries       ${k.shortcutAttempts} (solve without the honest caches' chunks), failed ${k.shortcutFailures}`)
    L.push(`    forged claims        ${k.forgedClaims} sent, ${k.forgedClaimsPaid} paid`)
    L.push(`    earned               ${fmtTok(k.earned)} for ${k.earnedChunks} chunks, all of them in bundles the client solved`)
    L.push(`    client downloaded    ${fmtMiB(k.clientDownloadedFromHonestCaches)} from honest caches to get there`)
  }
  if (s.crashed.length) {
    L.push('  crashed peers')
    for (const c of s.crashed) L.push(`    ${c.name}: exit ${c.code ?? c.signal}; last stderr: ${c.stderr.slice(-2).join(' | ')}`)
  }
  L.push(`  result                ${s.ok ? 'OK' : 'NOT OK'}`, '')
  return L.join('\n')
}
