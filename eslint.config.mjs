// Lints the project's hand-written JavaScript that ships to browsers or runs the Worker:
// the SDK's page-side module, the npm entry, the Worker's entry, the dashboard's modules and
// the upload script users run (scripts/test-all.sh).
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  // A guarded call that fails is dropped on purpose: the SDK never throws into the host page.
  { rules: { "no-empty": ["error", { allowEmptyCatch: true }] } },
  {
    files: ["src/browser/glue.js", "pkg-templates/index.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
  },
  {
    files: ["www/dashboard.js", "www/charts.js", "www/stats.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
  },
  {
    files: ["worker/entry.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.serviceworker } },
  },
  {
    files: ["scripts/upload-sourcemaps.mjs", "scripts/wasm-imports.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
  },
];
