// The redaction rules are shared with the logs (services/pipeline/src/log/secret-redactor.ts).
export { knownSecrets, redactSecrets } from '@pullback/pipeline/redact';
