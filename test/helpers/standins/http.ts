/** The HTTP plumbing the loopback stand-ins share: a request's whole body, a JSON answer. */
import type {IncomingMessage, ServerResponse} from 'node:http'

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** `body` as JSON with its length (no body when undefined) */
export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text)})
  res.end(text)
}
