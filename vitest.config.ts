import { defineConfig } from "vitest/config";

// Two tiers (DESIGN.md): unit tests are pure and need no privileges; lab tests
// drive real kernels (network namespaces here, User-Mode Linux for IPVS) and run as root.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "lab",
          include: ["test/lab/**/*.test.ts"],
          // Lab tests share the host's namespaces and the UML kernel; running them
          // one file at a time keeps timings honest on a 2-core machine.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
