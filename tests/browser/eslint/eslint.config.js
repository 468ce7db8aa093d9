// ESLint for the reference web client: the recommended rules, browser globals, ES modules.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: globals.browser },
    rules: {
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "no-implicit-globals": "error",
      // Answers become text, never markup (the page renders with textContent).
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "render with textContent / el()" },
        { property: "outerHTML", message: "render with textContent / el()" },
      ],
    },
  },
];
