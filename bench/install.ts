// Benchmark: `abupdate install` (read-back included) against what a person would use instead, side by side in one run.
// Run: npm run bench:install -- [--size-mib 1024] [--rss-size-mib 4096] [--rounds 3] [--chunk-size 1048576] [--skip-build]
//
// Rows (medians of --rounds, all at --size-mib unless said):
//  - over HTTP from nginx (Debian's nginx on 127.0.0.1, started here with its own config): `abupdate install URL` vs
//    `curl URL | tee >(openssl dgst -sha256) | dd of=SLOT conv=fsync` + `openssl dgst -sha256` of the slot (target <= 0.8);
//  - from a local bundle file: `abupdate install FILE` vs RAUC 1.8 `rauc install` of a plain bundle of the same image
//    (noop bootloader, `rauc service` on a dbus-daemon started here; RAUC does not read back) (target <= 1.0);
//  - peak RSS (`/usr/bin/time -v`) at --size-mib and --rss-size-mib (target <= 64 MiB), also as package.json's `bin`
//    starts it (dist/src/cli/main.js executed: its #! line, `env -S node FLAGS`);
//  - start-up of `--version`, `--help`, `status` vs `node -e ''` (target: within 2x the wall time and 10 MiB);
//  - the physical floor: SHA-256 of the image twice split over the cores (openssl speed), `dd conv=fsync` of the image;
//    and per round `dd conv=fsync` into the slot range, which with one hash of the image bounds the HTTP ratio from below;
//  - the old figure: the CLI as one esbuild file, over the project's node:http test server (for continuity).
// abupdate is started by its installed entry point: `node $(cat scripts/node-flags) dist/src/cli/main.js`, which is the
// wrapper scripts/install.sh writes (`npm run build` first; the bench runs it unless --skip-build).

