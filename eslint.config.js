// Lint: typescript-eslint's recommended rules, no import cycle between files, and folders that depend one way.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import {importX} from 'eslint-plugin-import-x'
import {createTypeScriptImportResolver} from 'eslint-import-resolver-typescript'

// Folders of src/ in layers, lowest first: a folder may import its own folder and the layers below, never above, and
// a folder of its own layer only where `peers` says so. errors.ts sits at the bottom with keyspace and util.
const layers = [
  ['keyspace', 'util'],
  ['topo'],
  ['mysql', 'layout'],
  ['plan', 'routing', 'local', 'load'],
  ['preflight', 'estimate'],
  ['engine'],
  ['phases'],
  ['server', 'http'],
  ['cli'],
]
const peers = {load: ['routing'], http: ['server']}
// Below-layer imports that are still wrong: the engine runs workflows and knows nothing of MySQL or tablets.
const extra = {engine: ['mysql', 'routing', 'local', 'load', 'preflight', 'estimate']}
const zones = layers.flatMap((layer, i) =>
  layer.flatMap((target) => {
    const forbidden = [
      ...layers.slice(i + 1).flat(),
      ...layer.filter((f) => f !== target && !(peers[target] ?? []).includes(f)),
      ...(extra[target] ?? []),
    ]
    return forbidden.map((from) => ({
      target: `./src/${target}`,
      from: `./src/${from}`,
      message: `src/${target} may not import src/${from} (see the layers in eslint.config.js): move the shared piece down, or wire them together in a composition root.`,
    }))
  }),
)

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'src/layout/validators.generated.ts', '.shardform/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: {'import-x': importX},
    settings: {
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': {'@typescript-eslint/parser': ['.ts']},
      'import-x/resolver-next': [createTypeScriptImportResolver({project: './tsconfig.json'})],
    },
    rules: {
      'import-x/no-cycle': ['error', {ignoreExternal: true}],
      'import-x/no-restricted-paths': ['error', {zones}],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'},
      ],
      // Escaping terminal control characters is what those regular expressions are for.
      'no-control-regex': 'off',
    },
  },
  {
    // The dashboard's plain browser modules (no build step).
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'sessionStorage', 'fetch', 'console', 'Node', 'TextDecoderStream']
          .concat(['AbortController', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'])
          .map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    files: ['scripts/**', 'bench/**', 'test/**', 'bin/**'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
  },
)
