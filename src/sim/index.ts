/**
 * The simulator (docs/sim.md): the event engine, one seeded run of a scenario with the real roles of a market, the
 * run's chain (the real EVM on simulated block time, or the model-backed chain), scenario files, sweeps across worker
 * threads with resumable results, statistics, the HTML report and the security-economics table.
 *
 * @example
 * ```ts
 * import { parseScenario, runScenarioPoint } from './src/sim/index.js'
 * const s = parseScenario('souk: scenario/1\nname: one\nmarket: cdn\nseed: 1\ndurationMs: 60000\ncontent: { bytes: 8192, chunkSize: 4096 }\npeers:\n  - { name: publisher, role: publisher }\n  - { name: cache, role: cache, count: 2 }\n  - { name: client, role: client, count: 1 }\n', 'one.yaml')
 * const r = await runScenarioPoint(s, { point: 0, params: {}, run: 0, seed: 1 })
 * console.log(r.eventLogHash, r.metrics.clientsOk) // the same hash on every machine; 1
 * ```
 */
export { createEngine, SimError, type Engine, type EngineStats, type RunOptions, type RunOutcome } from './engine.js'
export { runSeed, type Metrics, type RunResult, type Runner, type SweepPoint, type RunnableScenario, type SimMarket, type SimPeer, type FinishedRun } from './types.js'
export { runScenarioPoint, createEventLog, canonicalJson, randStream, drawDuration, SIM_GRACE_MS, SIM_STOP_LIMIT_MS, type EventLog } from './run.js'
export { simEvm, simModelChain, SIM_GENESIS, type SimChain } from './chain.js'
export { createModelChain, ModelProvider, ModelChainUnsupportedError, ModelChainRequestError, MODEL_GAS, type ModelChainOptions, type GasTable } from './model-chain.js'
export { SIM_MARKETS, simMarket } from './markets/index.js'
export { externalWork } from './external.js'
export { parseScenario, loadScenario, expandSweep, checkScenario, scenarioJsonSchema, ScenarioError, ScenarioSchema, SCENARIO_VERSION, type Scenario, type ScenarioInput, type PeerGroup, type SweepPointScenario } from './scenario.js'
export { runSweep, readResults, SweepError, SWEEP_FILES, type SweepOptions, type SweepOutcome, type SweepProgress } from './sweep.js'
export { describe, summarize, summarizeResults, tQuantile975, type Description, type MetricSummary, type PointSummary, type SweepSummary } from './stats.js'
export { renderSimReport, writeSimReport, type SimReportInput } from './report.js'
export { scenarioEconomics, modelEconomics, economicsMarkdown, honestTwin, type EconomicsRow, type CaseEconomics, type PairRunner } from './economics.js'
