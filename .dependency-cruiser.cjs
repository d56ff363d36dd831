// The layering rules of abupdate (docs/architecture.md), checked by dependency-cruiser in `npm test`
// (src/layers.test.ts). A rule here is a fact about the tree: a new import that breaks one fails the build.

/** Test files may reach across layers (a test drives product code with fixtures); they are left out of the cruise. */
const TESTS = '\\.test\\.ts$';

/** A rule: files under FROM (tests aside) never import files under TO. */
function forbid(name, comment, from, to) {
  return { name, severity: 'error', comment, from: { path: from, pathNot: TESTS }, to: { path: to } };
}

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
    forbid('common-imports-nothing-of-ours', 'common/ (errors) is the bottom layer: it imports only node: built-ins and packages.', '^common/', '^(src|partition|verify|fixtures|qemu|bench|scripts)/'),
    forbid('partition-is-below-src', 'partition/ (disk, GPT, boot control) never imports src/, verify/ or the test scaffolding.', '^partition/', '^(src|verify|fixtures|qemu|bench|scripts)/'),
    forbid('verify-is-below-src', 'verify/ (bundle, signatures, keyring, policy) never imports src/, partition/ or the test scaffolding.', '^verify/', '^(src|partition|fixtures|qemu|bench|scripts)/'),
    forbid('product-never-imports-test-scaffolding', 'Product code (everything a host runs) never imports fixtures/, qemu/ or bench/.', '^(src|common|partition|verify)/', '^(fixtures|qemu|bench|scripts)/'),
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
