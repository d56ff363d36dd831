// update_engine's three methods and its signal over the daemon's control socket, for hosts without a system bus.

import { UpdaterError } from '../../common/errors.js';
import { controlRequest, followControlEvents, isDaemonRunning } from './control-client.js';
import { controlSocketPath } from './control.js';
import type { Update1Status } from '../dbus/update1.js';

/** What the daemon's control API adds for update_engine_client: GET /status's `update1`, events `{type: 'update1'}`. */
export interface Update1ControlEvent {
  type: 'update1';
  status: Update1Status;
}

export async function connectControlUpdate1(runDir: string) {
  if (!(await isDaemonRunning(runDir))) return null;
  const stops = new Set<AbortController>();
  return {
    via: `the control socket ${controlSocketPath(runDir)}`,
    async getStatus(): Promise<Update1Status> {
      const status = await controlRequest<{ update1?: Update1Status | null }>(runDir, 'GET', '/status', { timeoutMs: 10_000 });
      if (status.update1 === undefined || status.update1 === null) throw new UpdaterError('ERR_DAEMON', `Cannot get update_engine's status from ${controlSocketPath(runDir)}: the daemon has no update round (SERVER=disabled)`);
      return status.update1;
    },
    async attemptUpdate(): Promise<void> {
      await controlRequest(runDir, 'POST', '/attempt-update', { timeoutMs: 10_000 });
    },
    async resetStatus(): Promise<void> {
      await controlRequest(runDir, 'POST', '/reset-status', { timeoutMs: 30_000 });
    },
    async onStatusUpdate(listener: (status: Update1Status) => void): Promise<() => void> {
      const stop = new AbortController();
      stops.add(stop);
      let ready!: () => void;
      const started = new Promise<void>((resolve) => (ready = resolve));
      // The stream starts with the current status: once it arrives, no later event can be missed.
      void followControlEvents(
        runDir,
        (event) => {
          if (event.type === 'status') ready();
          if (event.type === 'update1') listener((event as unknown as Update1ControlEvent).status);
        },
        stop.signal,
      ).catch(() => ready());
      await started;
      return () => {
        stop.abort();
        stops.delete(stop);
      };
    },
    close() {
      for (const stop of stops) stop.abort();
    },
  };
}
