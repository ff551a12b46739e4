// The package ships the Avro schema the Python SDK writes with, copied from schemas/ at build time,
// so there is one source of truth; the tests check its fingerprint against the shared vectors.
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const source = join(here, '..', '..', '..', 'schemas', 'audit_layer_schemas', 'avro', 'dev.auditlayer.AuditEvent.avsc')
mkdirSync(join(here, '..', 'schema'), { recursive: true })
copyFileSync(source, join(here, '..', 'schema', 'dev.auditlayer.AuditEvent.avsc'))
