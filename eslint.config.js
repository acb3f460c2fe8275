// ESLint with typescript-eslint's type-checked rules for the TypeScript, plain recommended rules
// for the few JavaScript scripts. `npm run lint` also checks for import cycles and stale mutation
// anchors (ARCHITECTURE.md, "Rules the layout keeps").
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  setInterval: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  performance: 'readonly',
  URL: 'readonly',
  Buffer: 'readonly',
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'scratch/', '.demo-data/', 'scripts/*.d.mts'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json', './test/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: nodeGlobals } },
)
