/**
 * The threat-model file format (`souk: threat-model/1`), as a zod schema. The published JSON Schema in
 * `schemas/threat-model.schema.json` is generated from it (`souk threat schema`), and a test keeps the two equal.
 *
 * @example
 * ```ts
 * import { ThreatModelSchema } from './schema.js'
 * const r = ThreatModelSchema.safeParse({ souk: 'threat-model/1', name: 'x', roles: [{ id: 'a' }],
 *   assets: [{ id: 'coin', kind: 'currency', categories: [{ id: 'theft', name: 'Theft', kind: 'theft' }] }] })
 * r.success // true
 * ```
 */
import { z } from 'zod'

export const THREAT_MODEL_VERSION = 'threat-model/1'
/** Largest coalition the matrix may enumerate: 2^roles grows fast and bigger coalitions are rarely new. */
export const MAX_COALITION_SIZE_LIMIT = 6

const Id = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, 'ids are lower-case letters, digits and dashes, starting with a letter (e.g. "cache", "double-spend")')
  .meta({ description: 'A stable identifier: lower-case letters, digits and dashes.' })

export const MITIGATION_CLASSES = ['cryptographic', 'algorithmic', 'financial', 'economic', 'systems'] as const
export const CASE_STATUSES = ['open', 'not-applicable', 'mitigated', 'accepted'] as const
/** Risk levels of accepted cases, lowest first (`check --max-risk` compares by this order). */
export const RISK_LEVELS = ['low', 'medium', 'high'] as const
export const CATEGORY_KINDS = [
  'corruption', 'denial-of-service', 'disclosure', 'repudiation', 'slacking', 'accounting', 'non-payment',
  'double-spending', 'front-running', 'sybil', 'theft', 'censorship', 'other',
] as const
export const ASSET_KINDS = ['service', 'currency', 'ledger', 'data', 'key', 'reputation', 'deposit', 'other'] as const

export const RoleSchema = z.strictObject({
  id: Id,
  name: z.string().optional(),
  description: z.string().optional(),
  many: z.boolean().default(false).meta({ description: 'Many instances of this role exist, so peers of the role can attack each other.' }),
  attacker: z.boolean().default(true).meta({ description: 'Whether the role can be part of an attacking coalition. Set false only with `trust`.' }),
  trust: z.string().optional().meta({ description: 'Why the role is trusted (required when attacker is false).' }),
  external: z.boolean().default(false).meta({ description: 'An outsider with no part in the protocol: it holds no key, deposit or asset of the market, sees only what is public (chain state, pending transactions and their calldata, traffic it can reach) and can send transactions and messages. Never an asset owner, never trusted, and not a target unless a category names it.' }),
})

export const AssumptionSchema = z.strictObject({
  id: Id,
  statement: z.string().min(1).meta({ description: 'What the analysis takes for granted (e.g. "SHA-256 is preimage-resistant", "the chain finalises within 64 blocks").' }),
  basis: z.string().optional().meta({ description: 'Why it is believed to hold (a reference, a measurement, a standard).' }),
  ifBroken: z.string().optional().meta({ description: 'What an attacker gains when it does not hold.' }),
})

/** A number with its unit and where it comes from: how an accepted case states what an attack costs and gains. */
export const AmountSchema = z.strictObject({
  amount: z.number().finite().nonnegative().meta({ description: 'The figure, a non-negative number (per attack, per request, ... as the unit says).' }),
  unit: z.string().min(1).meta({ description: 'What the amount counts, e.g. "chunk prices per request", "gas", "token units".' }),
  basis: z.string().min(1).meta({ description: 'How the figure follows from the parameters (formula and the values used).' }),
})

export const CategorySchema = z.strictObject({
  id: Id,
  name: z.string().min(1),
  kind: z.enum(CATEGORY_KINDS),
  description: z.string().optional(),
  effect: z.string().optional().meta({ description: 'What a successful attack achieves, for every cell of the category without an effect of its own. Only cells that state the same effect merge into the smallest coalition; without one, no cell of the category merges.' }),
  targets: z.array(Id).min(1).optional().meta({ description: 'Matrix columns: role or asset ids. Default: every role that is not external.' }),
  requiresAnyOf: z.array(Id).min(1).optional().meta({ description: 'Only coalitions containing one of these roles can carry the attack out; others are pruned.' }),
  ownerMayAttack: z.boolean().default(false).meta({ description: 'Keep cells where the asset owner attacks its own asset (e.g. an owner reneging on a deposit).' }),
})

export const AssetSchema = z.strictObject({
  id: Id,
  name: z.string().optional(),
  kind: z.enum(ASSET_KINDS),
  owner: Id.optional().meta({ description: 'The role that owns the asset.' }),
  description: z.string().optional(),
  categories: z.array(CategorySchema).min(1),
})

export const DemonstrationSchema = z.strictObject({
  test: z.string().min(1).meta({ description: 'A node:test file (relative to the repository root) that demonstrates the mitigation.' }),
  name: z.string().optional().meta({ description: 'Only run tests whose name contains this text (a literal substring, not a pattern); at least one must run and pass.' }),
})

