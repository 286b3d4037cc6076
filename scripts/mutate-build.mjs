/**
 * Stryker's build step (stryker.config.mjs `buildCommand`), run inside each sandbox after the mutants are placed:
 * transpiles every TypeScript file of src/, test/ and artifacts/ to JavaScript beside it (esbuild, no type-check), so the test
 * processes load plain JavaScript without a module hook. With tsx's hooks, loading viem alone took ~2.1 s of CPU
 * per process here against ~0.5 s without; a mutation run starts one process per mutant.
 * It refuses to run outside a sandbox: the .js files would clutter the working tree.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

if (!process.cwd().includes('.stryker-tmp')) {
  console.error('mutate-build: refusing to write .js files outside a Stryker sandbox (cwd has no .stryker-tmp)')
  process.exit(2)
}
const files = []
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(p)
  }
}
for (const d of ['src', 'test', 'artifacts']) walk(d)
await build({ entryPoints: files, outdir: '.', outbase: '.', format: 'esm', platform: 'node', target: 'node20', bundle: false, sourcemap: 'inline', logLevel: 'warning' })
