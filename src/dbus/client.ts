// A client of com.coreos.update1 (as locksmithd and FLUO's update-agent are): GetStatus, AttemptUpdate, ResetStatus, StatusUpdate.

import dbus from '@particle/dbus-next';
import { UpdaterError } from '../../common/errors.js';
import { connectBus, systemBusAddress } from './service.js';
import { UPDATE1_INTERFACE, UPDATE1_NAME, UPDATE1_PATH, type Update1Status, type UpdateStatusName } from './update1.js';

export interface Update1Client {
  getStatus(): Promise<Update1Status>;
  attemptUpdate(): Promise<void>;
  resetStatus(): Promise<void>;
  /** Calls `listener` with every StatusUpdate until the returned function is called. */
  onStatusUpdate(listener: (status: Update1Status) => void): Promise<() => void>;
  close(): void;
}

/** The five values of a D-Bus body (x d s s x). */
export function statusFromBody(body: unknown[]): Update1Status {
  const [last, progress, op, version, size] = body;
  return {
    lastCheckedTime: Number(last),
    progress: Number(progress),
    // As update_engine_client prints whatever the service sends, an unknown name is passed on as it is.
    currentOperation: String(op) as UpdateStatusName,
    newVersion: String(version),
    newSize: Number(size),
  };
}

function callMessage(member: string): dbus.Message {
  return new dbus.Message({ destination: UPDATE1_NAME, path: UPDATE1_PATH, interface: UPDATE1_INTERFACE, member });
}

function callError(member: string, caught: unknown): UpdaterError {
  const text = caught instanceof dbus.DBusError ? `${caught.type}: ${caught.text}` : (caught as Error).message;
  return new UpdaterError('ERR_DAEMON', `Cannot call ${UPDATE1_INTERFACE}.${member}: ${text}`, { cause: caught });
}

/**
 * Connects to the bus and checks that somebody owns com.coreos.update1; null when there is no bus or no owner (the
 * caller then uses the control socket).
 */
export async function connectUpdate1Client(address = systemBusAddress()): Promise<Update1Client | null> {
  let bus: dbus.MessageBus;
  try {
    bus = await connectBus(address);
  } catch {
    return null;
  }
  bus.on('error', () => undefined);
  const hasOwner = await bus
    .call(new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameHasOwner', signature: 's', body: [UPDATE1_NAME] }))
    .then((reply) => reply?.body[0] === true, () => false);
  if (!hasOwner) {
    bus.disconnect();
    return null;
  }
  const call = async (member: string): Promise<unknown[]> => {
    try {
      const reply = await bus.call(callMessage(member));
      return reply?.body ?? [];
    } catch (caught) {
      throw callError(member, caught);
    }
  };
  return {
    getStatus: async () => statusFromBody(await call('GetStatus')),
    attemptUpdate: async () => void (await call('AttemptUpdate')),
    resetStatus: async () => void (await call('ResetStatus')),
    async onStatusUpdate(listener) {
      const rule = `type='signal',interface='${UPDATE1_INTERFACE}',member='StatusUpdate',path='${UPDATE1_PATH}'`;
      await bus.call(new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] }));
      const onMessage = (message: dbus.Message) => {
        if (message.type === dbus.MessageType.SIGNAL && message.interface === UPDATE1_INTERFACE && message.member === 'StatusUpdate') listener(statusFromBody(message.body));
      };
      bus.on('message', onMessage);
      return () => void bus.off('message', onMessage);
    },
    close: () => bus.disconnect(),
  };
}
