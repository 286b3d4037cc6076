/**
 * Issue 14, "`souk node` is rough", on the real `souk node` process: a paid role without a key says the three ways
 * to give one; a dead or malformed --bootstrap fails non-zero naming the address (after a bounded retry); output is
 * one sentence per event by default (amounts in SOUK) and JSON lines with --json; a cache a full publisher refuses
 * exits 1 saying the publisher has all the caches it wants and how to raise --max-caches. Never a stack trace.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { createChain, serveJsonRpc } from '../chain/index.js'
import { safeJson } from '../core/errors.js'
import { createLibp2pTransport } from '../net/index.js'
import { deploySouk } from '../payments/deploy.js'
import type { ServiceEvent } from '../services/market.js'
import { runPeer } from './peer.js'

const MAIN = new URL('../cli/main.ts', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'souk-node-cli-'))
const noKeys = { SOUK_NODE_KEY: undefined, SOUK_PRIVATE_KEY: undefined, SOUK_KEY_PASSWORD: undefined }
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, `a stack trace:\n${s}`)

interface Run { status: number | null; stdout: string; stderr: string; ms: number }
function node(args: string[], env: Record<string, string | undefined> = {}, ms = 90_000) {
  const t0 = performance.now()
  const p = spawn(process.execPath, ['--import', 'tsx', MAIN, 'node', ...args], { env: { ...process.env, ...noKeys, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = '', stderr = ''
  p.stdout.on('data', (b) => (stdout += b))
  p.stderr.on('data', (b) => (stderr += b))
  const timer = setTimeout(() => p.kill('SIGKILL'), ms)
  const done = new Promise<Run>((r) => p.on('close', (status) => { clearTimeout(timer); r({ status, stdout, stderr, ms: performance.now() - t0 }) }))
  return { proc: p, done, out: () => stdout }
}
const until = async (what: string, f: () => boolean, ms = 90_000) => {
  for (const t0 = performance.now(); !f();) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

test('a cache without a key: exit 1 at once, naming --key, SOUK_NODE_KEY and souk key new; nothing started', { timeout: 60_000 }, async () => {
  const r = await node(['--role', 'cache', '--rpc', 'http://127.0.0.1:9', '--deployment', join(dir, 'none.json'), '--bootstrap', '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWMWaS3x5FAiyGRAUpA3Jq2EjQ6RaioAPrn2ddbtRTuDv1', '--data-dir', join(dir, 'nokey')]).done
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: A cdn cache needs a signing key \(it signs payments and chain transactions\), and none was given/)
  assert.match(r.stderr, /Fix: Pass --key <keystore\|hex>/)
  assert.match(r.stderr, /SOUK_NODE_KEY=0x…/)
  assert.match(r.stderr, /souk key new --out node-key\.json/)
  assert.doesNotMatch(r.stderr, /TypeError|slice/)
  noStack(r.stderr)
  assert.equal(r.stdout, '', 'no listening line: nothing was started')
})

test('a dead --bootstrap: exit 1 naming the address after 3 tries, readable lines by default, JSON lines with --json; a malformed one is named too', { timeout: 120_000 }, async () => {
  const deployment = join(dir, 'deployment.json')
  writeFileSync(deployment, '{}') // a client reads no contract
  const gone = await createLibp2pTransport()
  const addr = gone.addresses()[0]
  await gone.stop()
  const common = ['--role', 'client', '--name', 'client-0', '--rpc', 'http://127.0.0.1:9', '--deployment', deployment, '--bootstrap', addr]
  const [text, json, malformed] = await Promise.all([
    node([...common, '--data-dir', join(dir, 'c-text')]).done,
    node([...common, '--data-dir', join(dir, 'c-json'), '--json']).done,
    node([...common.slice(0, -1), '/ip4/127.0.0.1/tcp/9', '--data-dir', join(dir, 'c-bad')]).done,
  ])
  for (const r of [text, json]) {
    assert.equal(r.status, 1, r.stderr)
    assert.ok(r.stderr.includes(`error: Nothing answers at the bootstrap address ${addr}: connection refused (3 tries)`), r.stderr)
    assert.ok(r.ms < 60_000, `took ${r.ms} ms`)
    noStack(r.stderr)
  }
  // Readable: who, what, where the state is.
  const lines = text.stdout.trim().split('\n')
  assert.equal(lines[0], `client-0: state in ${join(dir, 'c-text')} (start it again with --data-dir ${join(dir, 'c-text')} to resume)`)
  assert.match(lines[1], /^client-0: listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\w+$/)
  assert.doesNotMatch(text.stdout, /^\{/m)
  // --json: stdout is JSON lines only, the state line goes to stderr.
  const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as ServiceEvent)
  assert.equal(events[0].kind, 'listening')
  assert.equal(events[0].name, 'client-0')
  assert.match(json.stderr, /^client-0: state in .*c-json/m)
  assert.equal(malformed.status, 1)
  assert.match(malformed.stderr, /^error: The bootstrap address \/ip4\/127\.0\.0\.1\/tcp\/9 names no peer \(no \/p2p\/<peer id> at its end\)\n[\s\S]*Fix: Pass --bootstrap \/ip4\/<host>\/tcp\/<port>\/p2p\/<peer id>/)
  noStack(malformed.stderr)
})

test('a cache hired by a publisher prints sentences with amounts in SOUK and where its state is; a second cache at the full publisher exits 1 naming --max-caches', { timeout: 240_000 }, async () => {
  const chain = await createChain({ kind: 'embedded', accounts: 5, seed: 'node-cli.test' })
  const server = await serveJsonRpc(chain.provider, { port: 0 })
  const stopPub = new AbortController()
  const children: ReturnType<typeof node>[] = []
  let pubRun: Promise<void> | undefined
  try {
    const d = await deploySouk(chain, chain.devKeys[0])
    const deploymentPath = join(dir, 'chain-deployment.json')
    writeFileSync(deploymentPath, safeJson(d))
    const [, pubKey, cacheKey, otherKey] = chain.devKeys as Hex[]
    const content = String(256 * 1024)
    const pubEvents: ServiceEvent[] = []
    pubRun = runPeer({ role: 'publisher', name: 'publisher', rpcUrl: server.url, deploymentPath, key: pubKey, dataDir: join(dir, 'publisher'), options: { contentBytes: content, maxCaches: 1, cachesPerRequest: 1 } },
      { report: (e) => pubEvents.push(e), signal: stopPub.signal })
    await until('the publisher', () => pubEvents.some((e) => e.kind === 'published'))
    const bootstrap = (pubEvents.find((e) => e.kind === 'listening')!.addresses as string[])[0]
    const args = (name: string) => ['--role', 'cache', '--name', name, '--rpc', server.url, '--deployment', deploymentPath, '--bootstrap', bootstrap, '--data-dir', join(dir, name), '--content-bytes', content]

    const cache = node(args('cache-0'), { SOUK_NODE_KEY: cacheKey }, 200_000)
    children.push(cache)
    await until('cache-0 ready', () => /cache-0: ready/.test(cache.out()))
    await runPeer({ role: 'client', name: 'client', rpcUrl: server.url, deploymentPath, bootstrap, dataDir: join(dir, 'client'), options: { contentBytes: content } }, { report: () => {}, signal: new AbortController().signal })
    await until('2 paid chunks', () => (cache.out().match(/paid for a chunk/g) ?? []).length >= 2)

    const second = await node(args('cache-1'), { SOUK_NODE_KEY: otherKey }).done
    assert.equal(second.status, 1, second.stderr)
    assert.ok(second.stderr.includes(`error: The cdn cache stopped: the publisher at ${bootstrap} has all the caches it wants`), second.stderr)
    assert.match(second.stderr, /Fix: A publisher hires at most --max-caches caches \(default 4\): start it again with a higher one/)
    noStack(second.stderr)

    cache.proc.kill('SIGTERM')
    const r = await cache.done
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines[0], `cache-0: state in ${join(dir, 'cache-0')} (start it again with --data-dir ${join(dir, 'cache-0')} to resume)`)
    assert.match(r.stdout, /^cache-0: hired by the publisher at 0\.\d+ SOUK per chunk; fetching the content$/m)
    assert.match(r.stdout, /^cache-0: ready: holds 256 KiB of content \(Merkle-checked\); serving$/m)
    assert.match(r.stdout, /^cache-0: served a chunk \(128 KiB\)$/m)
    assert.match(r.stdout, /^cache-0: paid for a chunk: 0\.\d+ SOUK credited/m)
    assert.match(r.stdout, /^cache-0: stopped: served 2 chunks \(256 KiB\), 2 paid, credited 0\.\d+ SOUK; settled \d+ payments? in \d+ transactions?, received [\d.]+ SOUK$/m)
    assert.equal(lines.at(-1), `cache-0: state kept in ${join(dir, 'cache-0')}`)
    assert.doesNotMatch(r.stdout, /^\{/m, 'no JSON without --json')
  } finally {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
    stopPub.abort()
    await pubRun?.catch(() => {})
    await server.close()
    await chain.close()
  }
})
