// The JupyterLab extension template's ESLint setup (copier template jupyterlab/extension-template),
// with these differences, each on purpose:
// - interfaces keep plain PascalCase names (`Pipeline`, `RunStatus`), not the template's `I` prefix;
// - tests are linted too (tsconfig.test.json covers src/ and test/);
// - `quotes` is ESLint's own rule: typescript-eslint 8 no longer has `@typescript-eslint/quotes`;
// - two rules of @jupyter/eslint-plugin are off: the extension is English-only (no ITranslator,
//   so no `trans.__()`), and index.ts imports its modules eagerly (loading the stage form lazily
//   would change how the bundle loads: a decision for the code, not for a lint setup).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import globals from 'globals';
import jupyterPlugin from '@jupyter/eslint-plugin';

export default defineConfig([
  {
    ignores: ['node_modules', 'lib', 'dist', 'coverage', '**/*.js', '**/*.d.ts']
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: {
      jupyter: jupyterPlugin
    }
  },
  jupyterPlugin.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      globals: {
        ...globals.browser,
        ...globals.es2015,
        ...globals.node
      },
      parserOptions: {
        project: 'tsconfig.test.json',
        sourceType: 'module'
      }
    },
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        { selector: 'interface', format: ['PascalCase'] }
      ],
      '@typescript-eslint/no-unused-vars': ['warn', { args: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      quotes: [
        'error',
        'single',
        { avoidEscape: true, allowTemplateLiterals: false }
      ],
      curly: ['error', 'all'],
      'jupyter/no-untranslated-string': 'off',
      'jupyter/prefer-lazy-imports': 'off',
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  },
  prettierRecommended
]);
