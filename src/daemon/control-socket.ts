// Where the daemon's control socket is: its own file, so the CLI's client can find it without loading the server.

import path from 'node:path';

export const CONTROL_SOCKET_NAME = 'control.sock';

export function controlSocketPath(runDir: string): string {
  return path.join(runDir, CONTROL_SOCKET_NAME);
}
