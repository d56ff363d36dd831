// The file-system calls abupdate persists through (open, rename, unlink, mkdir), as one injectable object: the real
// node:fs/promises by default; tests pass a recording one (soak/crash/) to see every write, fsync and rename.

import { mkdir, open, rename, unlink } from 'node:fs/promises';

export interface FileSystem {
  open: typeof open;
  rename: typeof rename;
  unlink: typeof unlink;
  mkdir: typeof mkdir;
}

export const nodeFileSystem: FileSystem = { open, rename, unlink, mkdir };
