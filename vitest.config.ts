import { defineConfig } from 'vitest/config';

// Two projects: unit tests run in parallel; system tests (real cgroups, users, processes, CPU timing) run
// one file at a time so they do not disturb each other's measurements on a small machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          // Set-up that starts a store and a server: seconds on a machine loaded by other work (seen past 10 s).
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Runs only inside the VM tier's guest (scripts/vm/), on a real cgroup v2 kernel: `npm run test:vm`.
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