import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { chmod, link, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { execa } from 'execa';
import { makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { startHttpServer } from '../fixtures/http-server.js';
import { waitFor } from '../fixtures/wait.js';

const MiB = 1024 * 1024;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
/** What scripts/install.sh puts in front of the CLI on a host. */
const NODE_FLAGS = (await readFile(path.join(ROOT, 'scripts/node-flags'), 'utf8')).split(/\s+/).filter(Boolean);
const INSTALLED = [process.execPath, ...NODE_FLAGS, path.join(ROOT, 'dist/src/cli/main.js')];
/** package.json's `bin` as npm links it: the file executed, so its #! line (the `node` first in PATH) starts it. */
const BIN = [path.join(ROOT, 'dist/src/cli/main.js')];
const USR_TYPE = '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const f2 = (n: number): string => n.toFixed(2);
const f1 = (n: number): string => n.toFixed(1);
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Runs ARGV under `/usr/bin/time -v`: wall seconds and the peak RSS (MiB) of the largest process in it. */
async function timed(argv: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ seconds: number; rssMiB: number; stdout: string }> {
  const start = process.hrtime.bigint();
  const run = await execa('/usr/bin/time', ['-v', ...argv], { ...(env ? { env } : {}) });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1];
  return { seconds, rssMiB: kb === undefined ? Number.NaN : Number(kb) / 1024, stdout: run.stdout };
}

/** A sparse GPT disk with USR-A (good) and USR-B of SLOT_MIB each; returns B's byte offset and size. */
async function makeDisk(file: string, slotMiB: number): Promise<{ offset: number; size: number }> {
  const handle = await open(file, 'w');
  await handle.truncate((2 * slotMiB + 8) * MiB);
  await handle.close();
  await execa('sgdisk', ['-o', '-n', `1:2048:+${slotMiB}M`, '-c', '1:USR-A', '-t', `1:${USR_TYPE}`, '-A', '1:=:0x0101000000000000', '-n', `2:0:+${slotMiB}M`, '-c', '2:USR-B', '-t', `2:${USR_TYPE}`, file]);
  const first = Number(/First sector: (\d+)/.exec((await execa('sgdisk', ['-i', '2', file])).stdout)?.[1]);
  return { offset: first * 512, size: slotMiB * MiB };
}

interface Scene {
  dir: string;
  sizeMiB: number;
  disk: string;
  slotB: { offset: number; size: number };
  keyringDir: string;
  bundlePath: string;
  imageSize: number;
  /** The same image as a RAUC plain bundle, and its service (started on demand). */
  rauc?: Rauc;
}

async function makeScene(parent: string, sizeMiB: number, chunkSize: number, withRauc: boolean): Promise<Scene> {
  const dir = path.join(parent, `scene-${sizeMiB}`);
  await mkdir(dir);
  const keys = await makeKeys(dir, 'bench', 'bench');
  out(`making a ${sizeMiB} MiB image, its bundle${withRauc ? ', a RAUC bundle of it' : ''} and a disk with two ${sizeMiB + 16} MiB slots in ${dir} ...`);
  const image = await makeImage(path.join(dir, `image-${sizeMiB}.raw`), sizeMiB * MiB, 'bench');
  const bundle = await makeBundle(dir, { image, version: '2.0.0', compatible: 'bench', key: keys, chunkSize, name: `bundle-${sizeMiB}.tar` });
  const rauc = withRauc ? await makeRauc(path.join(dir, 'rauc'), image, sizeMiB + 16) : undefined;
  await rm(image);
  const disk = path.join(dir, `disk-${sizeMiB}.img`);
  const slotB = await makeDisk(disk, sizeMiB + 16);
  return { dir, sizeMiB, disk, slotB, keyringDir: dir, bundlePath: bundle.path, imageSize: bundle.manifest.image.size, ...(rauc ? { rauc } : {}) };
}

function installArgs(scene: Scene, source: string, round: string): string[] {
  const state = path.join(scene.dir, `state-${round}-${Date.now()}`);
  return ['install', source, '--disk', scene.disk, '--booted', 'A', '--keyring', scene.keyringDir, '--compatible', 'bench', '--state-dir', state, '--run-dir', path.join(state, 'run')];
}

/** The raw pipeline, written into the same slot range, then the slot range hashed. */
/** `dd conv=fsync` of zeros into the same slot range: what writing the image to this disk takes, in that round. */
function ddSlot(scene: Scene): string[] {
  const { offset } = scene.slotB;
  return ['dd', 'if=/dev/zero', `of=${scene.disk}`, 'bs=1M', `seek=${offset}`, `count=${scene.imageSize}`, 'oflag=seek_bytes', 'iflag=count_bytes', 'conv=fsync,notrunc', 'status=none'];
}

function rawPipeline(scene: Scene, url: string): string[] {
  const { offset } = scene.slotB;
  const write = `curl -sf '${url}' | tee >(openssl dgst -sha256 >/dev/null) | dd of='${scene.disk}' bs=1M seek=${offset} oflag=seek_bytes conv=fsync,notrunc status=none`;
  const hash = `dd if='${scene.disk}' bs=1M skip=${offset} count=${scene.imageSize} iflag=skip_bytes,count_bytes status=none | openssl dgst -sha256 >/dev/null`;
  return ['bash', '-o', 'pipefail', '-c', `${write} && ${hash}`];
}

// ---- nginx ----------------------------------------------------------------------------------------------------------

async function startNginx(dir: string, root: string): Promise<{ url: (name: string) => string; close: () => Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const probe = await startHttpServer({}); // a free port: taken, then given to nginx
  const port = Number(new URL(probe.url('x')).port);
  await probe.close();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off; master_process on; worker_processes 1; user root; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on; default_type application/octet-stream;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${port}; root ${root}; } }
`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
  const url = (name: string): string => `http://127.0.0.1:${port}/${name}`;
  await waitFor('nginx', () => execa('curl', ['-sfI', url('.')], { reject: false }).then((r) => r.exitCode !== 7), 10_000);
  return {
    url,
    close: async () => {
      child.kill('SIGQUIT');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

// ---- RAUC -----------------------------------------------------------------------------------------------------------

interface Rauc {
  dir: string;
  bundle: string;
  conf: string;
  env: NodeJS.ProcessEnv;
  children: ChildProcess[];
  servicePid?: number;
}

const busConfig = (socket: string): string => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/><allow user="*"/></policy></busconfig>
`;

/** A signed RAUC plain bundle of IMAGE (uncompressed squashfs, as abupdate's bundle is an uncompressed tar), and a system.conf. */
async function makeRauc(dir: string, image: string, slotMiB: number): Promise<Rauc> {
  await mkdir(path.join(dir, 'content'), { recursive: true });
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '30', '-subj', '/CN=bench']);
  await link(image, path.join(dir, 'content/rootfs.img'));
  await writeFile(path.join(dir, 'content/manifest.raucm'), '[update]\ncompatible=bench\nversion=2.0.0\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.img\n');
  const bundle = path.join(dir, 'bundle.raucb');
  await execa('rauc', ['bundle', `--cert=${path.join(dir, 'cert.pem')}`, `--key=${path.join(dir, 'key.pem')}`, '--mksquashfs-args=-noI -noD -noF -noX', path.join(dir, 'content'), bundle]);
  await rm(path.join(dir, 'content'), { recursive: true });
  for (const slot of ['a', 'b']) {
    const handle = await open(path.join(dir, `${slot}.img`), 'w');
    await handle.truncate(slotMiB * MiB);
    await handle.close();
  }
  await writeFile(path.join(dir, 'cmdline'), 'console=ttyS0 rauc.slot=A\n');
  const conf = path.join(dir, 'system.conf');
  await writeFile(
    conf,
    `[system]\ncompatible=bench\nbootloader=noop\nstatusfile=${dir}/status.raucs\n\n[keyring]\npath=${dir}/cert.pem\n\n` +
      `[slot.rootfs.0]\ndevice=${dir}/a.img\ntype=raw\nbootname=A\n\n[slot.rootfs.1]\ndevice=${dir}/b.img\ntype=raw\nbootname=B\n`,
  );
  await writeFile(path.join(dir, 'bus.conf'), busConfig(path.join(dir, 'bus')));
  return { dir, bundle, conf, env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${dir}/bus` }, children: [] };
}

