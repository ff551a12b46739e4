// The TypeScript SDK reads the same AUDIT_LAYER_KAFKA_* settings as the Python components; the whole
// pipeline over SASL_SSL (kafkajs included) is tests/integration/test_kafka_security.py.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { AuditConfigError, kafkaSecurityFromEnv } from '../src/index.js'

test('plaintext by default, SASL_SSL with SCRAM from the environment', () => {
  assert.deepEqual(kafkaSecurityFromEnv({}), { describe: 'PLAINTEXT' })
  const ca = join(mkdtempSync(join(tmpdir(), 'al-sec-')), 'ca.pem')
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
  const security = kafkaSecurityFromEnv({
    AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl', AUDIT_LAYER_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    AUDIT_LAYER_KAFKA_SASL_USERNAME: 'auditor', AUDIT_LAYER_KAFKA_SASL_PASSWORD: 'pw', AUDIT_LAYER_KAFKA_SSL_CA_LOCATION: ca,
  })
  assert.deepEqual(security.sasl, { mechanism: 'scram-sha-512', username: 'auditor', password: 'pw' })
  assert.ok(typeof security.ssl === 'object' && security.ssl.rejectUnauthorized === true)
  assert.equal(security.describe, 'SASL_SSL, SCRAM-SHA-512 as auditor')
})

test('a mistake is an error naming the variable', () => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ AUDIT_LAYER_KAFKA_SASL_PASSWROD: 'x' }, /AUDIT_LAYER_KAFKA_SASL_PASSWROD is not a Kafka setting/],
    [{ AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL: 'TLS' }, /use one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/],
    [{ AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, /needs AUDIT_LAYER_KAFKA_SASL_MECHANISM/],
    [{ AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', AUDIT_LAYER_KAFKA_SASL_MECHANISM: 'PLAIN', AUDIT_LAYER_KAFKA_SASL_USERNAME: 'a' },
      /needs AUDIT_LAYER_KAFKA_SASL_USERNAME and AUDIT_LAYER_KAFKA_SASL_PASSWORD/],
    [{ AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL: 'SSL', AUDIT_LAYER_KAFKA_SSL_CA_LOCATION: '/no/such/ca.pem' }, /AUDIT_LAYER_KAFKA_SSL_CA_LOCATION=\/no\/such\/ca.pem/],
    [{ AUDIT_LAYER_KAFKA_SSL_CA_LOCATION: '/x' }, /does not use TLS/],
    [{ AUDIT_LAYER_KAFKA_SASL_MECHANISM: 'PLAIN' }, /needs AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL=SASL_SSL/],
  ]
  for (const [env, message] of cases) {
    assert.throws(() => kafkaSecurityFromEnv(env), (error: unknown) => error instanceof AuditConfigError && message.test((error as Error).message))
  }
})
