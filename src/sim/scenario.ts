/**
 * Simulator scenarios (`souk: scenario/1`, docs/sim.md): the zod schema, the checks a schema cannot state (roles and
 * behaviours of the market, the topology, the latency matrix, sweep paths), YAML loading with file:line:col on every
 * problem, and sweep expansion (cartesian product × zipped lists) with every expanded point validated again.
 * `schemas/scenario.schema.json` is generated from the schema (`souk sim schema`), and a test keeps the two equal.
 *
 * @example
 * ```ts
 * import { parseScenario, expandSweep } from './src/sim/scenario.js'
 * const s = parseScenario(`souk: scenario/1
 * name: tiny
 * market: cdn
 * seed: 1
 * runs: 2
 * durationMs: 60000
 * peers:
 *   - { name: publisher, role: publisher }
 *   - { name: cache, role: cache, count: 2 }
 *   - { name: client, role: client, count: 4 }
 * sweep:
 *   cartesian: { "peers.cache.count": [1, 2] }
 * `, 'tiny.yaml')
 * expandSweep(s).map((p) => p.params) // [{ 'peers.cache.count': 1 }, { 'peers.cache.count': 2 }]
 * ```
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { ValidationError } from '../core/errors.js'
import { parseYamlSource, zodIssues, kindOf, type SourceIssue } from '../core/yaml.js'
import { marketByName, marketEnum, marketNames } from '../services/markets.js'
import { schemeNames } from '../payments/schemes.js'
import type { SchemeName } from '../payments/types.js'
import type { SweepPoint } from './types.js'

export const SCENARIO_VERSION = 'scenario/1'
/** Scenario files above this size are refused before parsing (a scenario is hand-written). */
export const SCENARIO_MAX_BYTES = 1 << 20
const SCHEMA_FILE = 'schemas/scenario.schema.json'

const nonNegative = (what: string) => z.number().min(0, `${what} cannot be negative`)
const positive = (what: string) => z.number().positive(`${what} must be greater than 0`)

/** A distribution of durations (churn sessions and downtimes), by its mean. */
export const DurationDistSchema = z.discriminatedUnion('dist', [
  z.strictObject({ dist: z.literal('exponential'), meanMs: positive('meanMs') }),
  z.strictObject({ dist: z.literal('fixed'), meanMs: positive('meanMs') }),
  z.strictObject({ dist: z.literal('weibull'), meanMs: positive('meanMs'), shape: positive('shape').meta({ description: 'Weibull shape k (1 = exponential; < 1 heavy-tailed)' }) }),
  z.strictObject({ dist: z.literal('lognormal'), meanMs: positive('meanMs'), sigma: positive('sigma').meta({ description: 'standard deviation of the log' }) }),
])

const RegionName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a region name is a letter then letters, digits, - or _')

export const NetworkSchema = z.strictObject({
  regions: z.record(RegionName, z.number().min(0, 'a region share cannot be negative').max(1, 'a region share is at most 1')).meta({ description: 'share of peers in each region; the shares add up to 1' }),
  latencyMs: z.record(RegionName, z.record(RegionName, nonNegative('a latency'))).meta({ description: 'one-way latency in ms between every pair of regions (symmetric: one direction is enough)' }),
  jitterMs: nonNegative('jitterMs').default(0),
  bandwidthBytesPerSec: positive('bandwidthBytesPerSec').optional().meta({ description: 'per link and direction; absent: unlimited' }),
  lossRate: z.number().min(0, 'lossRate cannot be negative').lt(1, 'lossRate must be below 1 (1 would drop every frame)').default(0),
  churn: z.strictObject({
    roles: z.array(z.string()).min(1),
    session: DurationDistSchema,
    downtime: DurationDistSchema,
  }).optional(),
})

const GroupName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a group name is a letter then letters, digits, - or _ (no dots: sweep paths use them)')

