/** Whether the bus is still open; shared so children stop when it closes. */
export class Lifecycle {
  closed = false;
  readonly #children = new Set<{ close(): Promise<void> }>();

  check(): void {
    if (this.closed) throw new Error('the bus is closed');
  }

  /** A child created after the bus closed is closed at once, as over Redis. */
  adopt<T extends { close(): Promise<void> }>(child: T): T {
    if (this.closed) void child.close();
    else this.#children.add(child);
    return child;
  }

  release(child: { close(): Promise<void> }): void {
    this.#children.delete(child);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.#children].map((child) => child.close()));
  }
}
