import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-yield.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // two cores: keep file-level parallelism modest so onnxruntime sessions don't oversubscribe
    maxWorkers: 2,
    minWorkers: 1,
  },
});
