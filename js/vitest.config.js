import { defineConfig } from "vitest/config";

// Pure-logic modules run in node; tests that build DOM opt into jsdom with a file-level comment.
export default defineConfig({
  test: { include: ["test/**/*.test.js"], environment: "node" },
});
