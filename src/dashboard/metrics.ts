/**
 * The dashboard's snapshot in Prometheus' text exposition format (version 0.0.4): one `# HELP` and one `# TYPE` line
 * per metric, then its samples. Served as GET /metrics beside the JSON API. Amounts are in token units (wei of
 * SOUK), printed exactly.
 *
 * @example
 * ```ts
 * import { createDashboardState } from './state.js'
 * import { renderMetrics } from './metrics.js'
 * const s = createDashboardState()
 * s.apply({ kind: 'chain-block', number: 7, transactions: 2, gasUsed: '90000' }, 0)
 * renderMetrics(s.snapshot()).includes('souk_chain_transactions_total 2') // true
 * ```
 */
import type { DashboardSnapshot } from './state.js'

type Sample = [labels: Record<string, string>, value: number | string | bigint]
interface Metric { name: string; help: string; type: 'counter' | 'gauge'; samples: Sample[] }

/** The metric names, with their help text (docs/dashboard.md lists the same). */
export const METRIC_NAMES = [
  'souk_events_total', 'souk_peers', 'souk_deals', 'souk_chain_block_number', 'souk_chain_blocks_total', 'souk_chain_transactions_total',
  'souk_chain_gas_used_total', 'souk_chain_events_total', 'souk_bytes_served_total', 'souk_bytes_verified_total',
  'souk_payment_tickets_total', 'souk_payment_tickets_won_total', 'souk_payment_tickets_redeemed_total', 'souk_payment_redeem_transactions_total',
  'souk_payout_expected', 'souk_payout_awarded', 'souk_payout_on_chain', 'souk_payout_band_low', 'souk_payout_band_high',
  'souk_proofs_due', 'souk_proofs_proven_total', 'souk_proofs_faulted_total', 'souk_slashes_total', 'souk_slashed_total', 'souk_cheaters_caught',
  'souk_run_finished', 'souk_dashboard_subscribers',
] as const

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const line = (name: string, labels: Record<string, string>, value: number | string | bigint) => {
  const l = Object.entries(labels)
  return `${name}${l.length ? `{${l.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : ''} ${typeof value === 'number' && !Number.isFinite(value) ? 'NaN' : String(value)}`
}

export function renderMetrics(s: DashboardSnapshot, extra: { subscribers?: number } = {}): string {
  const m: Metric[] = []
  const add = (name: string, type: Metric['type'], help: string, samples: Sample[]) => m.push({ name, type, help, samples })
  const market = s.market ?? 'unknown'
  add('souk_events_total', 'counter', 'Testnet and chain events the dashboard took, by kind.', Object.entries(s.eventsByKind).map(([kind, n]) => [{ kind }, n]))
  const peers = new Map<string, number>()
  for (const p of s.peers) peers.set(`${p.role}\u0000${p.state}`, (peers.get(`${p.role}\u0000${p.state}`) ?? 0) + 1)
  add('souk_peers', 'gauge', 'Peers of the testnet, by role and state (starting, listening, ready, stopped, crashed).', [...peers].map(([k, n]) => { const [role, state] = k.split('\u0000'); return [{ market, role, state }, n] }))
  add('souk_deals', 'gauge', 'Deals (cdn hires, storage deals, compute jobs), by state.', Object.entries(s.deals.byState).map(([state, n]) => [{ market, state }, n]))
  add('souk_chain_block_number', 'gauge', 'The latest block the dashboard saw.', s.chain.block === null ? [] : [[{}, s.chain.block]])
  add('souk_chain_blocks_total', 'counter', 'Blocks seen since the dashboard started watching.', [[{}, s.chain.blocks]])
  add('souk_chain_transactions_total', 'counter', 'Transactions in the blocks seen.', [[{}, s.chain.transactions]])
  add('souk_chain_gas_used_total', 'counter', 'Gas used by the blocks seen.', [[{}, s.chain.gasUsed]])
  add('souk_chain_events_total', 'counter', 'Contract events seen on chain, by contract and event.', Object.entries(s.chain.eventsByName).map(([k, n]) => { const [contract, event] = k.split('.'); return [{ contract, event: event ?? '' }, n] }))
  add('souk_bytes_served_total', 'counter', 'Bytes the caches served (cdn).', [[{}, s.traffic.bytesServed]])
  add('souk_bytes_verified_total', 'counter', 'Bytes the clients verified, reported when they stop (cdn).', [[{}, s.traffic.bytesVerified]])
  const per = (f: (r: DashboardSnapshot['payments']['servers'][number]) => string | number | null): Sample[] => s.payments.servers.flatMap((r) => { const v = f(r); return v === null ? [] : [[{ server: r.name }, v] as Sample] })
  add('souk_payment_tickets_total', 'counter', 'Payments (tickets, vouchers) each server accepted.', per((r) => r.tickets))
  add('souk_payment_tickets_won_total', 'counter', 'Winning lottery tickets each server holds.', per((r) => r.won))
  add('souk_payment_tickets_redeemed_total', 'counter', 'Winning tickets redeemed on chain.', [[{}, s.payments.redeemed]])
  add('souk_payment_redeem_transactions_total', 'counter', 'Transactions that redeemed tickets.', [[{}, s.payments.redeemTransactions]])
  add('souk_payout_expected', 'gauge', "A server's expected payout: the sum of its payments' expected values (token units).", per((r) => r.expected))
  add('souk_payout_awarded', 'gauge', "What the lottery awarded a server so far: winners × face value (token units).", per((r) => r.awarded))
  add('souk_payout_on_chain', 'gauge', 'Token transfers to a server from the payment contract (token units).', per((r) => r.onChain))
  add('souk_payout_band_low', 'gauge', 'Expected payout − 2σ (token units).', per((r) => r.low))
  add('souk_payout_band_high', 'gauge', 'Expected payout + 2σ (token units).', per((r) => r.high))
  const pr = (f: (r: DashboardSnapshot['proofs']['providers'][number]) => number): Sample[] => s.proofs.providers.map((r) => [{ provider: r.name }, f(r)])
  add('souk_proofs_due', 'gauge', 'Proofs owed by each provider (cdn: chunks served; storage: periods of its deals; compute: batches claimed).', pr((r) => r.due))
  add('souk_proofs_proven_total', 'counter', 'Proofs each provider gave that passed (cdn: claims paid; storage: periods proven; compute: batches settled).', pr((r) => r.proven))
  add('souk_proofs_faulted_total', 'counter', 'Proofs each provider failed (a fault, its collateral or stake slashed).', pr((r) => r.faulted))
  add('souk_slashes_total', 'counter', 'Slashes (storage periods faulted, compute batches faulted).', [[{}, s.proofs.slashes]])
  add('souk_slashed_total', 'counter', 'Collateral and stake slashed (token units).', [[{}, s.proofs.slashed]])
  add('souk_cheaters_caught', 'gauge', 'Cheating caught, by peer and how.', s.cheaters.map((c) => [{ peer: c.name, how: c.how }, c.count]))
  add('souk_run_finished', 'gauge', '1 once the run printed its summary (with ok="true" or "false").', s.status === 'finished' ? [[{ ok: String(s.ok) }, 1]] : [[{ ok: 'unknown' }, 0]])
  add('souk_dashboard_subscribers', 'gauge', 'Browsers connected to /api/events.', [[{}, extra.subscribers ?? 0]])
  const out: string[] = []
  for (const x of m) {
    out.push(`# HELP ${x.name} ${x.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${x.name} ${x.type}`)
    for (const [labels, value] of x.samples) out.push(line(x.name, labels, value))
  }
  return out.join('\n') + '\n'
}
