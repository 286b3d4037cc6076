/**
 * The security-economics table: for every threat case that names a simulator scenario, does the attack pay?
 *
 * Method (paired Monte Carlo):
 * - The scenario is run `runs` times as written (the attack) and `runs` times as its honest twin: the same file and
 *   the same seeds with every `attacker: true` group playing `honest`. Run i of both uses `runSeed(seed, 0, i)`, so
 *   the two differ only by what the attackers do.
 * - A party's value in a run is what it is owed in expectation for the service, net of what it pays: a server's
 *   value is the expected value of the payments it accepted (`credited`, face value × win probability for lottery
 *   tickets) less the face value of winners it lost; the sponsor's is minus what it owes all servers. Values are in
 *   units of the price per chunk. Expected values, not lottery draws: a lottery's payout has a spread of about
 *   √(credited × face value), which would swamp a small gain in a few runs.
 * - The attacker's profit in run i is its value in the attack minus its value in the twin; the victims' loss is the
 *   other parties' value in the twin minus in the attack. The table gives their means with 95% confidence intervals
 *   (Student's t over the runs), and the share of attack runs in which an attacker was caught (a `caught` or
 *   `banned` event naming one of its peers).
 * - A case is profitable when the lower end of the profit's interval is above zero (at least two runs): the
 *   scenario shows a positive expected profit. `souk threat check --run` makes a mitigated case whose scenario is profitable open.
 *
 * @example
 * ```ts
 * import { scenarioEconomics } from './src/sim/economics.js'
 * const row = await scenarioEconomics('scenarios/cdn-attack.yaml', { runs: 2 })
 * console.log(row.profit.mean, row.profit.ci95, row.caughtRate, row.profitable)
 * ```
 */
import { resolve } from 'node:path'
import { loadScenario, type Scenario } from './scenario.js'
import { runScenarioPoint } from './run.js'
import { runSeed, type RunResult } from './types.js'
import { describe, type Description } from './stats.js'

export interface EconomicsRow {
  scenario: string
  file: string
  runs: number
  /** The attacker's profit per run (attack minus honest twin), in price units. */
  profit: Description
  /** The other parties' loss per run (twin minus attack), in price units. */
  victimsLoss: Description
  /** Share of attack runs in which an attacker was caught. */
  caughtRate: number
  /** Runs that crashed (attack or twin), with their seeds. */
  failures: { seed: number; twin: boolean; message: string }[]
  /** The lower end of the profit's 95% interval is above zero. */
  profitable: boolean
}

/** The scenario with every attacker group honest (and without partners): the attack's counterfactual. */
export function honestTwin(s: Scenario): Scenario {
  return { ...s, name: `${s.name}-twin`, peers: s.peers.map((g) => (g.attacker ? { ...g, behaviour: 'honest', partner: undefined } : g)) }
}

export type PairRunner = (s: Scenario, seed: number, run: number) => Promise<RunResult>
const defaultRunner: PairRunner = (s, seed, run) => runScenarioPoint(s, { point: 0, params: {}, run, seed })

/** Runs `file`'s attack and its twin `runs` times each and returns its row. */
export async function scenarioEconomics(file: string, opts: { runs?: number; cwd?: string; runner?: PairRunner; onProgress?: (done: number, total: number) => void } = {}): Promise<EconomicsRow> {
  const path = resolve(opts.cwd ?? process.cwd(), file)
  const attack = loadScenario(path)
  const twin = honestTwin(attack)
  const runs = opts.runs ?? attack.runs
  const run = opts.runner ?? defaultRunner
  const profit: number[] = [], loss: number[] = []
  let caught = 0
  const failures: EconomicsRow['failures'] = []
  for (let i = 0; i < runs; i++) {
    const seed = runSeed(attack.seed, 0, i)
    const a = await run(attack, seed, i)
    opts.onProgress?.(2 * i + 1, 2 * runs)
    const t = await run(twin, seed, i)
    opts.onProgress?.(2 * i + 2, 2 * runs)
    if (a.error || t.error) {
      if (a.error) failures.push({ seed, twin: false, message: a.error.message })
      if (t.error) failures.push({ seed, twin: true, message: t.error.message })
      continue
    }
    profit.push(a.metrics.attackerValue - t.metrics.attackerValue)
    loss.push(t.metrics.victimValue - a.metrics.victimValue)
    if (a.metrics.caught > 0) caught++
  }
  const p = describe(profit)
  return {
    scenario: attack.name, file, runs: profit.length, profit: p, victimsLoss: describe(loss),
    caughtRate: profit.length ? caught / profit.length : 0, failures,
    profitable: profit.length >= 2 && p.ci95[0] > 0,
  }
}

