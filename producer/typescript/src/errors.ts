/** A setting is missing or wrong: thrown when an AuditLayer is made, never from an audited call. */
export class AuditConfigError extends Error {}
