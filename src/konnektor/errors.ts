// The one error type of the simulated Konnektor. `error` is gematik's code where the spec names one (4270, 4272),
// else a short symbolic code (PIN_REJECTED, CARD_NOT_FOUND…); the HTTP body is `{ error, message, ...details }`.
export class KonnektorError extends Error {
  override name = 'KonnektorError';
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  toJSON(): Record<string, unknown> {
    return { error: this.error, message: this.message, ...this.details };
  }
}
