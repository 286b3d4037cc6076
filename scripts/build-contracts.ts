/**
 * Compiles every `contracts/*.sol` with solc-js (no network: OpenZeppelin imports resolve from node_modules)
 * into `artifacts/<Name>.json` ({ abi, bytecode, deployedBytecode, gasEstimates }). Skips the work when the sources
 * and compiler settings are unchanged (hash stamp).
 */
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'

export const EVM_VERSION = 'cancun'
const root = new URL('..', import.meta.url).pathname
const require = createRequire(import.meta.url)
const contractsDir = join(root, 'contracts')
const outDir = join(root, 'artifacts')

function main(): void {
  const files = readdirSync(contractsDir).filter((f) => f.endsWith('.sol')).sort()
  const sources: Record<string, { content: string }> = {}
  for (const f of files) sources[f] = { content: readFileSync(join(contractsDir, f), 'utf8') }
  const settings = {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: 10_000 },
    viaIR: true,
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  }
  const solcPkg = require('solc/package.json') as { version: string }
  const stamp = createHash('sha256').update(JSON.stringify({ sources, settings, v: solcPkg.version })).digest('hex')
  const stampFile = join(outDir, '.stamp')
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp && !process.argv.includes('--force')) return
  const solc = require('solc') as { compile(input: string, opts: { import: (p: string) => { contents?: string; error?: string } }): string }
  const findImports = (p: string) => {
    try {
      if (p.startsWith('@')) return { contents: readFileSync(require.resolve(p), 'utf8') }
      return { contents: readFileSync(join(contractsDir, p), 'utf8') }
    } catch {
      return { error: `File not found: ${p}` }
    }
  }
  const t0 = performance.now()
  const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings }), { import: findImports })) as {
    errors?: { severity: string; formattedMessage: string }[]
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>
  }
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error')
  for (const e of out.errors ?? []) if (e.severity !== 'error' && !/SPDX|pragma/.test(e.formattedMessage)) process.stderr.write(e.formattedMessage)
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(e.formattedMessage)
    process.stderr.write('Contract compilation failed.\n')
    process.exit(1)
  }
  mkdirSync(outDir, { recursive: true })
  let n = 0
  for (const f of files) {
    for (const [name, c] of Object.entries(out.contracts[f] ?? {})) {
      if (!c.evm.bytecode.object) continue
      writeFileSync(join(outDir, `${name}.json`), JSON.stringify({ contractName: name, sourceName: f, abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}` }, null, 1))
      n++
    }
  }
  writeFileSync(stampFile, stamp)
  process.stderr.write(`compiled ${n} contracts with solc ${solcPkg.version} (evm ${EVM_VERSION}) in ${Math.round(performance.now() - t0)} ms\n`)
}
main()
