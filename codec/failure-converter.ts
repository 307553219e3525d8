/**
 * The failure converter used with the encryption codec, in a module of its own because Temporal loads
 * failure converters by path (`DataConverter.failureConverterPath`), in the worker's workflow bundle
 * too. With `encodeCommonAttributes: true`, a failure's message and stack trace move into an encoded
 * payload, so the codec encrypts them along with the other payloads. Imports only `@temporalio/common`,
 * which the workflow sandbox allows.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
