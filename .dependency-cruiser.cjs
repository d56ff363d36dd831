// The layering rules of abupdate (docs/architecture.md), checked by dependency-cruiser in `npm test`
// (scripts/check-layers.test.ts). A rule here is a fact about the tree: a new import that breaks one fails the build.

/** Test files and the test scaffolding: they may reach across layers (a test drives product code with fixtures). */
const TESTS = '\\.test\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles hide the order things are built in; move the shared piece down a layer instead.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      severity: 'error',
      comment: 'Folders form layers too: src/omaha -> src/sources -> src/omaha is a cycle even when no single file loops.',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'common-imports-nothing-of-ours',
      severity: 'error',
      comment: 'common/ (errors, tiny helpers) is the bottom layer: it imports only node: built-ins and packages.',
      from: { path: '^common/' },
      to: { path: '^(src|partition|verify|fixtures|qemu|bench|scripts)/' },
    },
    {
      name: 'partition-is-below-src',
      severity: 'error',
      comment: 'partition/ (disk, GPT, boot control) never imports src/, verify/ or the test scaffolding.',
      from: { path: '^partition/', pathNot: TESTS },
      to: { path: '^(src|verify|fixtures|qemu|bench|scripts)/' },
    },
    {
      name: 'verify-is-below-src',
      severity: 'error',
      comment: 'verify/ (bundle, signatures, keyring, policy) never imports src/, partition/ or the test scaffolding.',
      from: { path: '^verify/', pathNot: TESTS },
      to: { path: '^(src|partition|fixtures|qemu|bench|scripts)/' },
    },
    {
      name: 'product-never-imports-test-scaffolding',
      severity: 'error',
      comment: 'Product code (everything a host runs) never imports fixtures/, qemu/ or bench/.',
      from: { path: '^(src|common|partition|verify)/', pathNot: TESTS },
      to: { path: '^(fixtures|qemu|bench|scripts)/' },
    },
    {
      name: 'only-the-cli-imports-the-cli',
      severity: 'error',
      comment: 'src/cli/ is the outermost layer (parse, host context, use case, render); the daemon and the engine never import it. The demo drives the CLI as a user would.',
      from: { path: '^src/', pathNot: `^src/(cli|demo)/|${TESTS}` },
      to: { path: '^src/cli/' },
    },
    {
      name: 'host-context-is-below-the-cli',
      severity: 'error',
      comment: 'src/host/ (the host context) is built from plain settings, not from parsed CLI options.',
      from: { path: '^src/host/' },
      to: { path: '^src/(cli|daemon)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing is a typo or a missing package.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/|\.test\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.json'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
