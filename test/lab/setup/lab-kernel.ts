/**
 * vitest globalSetup of the kernel tier: prepares the lab kernel (scripts/lab-kernel.sh) and boots
 * it once before any kernel test runs. When it cannot boot, the run stops here with one message
 * naming the cause, instead of every kernel test failing on its own.
 */
import { prepareLabKernel, runInLabKernel } from "../harness/lab-kernel.js";

export default async function setup(): Promise<void> {
  let stage = "prepare the lab kernel";
  try {
    const kernel = prepareLabKernel();
    stage = `boot the lab kernel ${kernel.release} under QEMU`;
    const r = await runInLabKernel({
      kernel,
      script: "modprobe ip_vs && cat /proc/net/ip_vs\n",
      timeoutMs: 120_000,
    });
    if (r.code !== 0 || !r.output.includes("IP Virtual Server version")) {
      throw new Error(
        `the guest booted but IPVS did not load (exit ${r.code}): ${r.output.trim().slice(-500)}`,
      );
    }
  } catch (err) {
    throw new Error(
      `lab kernel tier: cannot ${stage}: ${(err as Error).message}\n` +
        "No kernel test can run; see docs/lab.md.",
      { cause: err },
    );
  }
}
