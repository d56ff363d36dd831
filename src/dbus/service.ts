// The D-Bus service com.coreos.update1 on the system bus: update_engine's Manager interface, for locksmithd, FLUO and update_engine_client.
//
// Library: @particle/dbus-next (docs/service.md says why). The service is optional: without a bus, or when the bus
// refuses the name, startUpdate1Service() logs why and returns null, and the daemon carries on without it.

import dbus from '@particle/dbus-next';
import { toUpdaterError } from '../../common/errors.js';
import type { Logger } from '../log.js';
import { UPDATE1_INTERFACE, UPDATE1_NAME, UPDATE1_PATH, update1Body, type Update1Status } from './update1.js';

export interface Update1Handlers {
  /** GetStatus(): the five values now. */
  status(): Promise<Update1Status>;
  /** AttemptUpdate(): starts a check and update round and returns at once (update_engine's CheckForUpdate(interactive)). */
  attemptUpdate(): void;
  /** ResetStatus(): back to idle; rejects (a D-Bus error to the caller) where the state does not allow it. */
  resetStatus(): Promise<void>;
}

export interface Update1Service {
  /** Sends StatusUpdate with these values. */
  emitStatus(status: Update1Status): void;
  close(): Promise<void>;
}

export interface Update1ServiceOptions {
  handlers: Update1Handlers;
  logger: Logger;
  /** The bus address (default: DBUS_SYSTEM_BUS_ADDRESS, else the system bus socket). */
  busAddress?: string;
}

/** The address the system bus is reached at, as libdbus finds it. */
export function systemBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/var/run/dbus/system_bus_socket';
}

/** A D-Bus error reply with update_engine's generic failure name. */
function failed(message: string): Error {
  return new dbus.DBusError('org.freedesktop.DBus.Error.Failed', message);
}

/** Opens a connection and waits for the bus's Hello reply (or its failure). */
export async function connectBus(address: string): Promise<dbus.MessageBus> {
  // sessionBus() is the library's "connect to this address" (systemBus() only differs in the default address).
  const bus = dbus.sessionBus({ busAddress: address, authMethods: ['EXTERNAL'] });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: unknown) => reject(error instanceof Error ? error : new Error(String(error)));
    bus.once('error', onError);
    bus.once('connect', () => {
      bus.off('error', onError);
      resolve();
    });
  });
  return bus;
}

class ManagerInterface extends dbus.interface.Interface {
  handlers!: Update1Handlers;

  async GetStatus(): Promise<unknown[]> {
    try {
      return update1Body(await this.handlers.status());
    } catch (caught) {
      throw failed(toUpdaterError(caught, 'status').message);
    }
  }

  AttemptUpdate(): void {
    this.handlers.attemptUpdate();
  }

  async ResetStatus(): Promise<void> {
    try {
      await this.handlers.resetStatus();
    } catch (caught) {
      throw failed(toUpdaterError(caught, 'reset').message);
    }
  }

  StatusUpdate(status: Update1Status): unknown[] {
    return update1Body(status);
  }
}

ManagerInterface.configureMembers({
  methods: {
    AttemptUpdate: {},
    ResetStatus: {},
    GetStatus: { outSignature: 'xdssx' },
  },
  signals: {
    StatusUpdate: { signature: 'xdssx' },
  },
});

export async function startUpdate1Service(options: Update1ServiceOptions): Promise<Update1Service | null> {
  const { logger } = options;
  const address = options.busAddress ?? systemBusAddress();
  let bus: dbus.MessageBus;
  try {
    bus = await connectBus(address);
  } catch (caught) {
    logger.info(`D-Bus service ${UPDATE1_NAME} not started: cannot connect to the system bus at ${address} (${(caught as Error).message}); update_engine_client falls back to the control socket`);
    return null;
  }
  // A bus that goes away later: log once, keep the daemon running.
  bus.on('error', (error: unknown) => logger.warn(`D-Bus connection error: ${(error as Error).message}`));
  const manager = new ManagerInterface(UPDATE1_INTERFACE);
  manager.handlers = options.handlers;
  bus.export(UPDATE1_PATH, manager);
  try {
    const reply = await bus.requestName(UPDATE1_NAME, dbus.NameFlag.DO_NOT_QUEUE);
    if (reply !== dbus.RequestNameReply.PRIMARY_OWNER && reply !== dbus.RequestNameReply.ALREADY_OWNER) {
      throw new Error(`another process owns the name (reply ${reply})`);
    }
  } catch (caught) {
    logger.warn(`D-Bus service ${UPDATE1_NAME} not started: cannot own the name on ${address}: ${(caught as Error).message}`, {
      hint: 'The bus policy com.coreos.update1.conf (scripts/install.sh) lets only root own it; is update-engine.service still running?',
    });
    bus.disconnect();
    return null;
  }
  logger.info(`D-Bus service ${UPDATE1_NAME} on the system bus`, { address });
  return {
    emitStatus(status) {
      manager.StatusUpdate(status);
    },
    async close() {
      // Disconnecting releases the name (the bus drops a gone connection's names); no reply to wait for.
      bus.disconnect();
    },
  };
}
