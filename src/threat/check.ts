/**
 * The CI gate: a model passes when no case is open, no accepted case is riskier than `maxRisk` (when given) and,
 * with demonstrations, every mitigation that names a test passes it. The test runner is injected, so this module
 * stays pure; `nodeTestRunner` in `./run.ts` is the real one.
 *
 * @example
 * ```ts
 * import { checkAnalysis } from './check.js'
 * // const r = await checkAnalysis(analysis, { maxRisk: 'medium', run: async (demo) => ({ ok: true, output: '' }) })
 * // r.ok, r.open.map((c) => c.id), r.overRisk.map((c) => c.id), r.failed
 * ```
 */
import type { ThreatAnalysis, Cell, Mitigation, RiskLevel } from './types.js'
import { RISK_LEVELS } from './schema.js'

export interface Demonstration { test: string; name?: string }
export interface DemonstrationResult { ok: boolean; output: string }
export type DemonstrationRunner = (demo: Demonstration, opts?: { signal?: AbortSignal }) => Promise<DemonstrationResult>
/** What a case's scenario showed when simulated (src/sim/economics.ts computes it). */
export interface SimulatedAttack { profitable: boolean; runs: number; summary: string }
export type ScenarioRunner = (scenario: string, opts?: { signal?: AbortSignal }) => Promise<SimulatedAttack>

export interface CheckResult {
  ok: boolean
  open: Cell[]
  /** Accepted cases whose risk is above `maxRisk` (empty without it). */
  overRisk: Cell[]
  /** Mitigated cases whose mitigation's demonstration failed. */
  failed: { case: string; mitigation: string; test: string; output: string }[]
  /** Every demonstration that ran, once each. */
  ran: { mitigation: string; test: string; ok: boolean }[]
  /** Every case scenario that was simulated (with `simulate`), once per scenario, and the cases it governs. */
  simulated: { scenario: string; cases: string[]; result: SimulatedAttack }[]
  /** Mitigated cases whose scenario shows the attack paying: open, whatever the model says. */
  profitable: Cell[]
}

/** True when `risk` is above `max` in the order low < medium < high. */
export function riskAbove(risk: RiskLevel | undefined, max: RiskLevel): boolean {
  return RISK_LEVELS.indexOf(risk ?? 'high') > RISK_LEVELS.indexOf(max)
}

export async function checkAnalysis(a: ThreatAnalysis, opts: { run?: DemonstrationRunner; simulate?: ScenarioRunner; signal?: AbortSignal; maxRisk?: RiskLevel } = {}): Promise<CheckResult> {
  const open = a.cases.filter((c) => c.status === 'open')
  const maxRisk = opts.maxRisk
  const overRisk = maxRisk ? a.cases.filter((c) => c.status === 'accepted' && riskAbove(c.risk, maxRisk)) : []
  const failed: CheckResult['failed'] = []
  const ran: CheckResult['ran'] = []
  if (opts.run) {
    const byId = new Map<string, Mitigation>(a.model.mitigations.map((m) => [m.id, m]))
    const results = new Map<string, DemonstrationResult>()
    const used = new Set(a.cases.filter((c) => c.status === 'mitigated').flatMap((c) => c.mitigations ?? []))
    // Two mitigations naming the same test (file and name) share one run.
    const byDemo = new Map<string, DemonstrationResult>()
    for (const id of used) {
      const m = byId.get(id)
      if (!m?.demonstration) continue
      const key = `${m.demonstration.test}\u0000${m.demonstration.name ?? ''}`
      const r = byDemo.get(key) ?? (await opts.run(m.demonstration, { signal: opts.signal }))
      byDemo.set(key, r)
      results.set(id, r)
      ran.push({ mitigation: id, test: m.demonstration.test, ok: r.ok })
    }
    for (const c of a.cases) {
      if (c.status !== 'mitigated') continue
      for (const id of c.mitigations ?? []) {
        const r = results.get(id)
        if (r && !r.ok) failed.push({ case: c.id, mitigation: id, test: byId.get(id)!.demonstration!.test, output: r.output })
      }
    }
  }
  const simulated: CheckResult['simulated'] = []
  const profitable: Cell[] = []
  if (opts.simulate) {
    const byScenario = new Map<string, Cell[]>()
    for (const c of a.cases) if (c.scenario && (c.status === 'mitigated' || c.status === 'accepted')) byScenario.set(c.scenario, [...(byScenario.get(c.scenario) ?? []), c])
    for (const [scenario, cells] of byScenario) {
      const result = await opts.simulate(scenario, { signal: opts.signal })
      simulated.push({ scenario, cases: cells.map((c) => c.id), result })
      if (result.profitable) profitable.push(...cells.filter((c) => c.status === 'mitigated'))
    }
  }
  return { ok: open.length === 0 && overRisk.length === 0 && failed.length === 0 && profitable.length === 0, open, overRisk, failed, ran, simulated, profitable }
}
