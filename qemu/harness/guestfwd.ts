// The `-netdev user` guestfwd rule that lets the guest reach a host port: one host connection per guest connection.
//
// `guestfwd=tcp:IP:PORT-tcp:127.0.0.1:HOSTPORT` makes a chardev: ONE connection to the host, opened when qemu starts
// and shared by every guest connection for qemu's lifetime. Once the host side closes it (an HTTP server's 5 s
// keep-alive timeout, a response cut short), every later guest connection hangs. `cmd:` instead runs a command per
// guest connection with the connection on its stdin/stdout (inetd style); the command is this machine's node
// piping to the host port, so no netcat is needed. Slirp dup2s the connection onto fd 0-2: the proxy never writes
// to stderr.

/** The proxy program: stdin -> 127.0.0.1:PORT -> stdout; exits quietly when either side is gone. */
function proxySource(hostPort: number): string {
  return [
    'const q=()=>process.exit(0)',
    `const s=require("node:net").connect(${hostPort},"127.0.0.1")`,
    's.on("error",q)',
    's.on("close",()=>{process.stdout.end();setTimeout(q,1000).unref()})',
    'process.stdout.on("error",q)',
    'process.stdin.on("error",q)',
    'process.stdin.on("end",()=>s.end())',
    'process.stdin.pipe(s,{end:false})',
    's.pipe(process.stdout)',
  ].join(';');
}

/** `,guestfwd=...` for a -netdev user option string: the guest's 10.0.2.100:GUEST_PORT reaches 127.0.0.1:HOST_PORT. */
export function guestfwdOption(guestPort: number, hostPort: number): string {
  const command = `${process.execPath} --no-warnings -e '${proxySource(hostPort)}'`;
  // qemu's option parser takes ",," for a literal comma; slirp splits the command like a shell (g_shell_parse_argv).
  return `,guestfwd=tcp:10.0.2.100:${guestPort}-cmd:${command.replaceAll(',', ',,')}`;
}
