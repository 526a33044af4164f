// hostwardenctl [--url URL] [--token-file FILE] COMMAND: the admin command line over the controller's REST API.
// Exit codes: 0 ok, 1 runtime failure (controller down, refused token, HTTP error), 2 usage or configuration.
// The logic lives in ctl/ (a client only: it never imports the controller's server code).
import { EXIT_RUNTIME } from '../../shared/errors.js';
import { terminalSafe } from '../format.js';
import { runCli } from '../main.js';

// `hostwardenctl tenants | head`: a closed pipe ends the output, not in a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(terminalSafe(`hostwardenctl: internal error: ${(err as Error)?.stack ?? String(err)}\n`));
    process.exitCode = EXIT_RUNTIME;
  },
);
