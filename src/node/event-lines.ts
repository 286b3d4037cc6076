/**
 * One human line per event of a peer (`souk node` without `--json`): what happened, to whom, amounts with their
 * unit (token amounts in SOUK, 1 SOUK = 1e18 units; sizes in B/KiB/MiB). Events of any market: the CDN's, the
 * storage and compute markets' named ones, anything else as `kind: key value, …`. Pure: no I/O.
 *
 * @example
 * ```ts
 * import { eventLine } from './event-lines.js'
 * eventLine({ kind: 'hired', pricePerChunk: '165714260000000', role: 'cache', name: 'cache-1' })
 * // 'cache-1: hired by the publisher at 0.00016571426 SOUK per chunk; fetching the content'
 * ```
 */

type Ev = Record<string, unknown> & { kind: string }

/** Token units (a bigint, or its decimal string) as SOUK, exact, trailing zeros trimmed. */
export function fmtSouk(v: unknown): string {
  let n: bigint
  try { n = BigInt(v as string | bigint) } catch { return `${String(v)} units` }
  const neg = n < 0n
  if (neg) n = -n
  const whole = n / 10n ** 18n
  const frac = (n % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''} SOUK`
}

/** Bytes as B, KiB or MiB. */
export function fmtBytes(v: unknown): string {
  const b = Number(v)
  if (!Number.isFinite(b)) return String(v)
  if (b < 1024) return `${b} B`
  if (b < 1024 * 1024) return `${+(b / 1024).toFixed(1)} KiB`
  return `${+(b / (1024 * 1024)).toFixed(2)} MiB`
}

/** A peer id or hash shortened for a line (`12D3Koo…DqMQA`, `0x1234ab…`). */
const short = (v: unknown): string => {
  const s = String(v)
  if (s.startsWith('0x') && s.length > 14) return `${s.slice(0, 10)}…`
  return s.length > 16 ? `${s.slice(0, 7)}…${s.slice(-5)}` : s
}
const plural = (n: unknown, one: string, many = `${one}s`) => `${n} ${Number(n) === 1 ? one : many}`
const num = (v: unknown) => (typeof v === 'number' ? v : Number(v ?? 0))

const AMOUNT = /price|collateral|stake|credited|received|slashed|amount|deposit|escrow|paid(?!$)|earned/i

/** The line for a settle report (`settle` of a stats or recovered event). */
function settleText(s: Record<string, unknown> | undefined): string {
  if (!s) return ''
  const parts = [`settled ${plural(s.settled, 'payment')} in ${plural(s.transactions, 'transaction')}, received ${fmtSouk(s.received ?? 0)}`]
  if (num(s.pending) > 0) parts.push(`${s.pending} pending`)
  if (num(s.lostCount) > 0) parts.push(`${s.lostCount} LOST`)
  return parts.join(', ')
}

function generic(e: Ev): string {
  const fields = Object.entries(e).filter(([k, v]) => !['kind', 'role', 'name'].includes(k) && v !== undefined && (typeof v !== 'object' || v === null))
  const text = fields.map(([k, v]) => `${k} ${AMOUNT.test(k) && /^\d+$/.test(String(v)) ? fmtSouk(v) : typeof v === 'string' && v.length > 20 ? short(v) : String(v)}`).join(', ')
  return `${e.kind.replace(/-/g, ' ')}${text ? `: ${text}` : ''}`
}

function stopped(e: Ev): string {
  const s = (e.stats ?? {}) as Record<string, unknown>
  const settle = e.settle as Record<string, unknown> | undefined
  const err = typeof e.error === 'string' ? `; FAILED: ${e.error}` : ''
  if (e.role === 'cache') {
    const refused = Object.values((s.refused ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0)
    return `stopped: served ${plural(s.chunksServed, 'chunk')} (${fmtBytes(s.bytesServed)}), ${s.claimsPaid} paid, credited ${fmtSouk(s.credited ?? 0)}${num(s.claimsUnpaid) > 0 ? `, ${s.claimsUnpaid} UNPAID` : ''}${refused > 0 ? `, refused ${refused} requests` : ''}; ${settleText(settle)}${!s.hired ? ' (never hired)' : ''}`
  }
  if (e.role === 'client' && 'chunksVerified' in s) {
    return `stopped: ${plural(e.rounds, 'round')} fetched, ${plural(s.chunksVerified, 'chunk')} verified (${fmtBytes(s.bytesVerified)})${num(s.repairs) > 0 ? `, ${s.repairs} repairs` : ''}${err}`
  }
  if (e.role === 'publisher' && 'bundlesIssued' in s) {
    const paidTo = Object.values((s.paidTo ?? {}) as Record<string, string>).reduce((a, b) => a + BigInt(b), 0n)
    return `stopped: ${plural(s.cachesHired, 'cache')} hired, ${plural(s.bundlesIssued, 'bundle')} issued (${s.bundlesProven} proven), ${plural(s.claimsPaid, 'claim')} paid, ${fmtSouk(paidTo)} paid to caches${num(s.paymentsRefused) > 0 ? `, ${s.paymentsRefused} payments REFUSED` : ''}`
  }
  const nums = Object.entries(s).filter(([, v]) => typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))).slice(0, 6)
  const text = nums.map(([k, v]) => `${k} ${AMOUNT.test(k) ? fmtSouk(v) : v}`).join(', ')
  return `stopped${text ? `: ${text}` : ''}${settle ? `; ${settleText(settle)}` : ''}${err}`
}

const LINES: Record<string, (e: Ev) => string> = {
  listening: (e) => `listening on ${((e.addresses as string[] | undefined) ?? []).join(', ') || '(no address)'}`,
  // CDN publisher
  published: (e) => `publishing ${fmtBytes(e.bytes)} (${plural(e.chunks, 'chunk')}, sha256 ${String(e.sha256).slice(0, 12)}…), paying caches with ${e.scheme} from ${e.payer}`,
  deal: (e) => `deal with cache ${short(e.cache)} (payee ${e.payee}): ${fmtSouk(e.pricePerChunk)} per chunk (it asked ${fmtSouk(e.listPricePerChunk)}; ${plural(e.rounds, 'round')} of negotiation)`,
  'cache-hired': (e) => `hired cache ${short(e.cache)} (payee ${e.payee}) at ${fmtSouk(e.pricePerChunk)} per chunk`,
  'cache-ready': (e) => `cache ${short(e.cache)} holds the content and is serving`,
  'cache-replaced': (e) => `cache ${short(e.cache)} takes back the place of ${short(e.earlier)} (same payee ${e.payee})`,
  bundle: (e) => `client ${short(e.client)} asked for the content: ${plural(e.chunks, 'chunk')} from ${plural((e.caches as unknown[] | undefined)?.length ?? 0, 'cache')}`,
  // CDN cache
  hired: (e) => `hired by the publisher at ${fmtSouk(e.pricePerChunk)} per chunk; fetching the content`,
  ready: (e) => `ready: holds ${fmtBytes(e.bytes)} of content (Merkle-checked); serving`,
  served: (e) => `served a chunk (${fmtBytes(e.bytes)})`,
  paid: (e) => `paid for a chunk: ${fmtSouk(e.credited)} credited${e.winning ? ', a winning ticket' : ''}${e.late ? ' (late claim)' : ''}`,
  'claim-unpaid': (e) => `claim ${short(e.id)} NOT paid: ${e.reason}`,
  'forged-claim': (e) => `forged claim ${e.paid ? 'PAID' : 'refused'}`,
  recovered: (e) => `from an earlier run: ${settleText(e.settle as Record<string, unknown>)}`,
  'shortcut-failed': () => 'shortcut attempt failed (the puzzle needs every cache\'s chunk)',
  // CDN client
  content: (e) => `round ${num(e.round) + 1}: got the content, ${fmtBytes(e.bytes)} (sha256 ${String(e.sha256).slice(0, 12)}…), verified`,
  'bundle-done': (e) => `verified ${plural(e.chunks, 'chunk')} (${fmtBytes(e.bytes)})`,
  'fetch-failed': (e) => `round ${num(e.round) + 1}: fetch FAILED: ${e.reason}`,
  'cut-off': (e) => `cut off by the caches: ${e.reason}`,
  // Adversaries (any market): an attempt by this peer, and a cheater this peer caught
  attack: (e) => `ATTACK ${e.what}${e.paid !== undefined ? (e.paid ? ' (paid)' : ' (unpaid)') : ''}${e.outcome !== undefined ? `: ${e.outcome}` : ''}`,
  caught: (e) => `caught ${e.role ? `${e.role} ` : ''}${short(e.who)} cheating: ${e.why}`,
  // Storage market
  'deal-signed': (e) => `deal ${short(e.dealId)} signed with client ${short(e.client)}: ${fmtBytes(e.bytes)}, ${plural(e.replicas, 'replica')}, ${plural(e.periods, 'period')} at ${fmtSouk(e.pricePerPeriod)} a period, collateral ${fmtSouk(e.collateral)}`,
  'deal-opened': (e) => `deal ${short(e.dealId)} opened on chain with provider ${short(e.provider)}: ${plural(e.periods, 'period')} at ${fmtSouk(e.pricePerPeriod)}, collateral ${fmtSouk(e.collateral)}`,
  'deal-stored': (e) => `deal ${short(e.dealId)} stored and active`,
  'deal-active': (e) => `deal ${short(e.dealId)} active on chain`,
  'period-proven': (e) => `deal ${short(e.dealId)}: period ${e.period} proven on chain`,
  'period-faulted': (e) => `deal ${short(e.dealId)}: period ${e.period} FAULTED${e.reason ? ` (${e.reason})` : ''}: collateral slashed to the client`,
  'period-skipped': (e) => `deal ${short(e.dealId)}: period ${e.period} not proven (skipped)`,
  'fault-called': (e) => `deal ${short(e.dealId)}: called a fault on period ${e.period}: collateral slashed to us`,
  'deal-ended': (e) => `deal ${short(e.dealId)} ended: ${e.proven} periods proven, ${e.faulted} faulted${e.withdrawn !== undefined ? `, withdrew ${fmtSouk(e.withdrawn)}` : ''}`,
  retrieved: (e) => `deal ${short(e.dealId)}: retrieval ${e.ok ? 'ok' : 'FAILED'}, ${plural(e.chunks, 'chunk')}${e.reason ? ` (${e.reason})` : ''}`,
  // Compute market
  'job-signed': (e) => `job ${short(e.jobId)} signed with client ${short(e.client)}: ${plural(e.units, 'unit')} at ${fmtSouk(e.pricePerUnit)} each, stake ${fmtSouk(e.stake)}`,
  'job-opened': (e) => `job ${short(e.jobId)} opened with worker ${short(e.worker)}: ${plural(e.units, 'unit')} at ${fmtSouk(e.pricePerUnit)} each, worker stake ${fmtSouk(e.stake)}`,
  'work-claimed': (e) => `job ${short(e.jobId)}: batch ${e.batch} (units ${e.first}..${num(e.first) + num(e.count) - 1}) claimed on chain`,
  'batch-claimed': (e) => `job ${short(e.jobId)}: batch ${e.batch} (units ${e.first}..${num(e.first) + num(e.count) - 1}) claimed on chain${e.rootMatches === false ? ' — the root is NOT what we received' : ''}`,
  'batch-faulted': (e) => `job ${short(e.jobId)}: batch ${e.batch} FAULTED${Array.isArray(e.reasons) ? ` (${e.reasons[0]})` : ''}${e.slashed !== undefined ? `: ${fmtSouk(e.slashed)} of stake slashed` : ''}`,
  'batches-settled': (e) => `job ${short(e.jobId)}: paid for batches ${(e.batches as number[] | undefined)?.join(', ')}`,
  'demand-answered': (e) => `job ${short(e.jobId)}: answered the demand for unit ${e.unit} of batch ${e.batch}`,
  verdict: (e) => `job ${short(e.jobId)}: unit ${e.unit} of batch ${e.batch} judged ${e.verdict}${e.reason ? ` (${e.reason})` : ''}`,
  'job-finalized': (e) => `job ${short(e.jobId)} finalized`,
  'job-ended': (e) => `job ${short(e.jobId)} ended: ${plural(e.faults, 'faulted batch', 'faulted batches')}${e.slashedToUs !== undefined ? `, ${fmtSouk(e.slashedToUs)} slashed to us` : ''}${e.withdrawn !== undefined ? `, withdrew ${fmtSouk(e.withdrawn)}` : ''}`,
  stats: stopped,
}

/** Who an event is about: its peer's name, or its role when the name is the default. */
const who = (e: Ev) => (typeof e.name === 'string' && e.name !== 'peer' ? e.name : typeof e.role === 'string' ? e.role : 'peer')

/** The one line `souk node` prints for `e` (no trailing newline). */
export function eventLine(e: Ev): string {
  const f = LINES[e.kind] ?? generic
  let text: string
  try { text = f(e) } catch { text = generic(e) }
  return `${who(e)}: ${text}`
}
