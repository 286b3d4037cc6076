/**
 * Types of the threat-modeling layer: the parsed model (from the zod schema) and the analysis results.
 */
import type { z } from 'zod'
import type { ThreatModelSchema, RoleSchema, AssetSchema, CategorySchema, MitigationSchema, PruneRuleSchema, CaseSchema, MatchSchema, AssumptionSchema, AmountSchema, CASE_STATUSES, MITIGATION_CLASSES, RISK_LEVELS } from './schema.js'

export type ThreatModel = z.output<typeof ThreatModelSchema>
export type Role = z.output<typeof RoleSchema>
export type Asset = z.output<typeof AssetSchema>
export type Category = z.output<typeof CategorySchema>
export type Mitigation = z.output<typeof MitigationSchema>
export type PruneRule = z.output<typeof PruneRuleSchema>
export type CaseDecl = z.output<typeof CaseSchema>
export type Match = z.output<typeof MatchSchema>
export type Assumption = z.output<typeof AssumptionSchema>
export type Amount = z.output<typeof AmountSchema>
export type RiskLevel = (typeof RISK_LEVELS)[number]
export type CaseStatus = (typeof CASE_STATUSES)[number]
export type MitigationClass = (typeof MITIGATION_CLASSES)[number]

/** One cell of a collusion matrix, before and after pruning and merging. */
export interface Cell {
  /** Stable id: `category:coalition(sorted, joined by +)->target`. */
  id: string
  asset: string
  category: string
  coalition: string[]
  target: string
  /** What the attack achieves, as stated by the case governing the cell or by its category; undefined when neither states one (such a cell never merges). */
  effect?: string
  fate: 'pruned' | 'merged' | 'case'
  /** Set when pruned: the rule id (built-in ones start with `builtin:`) and its written reason. */
  pruned?: { rule: string; reason: string }
  /** Set when merged: the id of the cell it merged into. */
  mergedInto?: string
  /** Set when the cell is a remaining threat case. */
  status?: CaseStatus
  mitigations?: string[]
  reason?: string
  risk?: RiskLevel
  /** The attacker's cost and gain (required for accepted cases). */
  cost?: Amount
  gain?: Amount
  /** Assumption ids the status relies on. */
  assumes?: string[]
  note?: string
  /** The simulator scenario that performs the attack (`souk threat check --run` runs it). */
  scenario?: string
}

export interface Counts { enumerated: number; pruned: number; merged: number; cases: number; open: number; notApplicable: number; mitigated: number; accepted: number }

export interface CategoryMatrix {
  asset: string
  category: string
  name: string
  kind: string
  coalitions: string[][]
  targets: string[]
  cells: Cell[]
  counts: Counts
}

export interface ThreatAnalysis {
  model: ThreatModel
  matrices: CategoryMatrix[]
  /** Every cell whose fate is `case`, in matrix order. */
  cases: Cell[]
  counts: Counts
}
