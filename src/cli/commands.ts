// The list of subcommands, in the order `abupdate --help` shows them. Each lives in its own file.

import type { Command } from './command.js';
import { slotsCommand } from './slots-command.js';
import { markActiveCommand, markBadCommand, markGoodCommand } from './mark-commands.js';
import { bundleCreateCommand } from './bundle-create-command.js';
import { bundleDiffCommand } from './bundle-diff-command.js';
import { bundleIndexCommand } from './bundle-index-command.js';
import { bundleInfoCommand } from './bundle-info-command.js';
import { configCommand } from './config-command.js';
import { daemonCommand } from './daemon-command.js';
import { checkCommand, updateCommand } from './update-commands.js';
import { keygenCommand } from './keygen-command.js';
import { installCommand } from './install-command.js';
import { statusCommand } from './status-command.js';
import { clearBadCommand, postBootCommand, rollbackCommand } from './lifecycle-commands.js';
import { REBOOT_LOCK_COMMANDS } from './reboot-lock-command.js';
import { FLEET_COMMANDS } from './fleet-command.js';

export const COMMANDS: Command[] = [statusCommand, slotsCommand, markGoodCommand, markBadCommand, markActiveCommand, installCommand, postBootCommand, rollbackCommand, clearBadCommand, checkCommand, updateCommand, daemonCommand, configCommand, keygenCommand, bundleCreateCommand, bundleInfoCommand, bundleDiffCommand, bundleIndexCommand, ...REBOOT_LOCK_COMMANDS, ...FLEET_COMMANDS];