export const MitigationSchema = z.strictObject({
  id: Id,
  name: z.string().min(1),
  class: z.enum(MITIGATION_CLASSES),
  mechanism: z.string().optional().meta({ description: 'Where Souk implements it (module, contract, scheme).' }),
  description: z.string().optional(),
  dependsOn: z.array(Id).optional().meta({ description: 'Mitigations this one relies on (must not form a cycle).' }),
  demonstration: DemonstrationSchema.optional(),
})

export const MatchSchema = z.strictObject({
  categories: z.array(Id).min(1).optional(),
  coalitionIncludes: z.array(Id).min(1).optional().meta({ description: 'The coalition contains all of these roles.' }),
  coalitionIncludesAny: z.array(Id).min(1).optional().meta({ description: 'The coalition contains at least one of these roles.' }),
  coalitionExcludes: z.array(Id).min(1).optional().meta({ description: 'The coalition contains none of these roles.' }),
  targets: z.array(Id).min(1).optional(),
  minCoalitionSize: z.int().min(1).optional(),
})

export const PruneRuleSchema = z.strictObject({
  id: Id,
  reason: z.string().min(1).meta({ description: 'Why every matching cell is infeasible. Shown in every report.' }),
  when: MatchSchema,
  assumes: z.array(Id).min(1).optional().meta({ description: 'Assumptions (ids from the assumptions section) the pruning relies on.' }),
})

export const CaseSchema = z
  .strictObject({
    category: Id,
    coalition: z.array(Id).min(1).optional().meta({ description: 'Exactly this coalition.' }),
    coalitionIncludes: z.array(Id).min(1).optional().meta({ description: 'Any coalition containing all of these roles.' }),
    target: Id.optional(),
    targets: z.array(Id).min(1).optional(),
    status: z.enum(CASE_STATUSES),
    effect: z.string().optional().meta({ description: 'What this coalition achieves. A cell merges into a smaller coalition only when both state the same effect (here or in the category); a distinct effect, or none, keeps it a case.' }),
    mitigations: z.array(Id).min(1).optional(),
    reason: z.string().optional(),
    risk: z.enum(RISK_LEVELS).optional(),
    cost: AmountSchema.optional().meta({ description: "The attacker's cost, in numbers (required when accepted)." }),
    gain: AmountSchema.optional().meta({ description: "The attacker's gain, in numbers (required when accepted)." }),
    assumes: z.array(Id).min(1).optional().meta({ description: 'Assumptions (ids from the assumptions section) the status relies on.' }),
    note: z.string().optional(),
    scenario: z.string().min(1).optional().meta({ description: 'A simulator scenario (scenarios/*.yaml, relative to the repository root) that performs this attack. `souk threat check --run` runs it beside its honest twin; a mitigated case whose attacker shows a positive expected profit is open.' }),
  })
  .superRefine((c, ctx) => {
    if (c.status === 'mitigated' && !c.mitigations) ctx.addIssue({ code: 'custom', path: ['mitigations'], message: 'a mitigated case must list `mitigations` (ids from the mitigations section)' })
    if (c.status === 'not-applicable' && !c.reason) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a not-applicable case must give a `reason`' })
    if (c.status === 'accepted' && (!c.reason || !c.risk)) ctx.addIssue({ code: 'custom', path: [c.risk ? 'reason' : 'risk'], message: 'an accepted case must give `risk` (low|medium|high) and a `reason`' })
    for (const k of ['cost', 'gain'] as const) {
      if (c.status === 'accepted' && !c[k]) ctx.addIssue({ code: 'custom', path: [k], message: `an accepted case must state the attacker's ${k} in numbers: \`${k}: { amount: <number>, unit: <what it counts>, basis: <how it follows> }\`` })
    }
    if (c.coalition && c.coalitionIncludes) ctx.addIssue({ code: 'custom', path: ['coalitionIncludes'], message: 'use either `coalition` (exact) or `coalitionIncludes` (pattern), not both' })
    if (c.target && c.targets) ctx.addIssue({ code: 'custom', path: ['targets'], message: 'use either `target` or `targets`, not both' })
  })

export const ThreatModelSchema = z.strictObject({
  souk: z.literal(THREAT_MODEL_VERSION).meta({ description: 'Format marker and version.' }),
  name: z.string().min(1),
  description: z.string().optional(),
  settings: z
    .strictObject({ maxCoalitionSize: z.int().min(1).max(MAX_COALITION_SIZE_LIMIT).default(3) })
    .default({ maxCoalitionSize: 3 }),
  assumptions: z.array(AssumptionSchema).default([]).meta({ description: 'What the analysis takes for granted; cases and prune rules cite them with `assumes`.' }),
  roles: z.array(RoleSchema).min(1),
  assets: z.array(AssetSchema).min(1),
  mitigations: z.array(MitigationSchema).default([]),
  prune: z.array(PruneRuleSchema).default([]),
  cases: z.array(CaseSchema).default([]),
})

/** The JSON Schema published in `schemas/threat-model.schema.json`. */
export function threatModelJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(ThreatModelSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return { ...s, $id: 'https://souk.dev/schemas/threat-model.schema.json', title: 'Souk threat model (ABC)' }
}
