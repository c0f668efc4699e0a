// Lint: typescript-eslint's recommended rules, no import cycle between files, and folders that depend one way.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import {importX} from 'eslint-plugin-import-x'
import {createTypeScriptImportResolver} from 'eslint-import-resolver-typescript'

// Each folder of src/ and the folders it must not import (its layer and the ones below are allowed).
// keyspace/util/errors → topo → mysql, layout → plan, routing, local, load → engine → phases → server, http → cli.
const above = {
  keyspace: [
    'estimate',
    'topo',
    'mysql',
    'layout',
    'plan',
    'routing',
    'local',
    'load',
    'engine',
    'phases',
    'server',
    'http',
    'cli',
  ],
  util: [
    'estimate',
    'topo',
    'mysql',
    'layout',
    'plan',
    'routing',
    'local',
    'load',
    'engine',
    'phases',
    'server',
    'http',
    'cli',
  ],
  topo: [
    'estimate',
    'mysql',
    'layout',
    'plan',
    'routing',
    'local',
    'load',
    'engine',
    'phases',
    'server',
    'http',
    'cli',
  ],
  mysql: ['estimate', 'layout', 'plan', 'routing', 'local', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
  layout: ['estimate', 'plan', 'routing', 'local', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
  plan: ['estimate', 'routing', 'local', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
  routing: ['plan', 'local', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
  local: ['plan', 'routing', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
  load: ['plan', 'local', 'engine', 'phases', 'server', 'http', 'cli'],
  // estimate: sizes and durations read from the tablets for a plan (above mysql and plan, below cli).
  estimate: ['routing', 'local', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
  engine: ['routing', 'local', 'load', 'phases', 'server', 'http', 'cli'],
  phases: ['local', 'load', 'server', 'http', 'cli'],
  server: ['http', 'cli'],
  http: ['cli'],
  // Pre-flight checks read tablets (mysql) for a plan; only the CLI runs them (not the engine: it never imports mysql).
  preflight: ['routing', 'local', 'load', 'engine', 'phases', 'server', 'http', 'cli'],
}
for (const [folder, froms] of Object.entries(above)) if (folder !== 'preflight') froms.push('preflight')
const zones = Object.entries(above).flatMap(([target, froms]) =>
  froms.map((from) => ({
    target: `./src/${target}`,
    from: `./src/${from}`,
    message: `src/${target} sits below src/${from}: move the shared piece down, or wire them together in a composition root.`,
  })),
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
