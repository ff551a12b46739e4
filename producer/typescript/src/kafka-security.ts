// TLS and SASL for the Kafka transport, from the same AUDIT_LAYER_KAFKA_* variables the Python SDK and the
// workers read (librdkafka's names upper-cased, dots as underscores), so a deployment sets them once.
// Checked when read: a typo or a missing password throws at start-up, naming the variable.
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'

import type { SASLOptions } from 'kafkajs'

import { AuditConfigError } from './errors.js'

const PREFIX = 'AUDIT_LAYER_KAFKA_'
const KNOWN = new Set([
  'SECURITY_PROTOCOL', 'SASL_MECHANISM', 'SASL_USERNAME', 'SASL_PASSWORD', 'SSL_CA_LOCATION',
  'SSL_CERTIFICATE_LOCATION', 'SSL_KEY_LOCATION', 'SSL_KEY_PASSWORD', 'SSL_ENDPOINT_IDENTIFICATION_ALGORITHM',
  'SASL_OAUTHBEARER_METHOD', 'SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL', 'SASL_OAUTHBEARER_CLIENT_ID',
  'SASL_OAUTHBEARER_CLIENT_SECRET', 'SASL_OAUTHBEARER_SCOPE', 'SASL_OAUTHBEARER_EXTENSIONS', 'SASL_OAUTHBEARER_CONFIG',
  'PROPERTIES_FILE',
])
const PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']

/** kafkajs's `ssl` and `sasl` options; both undefined for plaintext. */
export interface KafkaSecurity {
  ssl?: ConnectionOptions
  sasl?: SASLOptions
  describe: string
}

function read(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new AuditConfigError(`${PREFIX}${name}=${path}: ${(error as Error).message}`)
  }
}

/** Security settings from the environment. OAUTHBEARER needs a token provider, which only code can give:
 * pass `sasl` in AuditConfig for it. A client properties file is read by the Python components only. */
export function kafkaSecurityFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  for (const name of Object.keys(env)) {
    if (name.startsWith(PREFIX) && !KNOWN.has(name.slice(PREFIX.length))) {
      throw new AuditConfigError(`${name} is not a Kafka setting Audit Layer reads`)
    }
  }
  const get = (name: string): string | undefined => env[PREFIX + name] || undefined
  if (get('PROPERTIES_FILE')) {
    throw new AuditConfigError(`${PREFIX}PROPERTIES_FILE is read by the Python components; give the TypeScript SDK ` +
      `${PREFIX}SECURITY_PROTOCOL, ${PREFIX}SASL_* and ${PREFIX}SSL_* variables`)
  }
  const protocol = (get('SECURITY_PROTOCOL') ?? 'PLAINTEXT').toUpperCase()
  if (!PROTOCOLS.includes(protocol)) {
    throw new AuditConfigError(`${PREFIX}SECURITY_PROTOCOL=${JSON.stringify(protocol)}: use one of ${PROTOCOLS.join(', ')}`)
  }
  const tls = protocol === 'SSL' || protocol === 'SASL_SSL'
  const sasl = protocol.startsWith('SASL_')
  const security: KafkaSecurity = { describe: protocol }
  if (tls) {
    const ca = get('SSL_CA_LOCATION')
    const cert = get('SSL_CERTIFICATE_LOCATION')
    const key = get('SSL_KEY_LOCATION')
    security.ssl = {
      ca: ca ? [read('SSL_CA_LOCATION', ca)] : undefined,
      cert: cert ? read('SSL_CERTIFICATE_LOCATION', cert) : undefined,
      key: key ? read('SSL_KEY_LOCATION', key) : undefined,
      passphrase: get('SSL_KEY_PASSWORD'),
      rejectUnauthorized: true,
    }
  } else {
    const stray = [...KNOWN].find((n) => n.startsWith('SSL_') && get(n))
    if (stray) throw new AuditConfigError(`${PREFIX}${stray} is set but ${PREFIX}SECURITY_PROTOCOL=${protocol} does not use TLS`)
  }
  const mechanism = get('SASL_MECHANISM')?.toUpperCase()
  if (sasl) {
    const username = get('SASL_USERNAME')
    const password = get('SASL_PASSWORD')
    if (!mechanism) throw new AuditConfigError(`${protocol} needs ${PREFIX}SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`)
    if (mechanism === 'OAUTHBEARER') {
      throw new AuditConfigError('OAUTHBEARER needs a token provider: pass sasl: { mechanism: "oauthbearer", ' +
        'oauthBearerProvider } in AuditConfig')
    }
    if (!username || !password) throw new AuditConfigError(`SASL ${mechanism} needs ${PREFIX}SASL_USERNAME and ${PREFIX}SASL_PASSWORD`)
    if (mechanism === 'PLAIN') security.sasl = { mechanism: 'plain', username, password }
    else if (mechanism === 'SCRAM-SHA-256') security.sasl = { mechanism: 'scram-sha-256', username, password }
    else if (mechanism === 'SCRAM-SHA-512') security.sasl = { mechanism: 'scram-sha-512', username, password }
    else throw new AuditConfigError(`${PREFIX}SASL_MECHANISM=${JSON.stringify(mechanism)}: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`)
    security.describe = `${protocol}, ${mechanism} as ${username}`
  } else if (mechanism) {
    throw new AuditConfigError(`${PREFIX}SASL_MECHANISM=${mechanism} needs ${PREFIX}SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)`)
  }
  return security
}