/**
 * The table for a threat model: every case that names a scenario (mitigated or accepted), one simulation per
 * scenario. Scenario paths are relative to `cwd` (the repository root).
 */
export async function modelEconomics(modelPath: string, opts: { runs?: number; cwd?: string; runner?: PairRunner; onProgress?: (scenario: string, done: number, total: number) => void } = {}): Promise<CaseEconomics[]> {
  const { loadThreatModel } = await import('../threat/load.js')
  const { analysis } = loadThreatModel(resolve(opts.cwd ?? process.cwd(), modelPath))
  const rows: CaseEconomics[] = []
  const bySc = new Map<string, EconomicsRow>()
  for (const c of analysis.cases) {
    if (!c.scenario || (c.status !== 'mitigated' && c.status !== 'accepted')) continue
    let row = bySc.get(c.scenario)
    if (!row) {
      const file = c.scenario
      row = await scenarioEconomics(file, { runs: opts.runs, cwd: opts.cwd, runner: opts.runner, onProgress: (d, t) => opts.onProgress?.(file, d, t) })
      bySc.set(c.scenario, row)
    }
    rows.push({ case: c.id, status: c.status, row })
  }
  return rows
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3))
const fmtCi = (m: Description) => (m.n === 0 ? 'n/a' : m.n < 2 ? `${fmt(m.mean)}` : `${fmt(m.mean)} [${fmt(m.ci95[0])}, ${fmt(m.ci95[1])}]`)

/** One row of the table per case: the case's id and status beside its scenario's figures. */
export interface CaseEconomics { case: string; status: string; row: EconomicsRow }

/** The table as Markdown: one line per scenario with the cases it performs, money in price units, 95% intervals in brackets. */
export function economicsMarkdown(rows: CaseEconomics[], title = 'Security economics'): string {
  const lines = [
    `## ${title}`,
    '',
    'Attacker profit and victims\' loss per run in units of the market\'s price (per chunk for the CDN, per unit of work for compute, per MiB-replica-period for storage; expected values of accepted lottery payments, payouts otherwise, less serving costs), mean [95% CI] over paired runs of the attack and its honest twin (same seeds, attackers honest). A mitigated case whose attack pays (the interval above zero) is open.',
    '',
    '| scenario | cases | runs | attacker profit | caught | victims\' loss | verdict |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ]
  const byFile = new Map<string, CaseEconomics[]>()
  for (const r of rows) byFile.set(r.row.file, [...(byFile.get(r.row.file) ?? []), r])
  for (const [file, rs] of byFile) {
    const row = rs[0].row
    const mitigated = rs.some((r) => r.status === 'mitigated')
    const verdict = row.runs === 0 ? 'no run finished' : row.profitable ? (mitigated ? '**OPEN: the attack pays**' : 'pays (accepted)') : 'does not pay'
    const cases = rs.map((r) => `${r.case} (${r.status})`)
    const shown = cases.length > 3 ? `${cases.slice(0, 2).join('<br>')}<br>+${cases.length - 2} more` : cases.join('<br>')
    lines.push(`| ${file} | ${shown} | ${row.runs}${row.failures.length ? ` (${row.failures.length} failed)` : ''} | ${fmtCi(row.profit)} | ${(row.caughtRate * 100).toFixed(0)}% | ${fmtCi(row.victimsLoss)} | ${verdict} |`)
  }
  return lines.join('\n') + '\n'
}
