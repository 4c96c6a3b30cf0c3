/**
 * An error a user can cause (bad data, bad config, a missing file): the CLI
 * prints its message without a stack trace and exits non-zero. The message
 * names the file or key, what is wrong, and the fix. Bugs stay plain Errors.
 */
export class KilnError extends Error {
  override name = "KilnError";
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}
