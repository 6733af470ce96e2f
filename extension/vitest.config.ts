import { defineConfig } from 'vitest/config';

// The pure modules (metadata, DAG layout, run progress) run in node; no browser, no JupyterLab.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts']
  }
});
