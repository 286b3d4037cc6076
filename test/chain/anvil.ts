/**
 * Foundry's anvil as a separate chain process for tests (`@foundry-rs/anvil` from npm ships its binary; npm 11 holds
 * back its postinstall, so the binary is called by path). Binds 127.0.0.1 on a free port, waits until it answers
 * JSON-RPC, and stops it with the test. Its dev accounts are the well-known Foundry mnemonic's.
 *
 * @example
 * ```ts
 * import { startAnvil } from './anvil.js'
 * const anvil = await startAnvil({ accounts: 4 })
 * anvil.url; anvil.keys[0]                          // http://127.0.0.1:<port>, 0xac09…
 * await anvil.stop()
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { mnemonicToAccount } from 'viem/accounts'
import { bytesToHex, type Hex } from 'viem'

const FOUNDRY_MNEMONIC = 'test test test test test test test test test test test junk'

export function anvilBinary(): string {
  const require = createRequire(import.meta.url)
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`
  const bin = join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil')
  if (!existsSync(bin)) throw new Error(`anvil binary not found at ${bin}: run npm ci`)
  return bin
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)) })
  })
}

export interface Anvil { url: string; keys: Hex[]; proc: ChildProcess; stop(): Promise<void> }

export async function startAnvil(o: { accounts?: number; blockTimeSec?: number } = {}): Promise<Anvil> {
  const accounts = o.accounts ?? 10
  const port = await freePort()
  const args = ['--host', '127.0.0.1', '--port', String(port), '--accounts', String(accounts), '--silent', ...(o.blockTimeSec ? ['--block-time', String(o.blockTimeSec)] : [])]
  const proc = spawn(anvilBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr!.on('data', (d) => { stderr += String(d) })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`anvil exited with ${proc.exitCode}: ${stderr.slice(-500)}`)
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) })
      if (r.ok) break
    } catch { /* not up yet */ }
    if (i > 200) { proc.kill('SIGKILL'); throw new Error(`anvil did not answer on ${url} within 10 s: ${stderr.slice(-500)}`) }
    await new Promise((r) => setTimeout(r, 50))
  }
  const keys = Array.from({ length: accounts }, (_, i) => bytesToHex(mnemonicToAccount(FOUNDRY_MNEMONIC, { addressIndex: i }).getHdKey().privateKey!))
  return {
    url, keys, proc,
    async stop() {
      if (proc.exitCode !== null) return
      const done = new Promise<void>((r) => proc.once('exit', () => r()))
      proc.kill('SIGTERM')
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))])
      if (proc.exitCode === null) proc.kill('SIGKILL')
    },
  }
}
