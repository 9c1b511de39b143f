import { constants } from "node:os";
import { describe, expect, it } from "vitest";
import { errnoMessage, errnoName, errnoNumber, errnoTable } from "../../../src/netlink/errno.js";

describe("errno names", () => {
  it("names the errnos netlink answers with", () => {
    expect(errnoName(17)).toBe("EEXIST");
    expect(errnoName(-17)).toBe("EEXIST");
    expect(errnoName(2)).toBe("ENOENT");
    expect(errnoName(3)).toBe("ESRCH");
    expect(errnoName(22)).toBe("EINVAL");
    expect(errnoName(34)).toBe("ERANGE");
    expect(errnoName(95)).toBe("EOPNOTSUPP");
    expect(errnoName(99)).toBe("EADDRNOTAVAIL");
    expect(errnoName(105)).toBe("ENOBUFS");
    expect(errnoName(524)).toBe("ENOTSUPP");
    expect(errnoMessage(17)).toBe("File exists");
  });

  it("gives a usable code for unknown numbers", () => {
    expect(errnoName(4000)).toBe("ERRNO_4000");
    expect(errnoMessage(4000)).toBe("Unknown error 4000");
  });

  it("maps names back, aliases included", () => {
    expect(errnoNumber("EEXIST")).toBe(17);
    expect(errnoNumber("ENOTSUP")).toBe(95);
    expect(errnoNumber("EWOULDBLOCK")).toBe(11);
    expect(errnoNumber("NOPE")).toBeUndefined();
  });

  it("agrees with every errno node knows on this Linux host", () => {
    const names = new Map(errnoTable().map((e) => [e.name, e.errno]));
    for (const [name, n] of Object.entries(constants.errno)) {
      const ours = names.get(name) ?? errnoNumber(name);
      expect(ours, name).toBe(n);
    }
  });
});
