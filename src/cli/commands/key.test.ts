/**
 * `souk key new|import|address`, `--key <keystore|hex>` on the commands that send transactions, and the pre-flight
 * that names an account without the ETH it needs (issue 15, failure 7). Each run is the real `souk` process.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, serveJsonRpc } from '../../chain/index.js'
import { safeJson } from '../../core/errors.js'
import { deploySouk } from '../../payments/deploy.js'

const root = new URL('../../..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'souk-key-'))
const PASSWORD = 'correct horse battery staple'
const pwFile = join(dir, 'pw')
writeFileSync(pwFile, PASSWORD + '\n')
const wrongPwFile = join(dir, 'wrong-pw')
writeFileSync(wrongPwFile, 'not the password\n')
/** Not a dev key: it holds no ETH on any chain of these tests. */
const RAW = ('0x' + '5a'.repeat(31) + '01') as `0x${string}`
const RAW_ADDRESS = privateKeyToAddress(RAW).toLowerCase()

/** Runs `souk ...args` (async: a chain served from this process must keep answering). */
function souk(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const clean = { ...process.env, SOUK_PRIVATE_KEY: undefined, SOUK_KEY_PASSWORD: undefined, SOUK_KEYSTORE_PASSWORD: undefined, SOUK_NODE_KEY: undefined, ...env }
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: clean as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = '', stderr = ''
  p.stdout.on('data', (b) => (stdout += b))
  p.stderr.on('data', (b) => (stderr += b))
  p.stdin.end(input ?? '')
  return new Promise((r) => p.on('close', (status) => r({ status, stdout, stderr })))
}
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, `a stack trace:\n${s}`)

test('key new writes a 0600 keystore whose address key address prints, and checks with the password; the password is never printed', { timeout: 120_000 }, async () => {
  const out = join(dir, 'new.json')
  const r = await souk(['key', 'new', '--out', out], { SOUK_KEY_PASSWORD: PASSWORD })
  assert.equal(r.status, 0, r.stderr)
  const address = r.stdout.trim()
  assert.match(address, /^0x[0-9a-f]{40}$/)
  assert.equal(statSync(out).mode & 0o777, 0o600)
  const ks = JSON.parse(readFileSync(out, 'utf8'))
  assert.equal(ks.version, 3)
  assert.equal(`0x${ks.address}`, address)
  const a = await souk(['key', 'address', out])
  assert.equal(a.stdout.trim(), address)
  const checked = await souk(['key', 'address', out, '--password-file', pwFile, '--json'])
  assert.deepEqual(JSON.parse(checked.stdout), { address, checked: true })
  for (const x of [r, a, checked]) assert.ok(!(x.stdout + x.stderr).includes(PASSWORD), 'the password is printed')
  // Never over an existing keystore.
  const again = await souk(['key', 'new', '--out', out], { SOUK_KEY_PASSWORD: PASSWORD })
  assert.equal(again.status, 1)
  assert.match(again.stderr, /error: .*new\.json exists/)
  noStack(again.stderr)
  // No password: refused, with the two ways to give one.
  const none = await souk(['key', 'new', '--out', join(dir, 'nopw.json')])
  assert.equal(none.status, 1)
  assert.match(none.stderr, /No password for the keystore[\s\S]*--password-file <file> or set SOUK_KEY_PASSWORD/)
})

test('key import: from hex, a file or stdin, to the same address; a bad key is refused', { timeout: 120_000 }, async () => {
  const keyFile = join(dir, 'raw.txt')
  writeFileSync(keyFile, RAW.slice(2) + '\n')
  const fromHex = await souk(['key', 'import', RAW, '--out', join(dir, 'imported.json'), '--password-file', pwFile])
  assert.equal(fromHex.status, 0, fromHex.stderr)
  assert.equal(fromHex.stdout.trim(), RAW_ADDRESS)
  const fromFile = await souk(['key', 'import', keyFile, '--password-file', pwFile, '--json'])
  // Without --out: the keystore JSON on stdout, the address on stderr; the key is never printed.
  assert.equal(`0x${JSON.parse(fromFile.stdout).address}`, RAW_ADDRESS)
  assert.ok(!(fromFile.stdout + fromFile.stderr).includes(RAW.slice(2)))
  const fromStdin = await souk(['key', 'import', '-', '--out', join(dir, 'stdin.json'), '--password-file', pwFile], {}, RAW + '\n')
  assert.equal(fromStdin.stdout.trim(), RAW_ADDRESS)
  for (const bad of ['0x1234', '0x' + '00'.repeat(32), join(dir, 'no-such-file')]) {
    const r = await souk(['key', 'import', bad, '--password-file', pwFile])
    assert.equal(r.status, 1, bad)
    assert.match(r.stderr, /error: .*(hex|secp256k1)/)
    noStack(r.stderr)
  }
})

