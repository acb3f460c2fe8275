import { defineConfig } from 'vitest/config'

// Two projects, as in node-pg-migrate: `unit` needs no database; `integration` (library and CLI
// tests) shares one PostgreSQL started in globalSetup, one database per test file.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/cli/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
