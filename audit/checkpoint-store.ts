/**
 * Somewhere signed checkpoints are kept: the primary file beside the audit directory, and the
 * witnesses on storage the database host cannot rewrite. A witness only ever appends, so a
 * checkpoint it holds cannot be taken back by someone who rewrote the log and the primary file.
 */
export interface CheckpointStore {
  /** The variable that configures it, for messages: `MDHUB_AUDIT_WITNESS_DIR`. */
  readonly variable: string;
  /** Where it is: a file path or a URL without credentials. */
  readonly where: string;
  /** Keeps one checkpoint, given as its canonical JSON line (no newline). */
  append(line: string): Promise<void>;
  /** Every line it holds, oldest first; empty when it holds none yet. */
  lines(): AsyncIterable<string>;
}