export const PeerGroupSchema = z.strictObject({
  name: GroupName.meta({ description: "prefixes its peers' names (cache-0, cache-1, ...)" }),
  role: z.string().min(1),
  count: z.int('count must be a whole number').min(0, 'a count cannot be negative').default(1),
  behaviour: z.string().min(1).default('honest'),
  attacker: z.boolean().default(false).meta({ description: 'part of the coalition whose profit the security-economics table reports' }),
  partner: GroupName.optional().meta({ description: 'a colluding peer: the group of its partner' }),
  config: z.record(z.string(), z.unknown()).optional().meta({ description: "this group's market config (over the scenario's config)" }),
  arrivalsPerSecond: positive('arrivalsPerSecond').optional().meta({ description: 'its peers start their work one after another, a Poisson process at this rate (simulated time); absent: all at once' }),
  idle: z.boolean().default(false).meta({ description: 'its peers join and stay connected but never start their work (a client that never fetches): present, not active' }),
})

const SweepValue = z.union([z.string(), z.number(), z.boolean()])
const SweepLists = z.record(z.string().min(1), z.array(SweepValue).min(1, 'a sweep list needs at least one value'))

export const SweepSchema = z.strictObject({
  cartesian: SweepLists.optional().meta({ description: 'every combination of these lists' }),
  zip: SweepLists.optional().meta({ description: 'lists of equal length taken together, index by index' }),
})

export const ScenarioSchema = z.strictObject({
  souk: z.literal(SCENARIO_VERSION),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a name is letters, digits, ., - or _ (it names the results directory)'),
  description: z.string().optional(),
  market: marketEnum(),
  seed: z.int('seed must be a whole number').min(0, 'seed cannot be negative').max(0xffffffff, 'seed is a 32-bit number (at most 4294967295)'),
  runs: z.int('runs must be a whole number').min(1, 'runs must be at least 1').max(1_000_000).default(1).meta({ description: 'Monte Carlo replications per sweep point' }),
  durationMs: positive('durationMs'),
  scheme: z.enum(schemeNames() as [SchemeName, ...SchemeName[]]).default('lottery'),
  chain: z.strictObject({
    kind: z.enum(['evm', 'model']).default('evm'),
    blockTimeMs: positive('blockTimeMs').default(2000),
  }).default({ kind: 'evm', blockTimeMs: 2000 }),
  content: z.strictObject({
    bytes: z.int('content.bytes must be a whole number').positive('content.bytes must be greater than 0'),
    chunkSize: z.int('content.chunkSize must be a whole number').positive('content.chunkSize must be greater than 0').optional(),
  }).optional(),
  config: z.record(z.string(), z.unknown()).default({}).meta({ description: "the market's own config (its configSchema), for every peer" }),
  network: NetworkSchema.default({ regions: { world: 1 }, latencyMs: { world: { world: 10 } }, jitterMs: 0, lossRate: 0 }),
  economics: z.strictObject({
    servePerChunk: nonNegative('economics.servePerChunk').default(0).meta({ description: "a server's cost of serving one chunk (bandwidth, storage), in units of the price per chunk: subtracted from its value" }),
  }).default({ servePerChunk: 0 }).meta({ description: 'what the security-economics table counts besides payments' }),
  peers: z.array(PeerGroupSchema).min(1, 'a scenario needs at least one peer group'),
  sweep: SweepSchema.optional(),
})

export type Scenario = z.output<typeof ScenarioSchema>
export type ScenarioInput = z.input<typeof ScenarioSchema>
export type PeerGroup = z.output<typeof PeerGroupSchema>
export type DurationDist = z.output<typeof DurationDistSchema>

