/**
 * Keeps the docs true: every ```ts block in docs/*.md and README.md that imports from './src/…' (a runnable,
 * repository-root example) is written next to the sources and run with tsx; it must exit 0.
 * Blocks that are fragments (no './src/' import, or marked `// fragment`) are skipped.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const root = new URL('../../', import.meta.url).pathname
const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

export function runnableBlocks(md: string): string[] {
  const out: string[] = []
  const re = /^```ts\n([\s\S]*?)^```$/gm
  for (const m of md.matchAll(re)) {
    const code = m[1]
    if (!/from '\.\/src\//.test(code) || code.includes('// fragment')) continue
    // A snippet that uses names it never defines is a fragment, not a program.
    if (!/^(import|const|await|let)\b/m.test(code)) continue
    out.push(code)
  }
  return out
}

for (const f of files) {
  const blocks = runnableBlocks(readFileSync(join(root, f), 'utf8'))
  blocks.forEach((code, i) => {
    test(`${f} example ${i + 1} runs`, { timeout: 120_000 }, async () => {
      const name = join(root, `.doc-example-${f.replace(/\W/g, '_')}-${i}.ts`)
      const cwd = root // examples run from the repository root, as the docs say
      writeFileSync(name, code)
      try {
        await promisify(execFile)(process.execPath, ['--import', import.meta.resolve('tsx'), name], { cwd, timeout: 110_000, env: { ...process.env, SOUK_DOC_EXAMPLE: '1' } })
      } catch (e) {
        const err = e as { stderr?: string; stdout?: string }
        assert.fail(`${f} example ${i + 1} failed:\n${(err.stderr || err.stdout || String(e)).slice(-2000)}`)
      } finally {
        rmSync(name, { force: true })
      }
    })
  })
}
