// JSON lines to stdout (journald under systemd); one child logger per component (pino child loggers).
// Authorization headers and tokens are redacted wherever they appear in a logged object.
import { pino, type Logger } from 'pino';

export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token'], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  });
}

export type { Logger };