/** dbus-daemon and `rauc service` (booted slot A from a bind-mounted kernel command line, as fixtures/rauc.ts does). */
async function startRauc(r: Rauc): Promise<void> {
  const socket = path.join(r.dir, 'bus');
  await rm(socket, { force: true });
  r.children.push(spawn('dbus-daemon', ['--config-file', path.join(r.dir, 'bus.conf'), '--nofork', '--nopidfile'], { stdio: 'ignore' }));
  await waitFor('the private system bus', () => stat(socket).then(() => true, () => false));
  // unshare and sh exec: the child's pid is rauc's, so its /proc/PID/status VmHWM is the service's peak RSS.
  const script = `mount --bind '${r.dir}/cmdline' /proc/cmdline && exec rauc --conf='${r.conf}' service`;
  const service = spawn('unshare', ['-m', 'sh', '-c', script], { stdio: 'ignore', env: r.env });
  r.children.push(service);
  if (service.pid !== undefined) r.servicePid = service.pid;
  await waitFor('rauc service on the bus', () => execa('rauc', [`--conf=${r.conf}`, 'status'], { env: r.env, reject: false }).then((x) => x.exitCode === 0), 20_000);
}

async function stopRauc(r: Rauc): Promise<void> {
  for (const child of r.children.reverse()) {
    child.kill();
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
  r.children = [];
}

/** The service's peak RSS (MiB) so far; `rauc install` itself is only the D-Bus client. */
async function raucServiceRss(r: Rauc): Promise<number> {
  const status = await readFile(`/proc/${r.servicePid}/status`, 'utf8').catch(() => '');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

// ---- floor ----------------------------------------------------------------------------------------------------------

/** SHA-256 throughput of one core (bytes/s) for 1 MiB blocks, from `openssl speed`. */
async function opensslSha256Rate(): Promise<number> {
  const run = await execa('openssl', ['speed', '-seconds', '3', '-bytes', String(MiB), 'sha256']);
  const line = run.stdout.split('\n').find((l) => l.startsWith('sha256')) ?? '';
  const kbs = /([\d.]+)k\s*$/.exec(line.trim())?.[1];
  return kbs === undefined ? Number.NaN : Number(kbs) * 1000;
}

async function ddFsyncSeconds(file: string, sizeMiB: number): Promise<number> {
  const start = process.hrtime.bigint();
  await execa('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${sizeMiB}`, 'conv=fsync', 'status=none']);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  await rm(file, { force: true });
  return s;
}

// ---- main -----------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string' }, 'rss-size-mib': { type: 'string' }, rounds: { type: 'string' }, 'chunk-size': { type: 'string' }, 'skip-build': { type: 'boolean' } } });
  const sizeMiB = Number(values['size-mib'] ?? 1024);
  const rssSizeMiB = Number(values['rss-size-mib'] ?? 4096);
  const rounds = Number(values.rounds ?? 3);
  const chunkSize = Number(values['chunk-size'] ?? MiB);
  if (!values['skip-build']) {
    out('npm run build (the installed entry point runs dist/) ...');
    await execa('npm', ['run', 'build'], { cwd: ROOT });
  }
  await chmod(BIN[0] as string, 0o755); // what npm does to a bin when it installs the package
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-bench-install-'));
  // The old figure's CLI: one esbuild file inside the project (gitignored .cache/), so fs-ext (native) resolves.
  const cliDir = path.join(ROOT, '.cache/bench-cli');
  await mkdir(cliDir, { recursive: true });
  const oneFile = path.join(cliDir, `abupdate-${process.pid}.mjs`);
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  out(`${new Date().toISOString()}  ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${load}`);
  try {
    await build({ entryPoints: [path.join(ROOT, 'src/cli/main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: oneFile, logLevel: 'warning',
      external: ['fs-ext', 'x11', 'zstd-napi'],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
    const oneFileCli = [process.execPath, ...NODE_FLAGS, oneFile];

    const scene = await makeScene(dir, sizeMiB, chunkSize, true);
    const rauc = scene.rauc as Rauc;
    const nginx = await startNginx(path.join(dir, 'nginx'), scene.dir);
    const nodeServer = await startHttpServer({ 'bundle.tar': scene.bundlePath });
    await startRauc(rauc);
    const url = nginx.url(path.basename(scene.bundlePath));
    const rows: Record<string, Array<{ seconds: number; rssMiB: number }>> = { raw: [], http: [], local: [], rauc: [], oldBase: [], oldOurs: [], binHttp: [], binLocal: [], dd: [] };
    try {
      await execa('bash', ['-c', `cat '${scene.bundlePath}' '${rauc.bundle}' > /dev/null`]); // all read their bundle from the page cache
      for (let round = 0; round < rounds; round++) {
        rows.dd?.push(await timed(ddSlot(scene)));
        rows.raw?.push(await timed(rawPipeline(scene, url)));
        rows.http?.push(await timed([...INSTALLED, ...installArgs(scene, url, `h${round}`)]));
        rows.local?.push(await timed([...INSTALLED, ...installArgs(scene, scene.bundlePath, `l${round}`)]));
        rows.rauc?.push({ ...(await timed(['rauc', `--conf=${rauc.conf}`, 'install', rauc.bundle], rauc.env)), rssMiB: await raucServiceRss(rauc) });
        rows.oldBase?.push(await timed(rawPipeline(scene, nodeServer.url('bundle.tar'))));
        rows.oldOurs?.push(await timed([...oneFileCli, ...installArgs(scene, nodeServer.url('bundle.tar'), `o${round}`)]));
        if (round === 0) {
          rows.binHttp?.push(await timed([...BIN, ...installArgs(scene, url, `bh${round}`)]));
          rows.binLocal?.push(await timed([...BIN, ...installArgs(scene, scene.bundlePath, `bl${round}`)]));
        }
        const last = (k: string) => rows[k]?.at(-1)?.seconds ?? Number.NaN;
        out(`round ${round + 1}: dd into the slot ${f2(last('dd'))} s | nginx raw ${f2(last('raw'))} s, install ${f2(last('http'))} s | local install ${f2(last('local'))} s, rauc ${f2(last('rauc'))} s | node-server raw ${f2(last('oldBase'))} s, one-file install ${f2(last('oldOurs'))} s`);
      }
    } finally {
      await stopRauc(rauc);
      await nodeServer.close();
      await nginx.close();
    }
    const sec = (k: string) => median((rows[k] ?? []).map((r) => r.seconds));
    const rss = (k: string) => Math.max(...(rows[k] ?? []).map((r) => r.rssMiB));
    const rate = (s: number) => `${(sizeMiB / s).toFixed(0)} MiB/s`;

    // The floor, on this machine, now.
    const shaRate = await opensslSha256Rate();
    const cores = cpus().length;
    const hashTwice = (2 * sizeMiB * MiB) / shaRate / cores;
    const ddSeconds = await ddFsyncSeconds(path.join(scene.dir, 'dd-floor.img'), sizeMiB);

    // Start-up: the installed entry point vs bare node, medians of 5.
    const state = path.join(scene.dir, 'state-status');
    const startup = async (argv: readonly string[]) => {
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push(await timed(argv));
      return { seconds: median(runs.map((r) => r.seconds)), rssMiB: median(runs.map((r) => r.rssMiB)) };
    };
    const bare = await startup([process.execPath, '-e', '']);
    const version = await startup([...INSTALLED, '--version']);
    const help = await startup([...INSTALLED, '--help']);
    const status = await startup([...INSTALLED, 'status', '--disk', scene.disk, '--booted', 'A', '--state-dir', state, '--run-dir', path.join(state, 'run')]);

    await rm(scene.bundlePath, { force: true });
    await rm(scene.disk, { force: true });
    await rm(rauc.dir, { recursive: true, force: true });

    type Run = { seconds: number; rssMiB: number };
    let big: { http: Run; local: Run; binLocal: Run } | undefined;
    if (rssSizeMiB > 0) {
      const scene4 = await makeScene(dir, rssSizeMiB, chunkSize, false);
      const nginx4 = await startNginx(path.join(dir, 'nginx4'), scene4.dir);
      try {
        big = {
          http: await timed([...INSTALLED, ...installArgs(scene4, nginx4.url(path.basename(scene4.bundlePath)), 'big-h')]),
          local: await timed([...INSTALLED, ...installArgs(scene4, scene4.bundlePath, 'big-l')]),
          binLocal: await timed([...BIN, ...installArgs(scene4, scene4.bundlePath, 'big-bl')]),
        };
      } finally {
        await nginx4.close();
      }
    }

    out('');
    out(`== ${sizeMiB} MiB image, ${chunkSize / 1024} KiB chunks, medians of ${rounds} rounds; abupdate = node ${NODE_FLAGS.join(' ')} dist/src/cli/main.js`);
    out(`over HTTP (nginx):  install ${f2(sec('http'))} s (${rate(sec('http'))}, peak RSS ${f1(rss('http'))} MiB) vs raw pipeline ${f2(sec('raw'))} s (${rate(sec('raw'))}, ${f1(rss('raw'))} MiB): ratio ${(sec('http') / sec('raw')).toFixed(3)} (target <= 0.8)`);
    out(`local bundle file:  install ${f2(sec('local'))} s (${rate(sec('local'))}, peak RSS ${f1(rss('local'))} MiB) vs rauc install ${f2(sec('rauc'))} s (${rate(sec('rauc'))}, service ${f1(rss('rauc'))} MiB): ratio ${(sec('local') / sec('rauc')).toFixed(3)} (target <= 1.0; abupdate reads back, RAUC does not)`);
    out(`node-server (old figure): one-file install ${f2(sec('oldOurs'))} s (peak RSS ${f1(rss('oldOurs'))} MiB) vs raw pipeline ${f2(sec('oldBase'))} s: ratio ${(sec('oldOurs') / sec('oldBase')).toFixed(3)}`);
    out(`floor: SHA-256 ${(shaRate / MiB).toFixed(0)} MiB/s per core (openssl speed), the image hashed twice over ${cores} cores ${f2(hashTwice)} s; dd conv=fsync of ${sizeMiB} MiB ${f2(ddSeconds)} s`);
    // An install reads back only after its last fsync: it cannot take less than writing the image to this disk plus
    // hashing it once over the cores. The raw pipeline has the same write, so this bounds the ratio from below.
    const leastInstall = sec('dd') + hashTwice / 2;
    out(`least an install can take on this disk: dd conv=fsync into the slot ${f2(sec('dd'))} s (median of the rounds) + the image hashed once over ${cores} cores ${f2(hashTwice / 2)} s = ${f2(leastInstall)} s, so the HTTP ratio cannot be below ${(leastInstall / sec('raw')).toFixed(3)} here`);
    if (big) {
      out(`${rssSizeMiB} MiB image: install over HTTP ${f2(big.http.seconds)} s, peak RSS ${f1(big.http.rssMiB)} MiB; local ${f2(big.local.seconds)} s, peak RSS ${f1(big.local.rssMiB)} MiB; local as bin (#! line) ${f2(big.binLocal.seconds)} s, peak RSS ${f1(big.binLocal.rssMiB)} MiB (target <= 64)`);
    }
    out(`peak RSS at ${sizeMiB} MiB: over HTTP ${f1(rss('http'))} MiB, local ${f1(rss('local'))} MiB; as bin (#! line, 1 run each) over HTTP ${f1(rss('binHttp'))} MiB, local ${f1(rss('binLocal'))} MiB (target <= 64)`);
    const su = (name: string, r: { seconds: number; rssMiB: number }) =>
      `${name} ${f2(r.seconds)} s (${(r.seconds / bare.seconds).toFixed(2)}x), ${f1(r.rssMiB)} MiB (+${f1(r.rssMiB - bare.rssMiB)})`;
    out(`start-up (medians of 5) vs node -e '' ${f2(bare.seconds)} s, ${f1(bare.rssMiB)} MiB: ${su('--version', version)}; ${su('--help', help)}; ${su('status', status)} (target <= 2x, +10 MiB)`);
    out(`load average after: ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(oneFile, { force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
