import { defineConfig } from 'vitest/config'

// Three projects, as in node-pg-migrate: `unit` needs no database; `integration` (library and CLI
// tests) shares one PostgreSQL started in globalSetup, one database per test file; `integration-serial` holds
// the files whose faults and measurements depend on the machine not being busy with another test
// file (kills and signals mid-load, lock waits, --batch-size auto's timings, server restarts).
// Vitest runs a project limited to one worker after every other file, one file at a time, so
// these files never share the machine or their PostgreSQL with another test file, whatever the
// number of cores (on 2 cores Vitest runs one file at a time anyway; CI machines have more).
const serial = [
  'test/integration/autotune.test.ts',
  'test/integration/faults.test.ts',
  'test/cli/resume.test.ts',
  'test/cli/trace.test.ts',
  'test/cli/exactly-once-edges.test.ts',
  'test/cli/pgbulk-cli.test.ts',
  'test/cli/safe-output.test.ts',
  'test/cli/streams.test.ts',
  'test/cli/follow.test.ts',
]
const database = {
  globalSetup: ['test/helpers/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
}

export default defineConfig({
  test: {
    projects: [
      // --expose-gc: the memory tests measure memory in use, not garbage not yet collected.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], execArgv: ['--expose-gc'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/cli/**/*.test.ts'],
          exclude: serial,
          ...database,
        },
      },
      { test: { name: 'integration-serial', include: serial, maxWorkers: 1, ...database } },
    ],
  },
})