/** The JSON Schema published in `schemas/scenario.schema.json`. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(ScenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return { ...s, $id: 'https://souk.dev/schemas/scenario.schema.json', title: 'Souk simulator scenario' }
}

/** A scenario that cannot be run: every problem with file, line, column, path and a fix. */
export class ScenarioError extends ValidationError {
  override name = 'ScenarioError'
  readonly file: string
  readonly issues: SourceIssue[]
  constructor(file: string, issues: SourceIssue[]) {
    const lines = [`Invalid scenario ${file} (${issues.length} problem${issues.length === 1 ? '' : 's'}):`]
    for (const i of issues) {
      const at = i.line ? `${file}:${i.line}:${i.col ?? 1}` : file
      lines.push(`  ${at}  ${formatPath(i.path)}: ${i.message}`)
      if (i.hint) lines.push(`      fix: ${i.hint}`)
    }
    super(lines.join('\n'), { code: 'SCENARIO_INVALID' })
    this.file = file
    this.issues = issues
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : String(p)
  return s || '(root)'
}

/** Hints for zod's range messages: what to give instead. */
function withRangeHints(issues: SourceIssue[]): SourceIssue[] {
  return issues.map((i) => {
    if (i.hint) return i
    const m = /(cannot be negative|must be greater than 0|must be at least (\S+)|at most (\S+)|must be below (\S+)|must be a whole number)/.exec(i.message)
    if (m) {
      const hint = m[1] === 'cannot be negative' ? 'give a number >= 0' : m[1] === 'must be greater than 0' ? 'give a number > 0' : m[1] === 'must be a whole number' ? 'give an integer (no fraction)' : m[2] ? `give a number >= ${m[2]}` : m[3] ? `give a number <= ${m[3].replace(/\)$/, '')}` : `give a number < ${m[4]}`
      return { ...i, hint }
    }
    const t = /expected (?:number|int) to be (>=|>|<=|<)\s*(\S+)/.exec(i.message)
    if (t) return { ...i, hint: `give a number ${t[1]} ${t[2]}` }
    if (/^Invalid option: expected one of/.test(i.message)) return { ...i, hint: `use one of ${i.message.replace(/^Invalid option: expected one of /, '')}` }
    return i
  })
}

/** Market-specific topology: roles that need exactly one peer of a role, and roles that need some peer of another. */
const TOPOLOGY: Record<string, { single?: string; needs: Record<string, string[]> }> = {
  cdn: { single: 'publisher', needs: { cache: ['publisher'], client: ['publisher', 'cache'] } },
  storage: { needs: { client: ['provider'] } },
  compute: { needs: { client: ['worker', 'verifier'] } },
}

/** Market config keys the scenario sets elsewhere. */
const RESERVED_CONFIG: Record<string, string> = {
  behaviour: "the peer group's `behaviour:`",
  partner: "the peer group's `partner:`",
  content: '`content.bytes` (the publisher makes the content)',
  contentBytes: '`content.bytes`',
  chunkSize: '`content.chunkSize`',
  storageMarket: "the run's own deployment (it deploys StorageMarket and gives every peer its address)",
  workMarket: "the run's own deployment (it deploys WorkMarket and gives every peer its address)",
  checkers: "a peer group of role verifier (the run names every verifier as the jobs' checkers)",
}

/** Market config keys the run itself supplies (its contracts' addresses): left out of the scenario's config check. */
const RUN_CONFIG = new Set(['storageMarket', 'workMarket'])

const shapeOf = (schema: unknown): Record<string, unknown> | undefined => {
  let s = schema as { shape?: Record<string, unknown>; unwrap?: () => unknown; def?: { innerType?: unknown } } | undefined
  for (let i = 0; i < 8 && s; i++) {
    if (s.shape && typeof s.shape === 'object') return s.shape
    const inner = s.def?.innerType ?? (typeof s.unwrap === 'function' ? s.unwrap() : undefined)
    s = inner as typeof s
  }
  return undefined
}

function checkConfig(s: Scenario, issues: SourceIssue[]): void {
  const market = marketByName(s.market)
  const keys = shapeOf(market.configSchema)
  const checkKeys = (cfg: Record<string, unknown>, at: (string | number)[]) => {
    for (const k of Object.keys(cfg)) {
      if (Object.hasOwn(RESERVED_CONFIG, k)) issues.push({ path: [...at, k], message: `"${k}" is not set in config`, hint: `use ${RESERVED_CONFIG[k]}` })
      else if (keys && !Object.hasOwn(keys, k)) issues.push({ path: [...at, k], message: `unknown key "${k}" in the ${s.market} market's config`, hint: `use one of: ${Object.keys(keys).filter((x) => !Object.hasOwn(RESERVED_CONFIG, x)).join(', ')}` })
    }
  }
  checkKeys(s.config, ['config'])
  s.peers.forEach((g, i) => g.config && checkKeys(g.config, ['peers', i, 'config']))
  if (issues.length) return
  s.peers.forEach((g, i) => {
    const merged = { ...s.config, ...(g.config ?? {}) }
    const r = market.configSchema.safeParse(merged)
    if (r.success) return
    for (const zi of r.error.issues) {
      const k = zi.path[0]
      if (typeof k === 'string' && RUN_CONFIG.has(k) && !Object.hasOwn(merged, k)) continue
      const inGroup = g.config && typeof k === 'string' && Object.hasOwn(g.config, k)
      const path = [...(inGroup ? ['peers', i, 'config'] : ['config']), ...zi.path.filter((p): p is string | number => typeof p !== 'symbol')]
      issues.push({ path, message: `${zi.message} (the ${s.market} market's config${inGroup ? ` of group "${g.name}"` : ''})`, hint: `see the ${s.market} market's config (src/services/${s.market}/market.ts)` })
    }
  })
}

/** The checks a schema cannot state: the market's roles and behaviours, topology, regions, latencies, sweep paths. */
export function checkScenario(s: Scenario): SourceIssue[] {
  const issues: SourceIssue[] = []
  const market = marketByName(s.market)
  const roles = market.roles as readonly string[]
  const groups = new Map<string, number>()
  s.peers.forEach((g, i) => {
    if (groups.has(g.name)) issues.push({ path: ['peers', i, 'name'], message: `duplicate group name "${g.name}" (also peers[${groups.get(g.name)}])`, hint: 'give every peer group its own name' })
    else groups.set(g.name, i)
    if (!roles.includes(g.role)) {
      const other = marketNames().filter((m) => (marketByName(m).roles as readonly string[]).includes(g.role))
      issues.push({ path: ['peers', i, 'role'], message: `unknown role "${g.role}": the ${s.market} market has roles ${roles.join(', ')}${other.length ? ` ("${g.role}" is a role of the ${other.join(', ')} market)` : ''}`, hint: `use one of: ${roles.join(', ')}` })
      return
    }
    const behaviours = (market.adversaries as Record<string, readonly string[]>)[g.role] ?? ['honest']
    if (!behaviours.includes(g.behaviour)) issues.push({ path: ['peers', i, 'behaviour'], message: `unknown behaviour "${g.behaviour}" for a ${s.market} ${g.role}`, hint: `use one of: ${behaviours.join(', ')}` })
  })
  s.peers.forEach((g, i) => {
    if (g.partner === undefined) return
    if (g.partner === g.name) issues.push({ path: ['peers', i, 'partner'], message: 'a group cannot be its own partner', hint: 'name the group of the peer it colludes with' })
    else if (!groups.has(g.partner)) issues.push({ path: ['peers', i, 'partner'], message: `partner "${g.partner}" is not a peer group`, hint: `use one of: ${[...groups.keys()].filter((n) => n !== g.name).join(', ')}` })
  })
  // Topology: what the market's roles need to find each other.
  const topo = TOPOLOGY[s.market] ?? { needs: {} }
  const count = (role: string) => s.peers.filter((g) => g.role === role).reduce((a, g) => a + g.count, 0)
  if (topo.single) {
    const singles = s.peers.map((g, i) => [g, i] as const).filter(([g]) => g.role === topo.single)
    const dependants = s.peers.map((g, i) => [g, i] as const).filter(([g]) => Object.hasOwn(topo.needs, g.role) && topo.needs[g.role]!.includes(topo.single!) && g.count > 0)
    if (singles.length === 0 && dependants.length > 0) {
      issues.push({ path: ['peers', dependants[0]![1], 'role'], message: `impossible topology: ${dependants.map(([g]) => `"${g.name}" (${g.role})`).join(', ')} need a ${topo.single}, and no peer group has role ${topo.single}`, hint: `add a group \`- { name: ${topo.single}, role: ${topo.single} }\` to peers` })
    } else if (singles.length > 1) {
      issues.push({ path: ['peers', singles[1]![1]], message: `impossible topology: ${singles.length} ${topo.single} groups (${singles.map(([g]) => g.name).join(', ')}); the ${s.market} market has exactly one ${topo.single}`, hint: `keep one group of role ${topo.single}` })
    } else if (singles.length === 1 && singles[0]![0].count !== 1) {
      issues.push({ path: ['peers', singles[0]![1], 'count'], message: `impossible topology: the ${topo.single} group has count ${singles[0]![0].count}; the ${s.market} market has exactly one ${topo.single}`, hint: 'set `count: 1` (or leave it out)' })
    }
  }
  s.peers.forEach((g, i) => {
    if (g.count === 0 || !Object.hasOwn(topo.needs, g.role)) return
    for (const need of topo.needs[g.role]!) {
      if (need === topo.single) continue
      if (count(need) === 0) issues.push({ path: ['peers', i, 'role'], message: `impossible topology: ${g.role}s ("${g.name}") need at least one ${need}, and there is none`, hint: `add a peer group of role ${need} with count >= 1` })
    }
  })
  // Regions and latencies.
  const regions = Object.keys(s.network.regions)
  if (regions.length === 0) issues.push({ path: ['network', 'regions'], message: 'no regions', hint: 'give at least one region, e.g. `regions: { world: 1 }`' })
  const sum = Object.values(s.network.regions).reduce((a, b) => a + b, 0)
  if (regions.length > 0 && Math.abs(sum - 1) > 1e-9) issues.push({ path: ['network', 'regions'], message: `region shares add up to ${+sum.toFixed(6)}, not 1`, hint: `make the shares (${regions.map((r) => `${r}: ${s.network.regions[r]}`).join(', ')}) add up to 1` })
  const lat = s.network.latencyMs
  for (const [a, row] of Object.entries(lat)) {
    if (!regions.includes(a)) { issues.push({ path: ['network', 'latencyMs', a], message: `unknown region "${a}" in latencyMs`, hint: `use a region of network.regions (${regions.join(', ')}) or add "${a}" there` }); continue }
    for (const b of Object.keys(row)) if (!regions.includes(b)) issues.push({ path: ['network', 'latencyMs', a, b], message: `unknown region "${b}" in latencyMs.${a}`, hint: `use a region of network.regions (${regions.join(', ')}) or add "${b}" there` })
  }
  for (let i = 0; i < regions.length; i++) {
    for (let j = i; j < regions.length; j++) {
      const a = regions[i]!, b = regions[j]!
      const ab = lat[a]?.[b], ba = lat[b]?.[a]
      if (ab === undefined && ba === undefined) {
        const path = lat[a] ? ['network', 'latencyMs', a] : ['network', 'latencyMs']
        issues.push({ path, message: `impossible topology: no latency between regions "${a}" and "${b}"`, hint: `add \`${b}: <ms>\` under latencyMs.${a} (one-way and symmetric: one direction is enough)` })
      } else if (ab !== undefined && ba !== undefined && ab !== ba) {
        issues.push({ path: ['network', 'latencyMs', b, a], message: `latency ${a}→${b} is ${ab} ms but ${b}→${a} is ${ba} ms; latencies are symmetric`, hint: `give the pair once (under latencyMs.${a}), or the same value both ways` })
      }
    }
  }
  if (s.network.churn) s.network.churn.roles.forEach((r, i) => {
    if (!roles.includes(r)) issues.push({ path: ['network', 'churn', 'roles', i], message: `unknown role "${r}" for the ${s.market} market`, hint: `use roles of ${roles.join(', ')}` })
  })
  if (s.content?.chunkSize !== undefined && s.content.chunkSize > s.content.bytes) issues.push({ path: ['content', 'chunkSize'], message: `chunkSize ${s.content.chunkSize} is larger than the content (${s.content.bytes} bytes)`, hint: 'give a chunk size at most content.bytes' })
  if (s.sweep) checkSweep(s, groups, issues)
  if (issues.length === 0) checkConfig(s, issues)
  return issues
}

/** Top-level fields a sweep may not set: they name, seed or shape the sweep itself. */
const UNSWEEPABLE = new Set(['souk', 'name', 'description', 'market', 'seed', 'runs', 'sweep'])

/** Whether `path` addresses a field of the scenario a sweep can set; a problem otherwise. */
function sweepPathProblem(path: string, groups: Map<string, number>): { message: string; hint: string } | undefined {
  const parts = path.split('.')
  const fields = `network.jitterMs, content.bytes, peers.<group>.count, config.<key>, peers.<group>.config.<key>`
  const bad = (message: string) => ({ message, hint: `address a field, e.g. ${fields}` })
  if (parts.some((p) => p === '')) return bad(`sweep path "${path}" has an empty part`)
  if (UNSWEEPABLE.has(parts[0]!)) return { message: `a sweep cannot set "${parts[0]}"`, hint: parts[0] === 'runs' || parts[0] === 'seed' ? 'runs and seed apply to every point; Monte Carlo replications get their own seeds' : `address a field, e.g. ${fields}` }
  if (parts[0] === 'peers') {
    if (parts.length < 3) return bad(`sweep path "${path}" names no field of a peer group`)
    if (!groups.has(parts[1]!)) return { message: `sweep path "${path}": no peer group "${parts[1]}"`, hint: `use one of: ${[...groups.keys()].map((g) => `peers.${g}.count`).join(', ')}` }
    const rest = parts.slice(2)
    if (rest[0] === 'config') return rest.length === 2 ? undefined : bad(`sweep path "${path}": config takes one key (peers.${parts[1]}.config.<key>)`)
    const fields = Object.keys(PeerGroupSchema.shape).filter((k) => k !== 'name' && k !== 'role' && k !== 'config')
    if (rest.length !== 1 || !fields.includes(rest[0]!)) return { message: `sweep path "${path}": a peer group has no sweepable field "${rest.join('.')}"`, hint: `use peers.${parts[1]}.${fields.join(', .')} or .config.<key>` }
    return undefined
  }
  if (parts[0] === 'config') return parts.length === 2 ? undefined : bad(`sweep path "${path}": config takes one key (config.<key>)`)
  // Elsewhere: walk the schema (records take any key).
  let schema: unknown = ScenarioSchema
  for (let i = 0; i < parts.length; i++) {
    const shape = shapeOf(schema)
    if (shape) {
      if (!Object.hasOwn(shape, parts[i]!)) return { message: `sweep path "${path}": no field "${parts[i]}"${i ? ` in ${parts.slice(0, i).join('.')}` : ''}`, hint: `use one of: ${Object.keys(shape).filter((k) => i > 0 || !UNSWEEPABLE.has(k)).map((k) => [...parts.slice(0, i), k].join('.')).join(', ')}` }
      schema = shape[parts[i]!]
      continue
    }
    const def = (schema as { def?: { type?: string; valueType?: unknown; innerType?: unknown } }).def
    let d = def
    while (d && (d.type === 'default' || d.type === 'optional')) d = (d.innerType as { def?: typeof d }).def
    if (d?.type === 'record') { schema = d.valueType; continue }
    return bad(`sweep path "${path}": "${parts.slice(0, i).join('.')}" has no fields`)
  }
  if (shapeOf(schema)) return bad(`sweep path "${path}" names a group of fields, not one value`)
  return undefined
}

function checkSweep(s: Scenario, groups: Map<string, number>, issues: SourceIssue[]): void {
  const sw = s.sweep!
  const cart = sw.cartesian ?? {}, zip = sw.zip ?? {}
  if (Object.keys(cart).length === 0 && Object.keys(zip).length === 0) issues.push({ path: ['sweep'], message: 'a sweep with no lists', hint: 'give `cartesian:` or `zip:` lists of values, or remove `sweep:`' })
  for (const [kind, lists] of [['cartesian', cart], ['zip', zip]] as const) {
    for (const path of Object.keys(lists)) {
      const p = sweepPathProblem(path, groups)
      if (p) issues.push({ path: ['sweep', kind, path], ...p })
      if (kind === 'zip' && Object.hasOwn(cart, path)) issues.push({ path: ['sweep', 'zip', path], message: `"${path}" is swept both in cartesian and in zip`, hint: 'sweep a field in one of them' })
    }
  }
  const zipKeys = Object.keys(zip)
  if (zipKeys.length > 1) {
    const n = zip[zipKeys[0]!]!.length
    for (const k of zipKeys.slice(1)) {
      if (zip[k]!.length !== n) issues.push({ path: ['sweep', 'zip', k], message: `zip lists must have the same length: "${zipKeys[0]}" has ${n} values, "${k}" has ${zip[k]!.length}`, hint: `give "${k}" ${n} values (zip takes the lists together, index by index; use cartesian for every combination)` })
    }
  }
}

/** One point of a sweep: its index, the values it sets and the scenario with them set (no `sweep:`). */
export interface SweepPointScenario {
  point: number
  params: SweepPoint
  scenario: Scenario
}

function setPath(s: Scenario, path: string, value: string | number | boolean): void {
  const parts = path.split('.')
  let target: Record<string, unknown> = s as unknown as Record<string, unknown>
  let i = 0
  if (parts[0] === 'peers') {
    const g = s.peers.find((x) => x.name === parts[1])!
    target = g as unknown as Record<string, unknown>
    i = 2
  }
  for (; i < parts.length - 1; i++) {
    const k = parts[i]!
    if (target[k] === undefined || target[k] === null || typeof target[k] !== 'object') target[k] = {}
    target = target[k] as Record<string, unknown>
  }
  target[parts[parts.length - 1]!] = value
}

/** The sweep's points in order: cartesian lists in the order written (the first varies slowest), the zipped lists innermost. */
function sweepParams(s: Scenario): SweepPoint[] {
  const cart = Object.entries(s.sweep?.cartesian ?? {})
  const zip = Object.entries(s.sweep?.zip ?? {})
  const dims: SweepPoint[][] = cart.map(([k, vs]) => vs.map((v) => ({ [k]: v })))
  if (zip.length) dims.push(zip[0]![1].map((_, i) => Object.fromEntries(zip.map(([k, vs]) => [k, vs[i]!]))))
  let points: SweepPoint[] = [{}]
  for (const d of dims) points = points.flatMap((p) => d.map((x) => ({ ...p, ...x })))
  return points
}

function expand(s: Scenario, file: string, locate?: (issues: SourceIssue[]) => SourceIssue[]): SweepPointScenario[] {
  if (!s.sweep) return [{ point: 0, params: {}, scenario: s }]
  const out: SweepPointScenario[] = []
  const all = sweepParams(s)
  const issues: SourceIssue[] = []
  all.forEach((params, point) => {
    const x = structuredClone(s)
    delete x.sweep
    for (const [k, v] of Object.entries(params)) setPath(x, k, v)
    const at = (p: (string | number)[]) => {
      const key = Object.keys(params).find((k) => Object.hasOwn(s.sweep?.cartesian ?? {}, k) && pathMatches(x, k, p)) ?? Object.keys(params).find((k) => pathMatches(x, k, p))
      return key ? ['sweep', Object.hasOwn(s.sweep?.cartesian ?? {}, key) ? 'cartesian' : 'zip', key] : ['sweep']
    }
    const label = `sweep point ${point} (${Object.entries(params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')})`
    const r = ScenarioSchema.safeParse(x)
    const found = r.success ? checkScenario(r.data) : withRangeHints(zodIssues(r.error, x, SCHEMA_FILE))
    if (found.length) {
      for (const i of found) issues.push({ ...i, path: at(i.path), message: `${label}: ${formatPath(i.path)}: ${i.message}` })
      return
    }
    out.push({ point, params, scenario: r.data! })
  })
  if (issues.length) throw new ScenarioError(file, locate ? locate(issues.slice(0, 20)) : issues.slice(0, 20))
  return out
}

/** Whether the sweep path `k` set the field at `p` (an issue's path in the expanded scenario). */
function pathMatches(x: Scenario, k: string, p: (string | number)[]): boolean {
  const parts = k.split('.')
  const norm: (string | number)[] = parts[0] === 'peers' ? ['peers', x.peers.findIndex((g) => g.name === parts[1]), ...parts.slice(2)] : parts
  const n = Math.min(norm.length, p.length)
  return n > 0 && norm.slice(0, n).every((v, i) => String(v) === String(p[i]))
}

/**
 * The points of a scenario's sweep (one point, index 0, `params` {}, without a sweep), each scenario validated again
 * with its values set. Throws `ScenarioError` naming the point and the sweep list of a point that is not valid.
 */
export function expandSweep(scenario: Scenario, file = '<scenario>'): SweepPointScenario[] {
  return expand(scenario, file)
}

/** A text that is not even a mapping: say what it is instead, with the first lines a scenario needs. */
function notAScenario(js: unknown, text: string): SourceIssue | undefined {
  const start = 'a scenario starts with `souk: scenario/1`, `name:`, `market:`, `seed:`, `durationMs:` and `peers:` (see docs/sim.md)'
  if (text.trim() === '' || js === null || js === undefined) return { path: [], message: 'the file is empty (or only comments)', hint: start }
  if (typeof js !== 'object' || Array.isArray(js)) return { path: [], message: `the top level is ${kindOf(js)}, not a mapping of keys to values`, hint: start }
  const souk = (js as Record<string, unknown>).souk
  if (souk === undefined) return { path: [], message: 'this is not a Souk scenario: the `souk:` marker is missing', hint: start }
  if (souk !== SCENARIO_VERSION) return { path: ['souk'], message: `unsupported format ${JSON.stringify(souk)}: this version of souk reads ${SCENARIO_VERSION}`, hint: `set \`souk: ${SCENARIO_VERSION}\`` }
  return undefined
}

/**
 * Parses and validates scenario text (YAML or JSON), its sweep points included. Throws `ScenarioError` listing every
 * problem with `file:line:col`, the path and what to fix.
 */
export function parseScenario(text: string, file = '<scenario>'): Scenario {
  if (text.length > SCENARIO_MAX_BYTES) throw new ScenarioError(file, [{ path: [], message: `file is larger than ${SCENARIO_MAX_BYTES} bytes`, hint: 'a scenario describes peer groups, not peers: use `count:`' }])
  const src = parseYamlSource(text)
  if (src.syntaxIssues.length) throw new ScenarioError(file, src.syntaxIssues)
  const shape = notAScenario(src.js, text)
  if (shape) throw new ScenarioError(file, src.withLines([shape]))
  const r = ScenarioSchema.safeParse(src.js)
  if (!r.success) throw new ScenarioError(file, src.withLines(withRangeHints(zodIssues(r.error, src.js, SCHEMA_FILE))))
  const issues = checkScenario(r.data)
  if (issues.length) throw new ScenarioError(file, src.withLines(issues))
  expand(r.data, file, src.withLines)
  return r.data
}

/** Reads and parses a scenario file. */
export function loadScenario(path: string): Scenario {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ScenarioError(path, [{ path: [], message: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, hint: 'check the path (scenarios live in scenarios/*.yaml)' }])
  }
  return parseScenario(text, path)
}