test('a wrong password, a missing keystore and a malformed --key each fail with a hint and no stack trace', { timeout: 120_000 }, async () => {
  const ks = join(dir, 'imported.json') // written by the import test above (node:test runs a file's tests in order)
  const wrong = await souk(['key', 'address', ks, '--password-file', wrongPwFile])
  assert.equal(wrong.status, 1)
  assert.match(wrong.stderr, /error: Wrong password for keystore[\s\S]*Fix: Check the password \(--password-file or SOUK_KEY_PASSWORD\)/)
  noStack(wrong.stderr)
  const missing = await souk(['key', 'address', join(dir, 'missing.json')])
  assert.equal(missing.status, 1)
  assert.match(missing.stderr, /error: Cannot read keystore .*missing\.json[\s\S]*souk key new --out/)
  noStack(missing.stderr)
  // The same through --key of a command that sends transactions (it fails before touching the chain).
  const node = await souk(['node', '--role', 'cache', '--rpc', 'http://127.0.0.1:9', '--deployment', 'x.json', '--key', join(dir, 'missing.json')])
  assert.equal(node.status, 1)
  assert.match(node.stderr, /error: Cannot read keystore/)
  noStack(node.stderr)
  const wrongNode = await souk(['testnet', '--key', ks, '--password-file', wrongPwFile])
  assert.equal(wrongNode.status, 1)
  assert.match(wrongNode.stderr, /error: Wrong password for keystore/)
  const malformed = await souk(['testnet', '--key', '0xabc'])
  assert.equal(malformed.status, 1)
  assert.match(malformed.stderr, /error: --key is neither a 32-byte hex key nor a keystore file/)
  const badEnv = await souk(['testnet'], { SOUK_PRIVATE_KEY: 'nope' })
  assert.equal(badEnv.status, 1)
  assert.match(badEnv.stderr, /error: SOUK_PRIVATE_KEY is not a 32-byte hex private key/)
})

test('pre-flight: a key with no ETH names its account, what it has and about what it needs, before any transaction', { timeout: 180_000 }, async () => {
  const ks = join(dir, 'imported.json')
  // souk testnet on the embedded chain, deploying from the keystore's account.
  const t = await souk(['testnet', '--caches', '1', '--clients', '1', '--key', ks, '--json'], { SOUK_KEY_PASSWORD: PASSWORD })
  assert.equal(t.status, 1, t.stdout)
  assert.match(t.stderr, new RegExp(`error: account ${RAW_ADDRESS} has 0 ETH; deploying needs about 0\\.\\d+ ETH at the current gas price: fund it or pass --key`))
  noStack(t.stderr)
  // souk node against a chain served here: the cache's account has no ETH; nothing was sent from it.
  const chain = await createChain({ kind: 'embedded', accounts: 2, seed: 'key.test' })
  const server = await serveJsonRpc(chain.provider, { port: 0 })
  after(async () => { await server.close(); await chain.close() })
  const d = await deploySouk(chain, chain.devKeys[0])
  const deployment = join(dir, 'deployment.json')
  writeFileSync(deployment, safeJson(d))
  const n = await souk(['node', '--role', 'cache', '--rpc', server.url, '--deployment', deployment, '--bootstrap', '/ip4/127.0.0.1/tcp/9', '--data-dir', join(dir, 'cache')], { SOUK_PRIVATE_KEY: RAW })
  assert.equal(n.status, 1)
  assert.match(n.stderr, new RegExp(`error: account ${RAW_ADDRESS} has 0 ETH; running a cdn cache needs about 0\\.\\d+ ETH`))
  noStack(n.stderr)
  assert.equal(await chain.public.getTransactionCount({ address: RAW_ADDRESS as `0x${string}` }), 0)
})
