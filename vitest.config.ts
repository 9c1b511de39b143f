import { defineConfig } from "vitest/config";

// Three tiers (docs/testing.md): unit tests are pure and need no privileges; lab tests drive this
// machine's kernel through network namespaces (as root); kernel tests boot the lab kernel
// (Debian's, under QEMU) for IPVS and whole LVS topologies.
const kernelTests = "test/lab/**/*-kernel.test.ts";
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
          exclude: [kernelTests],
          // Lab tests share the host's namespaces; running them one file at a time keeps
          // timings honest on a 2-core machine.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "kernel",
          include: [kernelTests],
          globalSetup: ["test/lab/setup/lab-kernel.ts"],
          // The emulated guest takes both cores: after everything else, one file at a time.
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
