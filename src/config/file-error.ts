/** "ENOENT (no such file)": an fs error, as config issues show it. */
export function describeFileError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === undefined ? String(e.message ?? err) : `${e.code} (${errnoWords(e.code)})`;
}

function errnoWords(code: string): string {
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    default:
      return "read failed";
  }
}
