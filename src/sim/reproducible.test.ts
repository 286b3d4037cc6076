// Reproducibility with the real runner: the same scenario and seeds give the same event-log hashes whether the runs
// go inline, on one worker thread or on two (each worker keeps its own EVM and runs whatever jobs it is handed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadScenario } from './scenario.js'
import { runSweep } from './sweep.js'

const root = new URL('../../', import.meta.url).pathname

test('the same sweep gives the same event-log hash for every run, inline and on 1 or 2 worker threads', { timeout: 600_000 }, async () => {
  const s = { ...loadScenario(join(root, 'scenarios/cdn-sweep.yaml')), runs: 1 }
  const dirs: string[] = []
  try {
    const sweepHashes: string[] = []
    for (const workers of [0, 1, 2]) {
      const outDir = mkdtempSync(join(tmpdir(), `souk-repro-${workers}-`))
      dirs.push(outDir)
      const r = await runSweep({ scenario: s, outDir, workers })
      assert.equal(r.failed, 0, `no run failed (${workers} workers)`)
      assert.equal(r.total, 4)
      sweepHashes.push(r.summary.sweepHash) // SHA-256 over every run's eventLogHash, in (point, run) order
    }
    assert.equal(new Set(sweepHashes).size, 1, `one sweep hash for 0, 1 and 2 workers: ${sweepHashes.join(' ')}`)
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
})
