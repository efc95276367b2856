import { expect } from 'vitest';
import { Invalid, type ErrorDetail } from '../../src/domain/errors.js';

/** What the promise rejected with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** The details of the `Invalid` the promise rejected with. */
export async function invalidDetails(promise: Promise<unknown>): Promise<ErrorDetail[]> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(Invalid);
  return (error as Invalid).details ?? [];
}
