/**
 * Entry point of the gateway task of a Swarm stack deployed with `--endpoint gateway`
 * (`node dist/swarm/gateway-main.js` in the manager image). Settings from the environment:
 * SANDBOX_GATEWAY_UPSTREAM (default tasks.manager), SANDBOX_GATEWAY_UPSTREAM_PORT (9385),
 * SANDBOX_GATEWAY_HOST (0.0.0.0), SANDBOX_GATEWAY_PORT (9385), SANDBOX_GATEWAY_CHECK_MS (1000),
 * SANDBOX_LOG_LEVEL. Stops on SIGTERM/SIGINT.
 */
import {realpathSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {createLogger, parseLogLevel} from '../server/logger.js'
import {startGateway} from './gateway.js'

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`Invalid ${name} "${raw}": use a whole number from ${min} to ${max}`)
  return n
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = createLogger({level: parseLogLevel(env.SANDBOX_LOG_LEVEL), base: {component: 'gateway'}})
  try {
    const gateway = await startGateway({
      upstream: env.SANDBOX_GATEWAY_UPSTREAM || 'tasks.manager',
      upstreamPort: intEnv(env, 'SANDBOX_GATEWAY_UPSTREAM_PORT', 9385, 1, 65535),
      host: env.SANDBOX_GATEWAY_HOST || '0.0.0.0',
      port: intEnv(env, 'SANDBOX_GATEWAY_PORT', 9385, 1, 65535),
      checkMs: intEnv(env, 'SANDBOX_GATEWAY_CHECK_MS', 1000, 100, 60_000),
      logger,
    })
    logger.info('gateway listening', {url: gateway.url, upstream: env.SANDBOX_GATEWAY_UPSTREAM || 'tasks.manager'})
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    await gateway.close()
    return 0
  } catch (error) {
    logger.error('gateway failed to start', {error: (error as Error).message})
    return 1
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main()
}
