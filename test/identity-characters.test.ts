/**
 * Identities and correlation ids refuse characters that hide or reorder text (zero-width, bidi marks,
 * overrides and isolates, byte order mark) and unpaired surrogates, both in the client's submit options
 * and in the workflow's check of a raw start's arguments; visible non-ASCII text (accents, emoji) passes.
 * Found by chaos scenario C5: such a submitter was accepted and its job ran.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SubmitOptionsInput } from '../client/jobs';
import { identityProblem } from '../common/jobargs';

const REFUSED: [string, string][] = [
  ['a right-to-left override', 'ops\u202Enimda'],
  ['bidi isolates', 'ops\u2066x\u2069'],
  ['a left-to-right mark', 'alice\u200E'],
  ['a zero-width space', 'ali\u200Bce'],
  ['a zero-width joiner', 'ali\u200Dce'],
  ['a byte order mark', 'ali\uFEFFce'],
  ['a soft hyphen', 'ali\u00ADce'],
  ['an unpaired high surrogate', 'alice\uD800'],
  ['an unpaired low surrogate', '\uDFFFalice'],
];
const ACCEPTED = ['alice@ops', 'josé.garcía', 'e\u0301lodie', 'ops-\u{1F600}', '\uFF21\uFF22-team'];

for (const [name, value] of REFUSED) {
  test(`an identity with ${name} is refused by the client and by the workflow`, () => {
    assert.equal(SubmitOptionsInput.safeParse({ submittedBy: value }).success, false);
    assert.equal(SubmitOptionsInput.safeParse({ correlationId: value }).success, false);
    assert.match(identityProblem(value) ?? '', /control characters/);
  });
}

test('visible non-ASCII identities (accents, combining marks, emoji, fullwidth) are accepted', () => {
  for (const value of ACCEPTED) {
    assert.equal(SubmitOptionsInput.safeParse({ submittedBy: value, correlationId: value }).success, true, value);
    assert.equal(identityProblem(value), undefined, value);
  }
});
