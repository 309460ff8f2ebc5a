export { errorLog, type LineLog, lineLog } from './line-log.js';
export { chooseLogFormat, LOG_FORMATS, type LogFormat } from './log-format.js';
export { type CreateLoggerOptions, createLogger, type LogFields, type Logger } from './logger.js';
export {
  keyFileSecrets,
  knownSecrets,
  redactSecrets,
  type SecretHolder,
  textRedactor,
} from './secret-redactor.js';
