// Tinypool's entry for the simulator's worker threads. Souk runs from its TypeScript sources, so the worker registers
// tsx's loader (`tsx/esm/api`, as src/node/workers.ts does) before it imports worker.ts; a compiled build has
// worker.js beside this file and needs no loader. Tinypool calls the default export once per task.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ts = new URL('./worker.ts', import.meta.url)
let mod
if (existsSync(fileURLToPath(ts))) {
  const { register } = await import('tsx/esm/api')
  register()
  mod = await import(ts.href)
} else {
  mod = await import(new URL('./worker.js', import.meta.url).href)
}

export default mod.default
