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
  souk sim sweep scenarios/cdn-sweep.yaml        the simulator: a sweep of real roles on simulated time (report in sim-results/)
  souk clean --dry-run                           old testnet run directories in the temp dir, and their size

JSON for scripts: every --json prints only JSON on stdout; through npm use \`npm run -s souk -- … --json | jq\`.

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
  // The command whose action runs: its options name the flags behind a validation error's keys.
  let active: Command | undefined
  program.hook('preAction', (_program, actionCommand) => {
    active = actionCommand
    warnNpmBanner(actionCommand)
  })
  try {
    await program.parseAsync(argv)
  } catch (e) {
    process.exitCode = reportError(e, active)
  }
}

/**
 * `npm run souk -- … --json | jq` breaks: npm prints its `> souk@0.1.0 souk` banner on stdout before the JSON.
 * `npm run -s souk -- …` (or `npx souk …`) does not; npm then sets npm_config_loglevel=silent, so without it a
 * `--json` run whose stdout is not a terminal says how to get clean JSON (on stderr).
 */
function warnNpmBanner(cmd: Command): void {
  const env = process.env
  if (!cmd.opts().json || process.stdout.isTTY || !['souk', 'start'].includes(env.npm_lifecycle_event ?? '') || env.npm_config_loglevel === 'silent') return
  process.stderr.write(`note: npm printed its "> souk@… ${env.npm_lifecycle_event}" banner on stdout before this JSON; for clean JSON run \`npm run -s ${env.npm_lifecycle_event} -- …\` or \`npx souk …\`\n`)
}

type Issue = { path: (string | number)[]; message: string }

/** The flag a user typed for a validation key of `cmd` (`contentBytes` → `--content-bytes`, an `--opt` field → `--opt k=…`). */
export function flagOf(cmd: Command | undefined, key: string): { flag: string; value?: unknown } | undefined {
  if (!cmd) return undefined
  // A library field named after its flag plus a kind (`rpcUrl` ← --rpc, `deploymentPath` ← --deployment).
  const opt = cmd.options.find((o) => o.attributeName() === key) ?? cmd.options.find((o) => o.attributeName() === key.replace(/(Url|Path|File)$/, ''))
  if (opt && opt.attributeName() !== key) return { flag: opt.long ?? opt.short ?? key, value: (cmd.opts() as Record<string, unknown>)[opt.attributeName()] }
  const values = cmd.opts() as Record<string, unknown>
  if (opt) return { flag: opt.long ?? opt.short ?? key, value: values[key] }
  const pairs = values.opt
  if (Array.isArray(pairs)) {
    const pair = pairs.find((p) => typeof p === 'string' && p.startsWith(`${key}=`)) as string | undefined
    if (pair !== undefined) return { flag: `--opt ${key}`, value: pair.slice(key.length + 1) }
    if (cmd.options.some((o) => o.long === '--opt')) return { flag: `--opt ${key}=<value>` }
  }
  return undefined
}

const issueText = (m: string) => m.replace(/^Invalid input: expected number, received NaN$/, 'not a number').replace(/^Invalid input: expected (\w+), received undefined$/, 'required, not given ($1)')

/** Prints an error for a person and returns the exit code; `cmd` (the command that ran) names flags. Never a stack
 * trace for a SoukError or a validation error: those are a user's to fix. */
export function reportError(e: unknown, cmd?: Command): number {
  if (e instanceof SoukError) {
    process.stderr.write(`error: ${e.message}\n`)
    return 1
  }
  const z = e as { issues?: Issue[] }
  if (Array.isArray(z?.issues)) {
    for (const i of z.issues) {
      const key = i.path.length > 0 ? String(i.path[0]) : undefined
      const f = key === undefined ? undefined : flagOf(cmd, key)
      const rest = i.path.length > 1 ? ` (at ${i.path.slice(1).join('.')})` : ''
      if (f) process.stderr.write(`error: ${f.flag}${f.value === undefined ? '' : ` ${JSON.stringify(f.value)}`}: ${issueText(i.message)}${rest}\n`)
      else process.stderr.write(`error: invalid value - ${i.message} at \`${i.path.join('.') || '(root)'}\`\n`)
    }
    if (cmd) process.stderr.write(`(run souk ${commandPath(cmd)} --help for usage)\n`)
    return 1
  }
  process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`)
  return 1
}

const commandPath = (c: Command): string => {
  const names: string[] = []
  for (let x: Command | null = c; x?.parent; x = x.parent) names.unshift(x.name())
  return names.join(' ')
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli/main.ts')) {
  await main()
}
