/**
 * A JSON-RPC 2.0 HTTP server on 127.0.0.1 in front of any EIP-1193 provider (normally the embedded chain), so
 * several processes share one chain. Handles single and batch requests; bodies are size-capped.
 *
 * @example
 * ```ts
 * import { createEmbeddedProvider } from './embedded.js'
 * import { serveJsonRpc } from './rpc-server.js'
 * const server = await serveJsonRpc(await createEmbeddedProvider(), { port: 0 })
 * console.log(server.url) // http://127.0.0.1:PORT
 * await server.close()
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Eip1193Provider } from './types.js'
import type { Logger } from '../core/logger.js'
import { silentLogger } from '../core/logger.js'

/** Largest request body accepted: a block of calldata-heavy batch redemptions fits well under it. */
export const MAX_RPC_BODY_BYTES = 16 * 1024 * 1024

export interface RpcServer {
  url: string
  port: number
  close(): Promise<void>
}

interface RpcRequest { jsonrpc?: string; id?: unknown; method?: unknown; params?: unknown }

async function handleOne(provider: Eip1193Provider, req: RpcRequest, queue: { p: Promise<unknown> }) {
  const id = req.id ?? null
  if (typeof req.method !== 'string') return { jsonrpc: '2.0', id, error: { code: -32600, message: 'Invalid request: method must be a string' } }
  // One request at a time into the EVM: nonces and automine stay consistent across processes.
  const run = queue.p.then(() => provider.request({ method: req.method as string, params: (req.params ?? []) as unknown[] }))
  queue.p = run.catch(() => {})
  try {
    return { jsonrpc: '2.0', id, result: (await run) ?? null }
  } catch (e) {
    const err = e as { code?: number; message?: string; data?: unknown }
    return { jsonrpc: '2.0', id, error: { code: typeof err.code === 'number' ? err.code : -32603, message: err.message ?? String(e), data: err.data } }
  }
}

export async function serveJsonRpc(provider: Eip1193Provider, opts: { port?: number; host?: '127.0.0.1'; logger?: Logger } = {}): Promise<RpcServer> {
  const log = opts.logger ?? silentLogger()
  const queue = { p: Promise.resolve() as Promise<unknown> }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('POST JSON-RPC requests only\n')
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_RPC_BODY_BYTES) {
        log.warn('rpc body too large', { size })
        res.writeHead(413).end()
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', async () => {
      if (res.writableEnded) return
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }))
        return
      }
      const out = Array.isArray(body)
        ? await Promise.all(body.map((b) => handleOne(provider, (b ?? {}) as RpcRequest, queue)))
        : await handleOne(provider, (body ?? {}) as RpcRequest, queue)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)))
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  log.info('json-rpc listening', { url: `http://127.0.0.1:${port}` })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
