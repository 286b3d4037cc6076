#!/usr/bin/env node
/**
 * The `souk` command. Each subcommand lives in `src/cli/commands/<name>.ts` and exports `register(program)`;
 * heavy modules are imported inside the action so `souk --help` stays fast.
 */
import { Command } from 'commander'
import { readdirSync } from 'node:fs'
import { SoukError } from '../core/errors.js'
import { applyEnvironment } from './env.js'

export async function buildProgram(): Promise<Command> {
  const program = new Command()
  program
    .name('souk')
    .description('Souk: build, test and analyse decentralized service markets (payments, proofs of service, threat models, viability).')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `
Examples:
  souk testnet                                   a local CDN market (what \`npm start\` runs)
  souk testnet --scheme microcash --caches 2     the same, paid from one concurrent-lottery escrow
  souk pay --chunks 10000                        the payment schemes alone, checked against the chain
  souk market --servers 20 --buyers 60           a market round by round: price convergence, time to deal, who got hired
  souk threat check models/cdn.yaml              exits non-zero while a threat case is open
  souk viability --preset bbc-iplayer            offload and cost of peer-assisted delivery (HTML in reports/)

Docs: README.md and docs/ (one page per module).`)
  const dir = new URL('./commands/', import.meta.url)
  const names = readdirSync(dir).filter((n) => /\.(ts|js)$/.test(n) && !n.endsWith('.test.ts') && !n.endsWith('.d.ts')).sort()
  for (const n of names) {
    const mod = (await import(new URL(n, dir).href)) as { register?: (p: Command) => void }
    mod.register?.(program)
  }
  return program
}

export async function main(argv = process.argv): Promise<void> {
  applyEnvironment()
  const program = await buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (e) {
    process.exitCode = reportError(e)
  }
}

/** Prints an error for a person and returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof SoukError) {
    process.stderr.write(`error: ${e.message}\n`)
    return 1
  }
  const z = e as { issues?: { path: (string | number)[]; message: string }[] }
  if (Array.isArray(z?.issues)) {
    for (const i of z.issues) process.stderr.write(`error: invalid option - ${i.message} at \`${i.path.join('.') || '(root)'}\`\n`)
    return 1
  }
  process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`)
  return 1
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli/main.ts')) {
  await main()
}
