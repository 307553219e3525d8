import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, hashOf, sha256Hex } from '../core/canonical';

test('canonicalJson sorts keys at every level by code unit and drops undefined members', () => {
  const value = { b: 1, a: [3, undefined, { z: undefined, y: 'x', é: 1, e: 2, E: 3 }], '\u{1F600}': true, '\uFFFF': null };
  assert.equal(canonicalJson(value), '{"a":[3,null,{"E":3,"e":2,"y":"x","é":1}],"b":1,"\u{1F600}":true,"\uFFFF":null}');
  assert.equal(canonicalJson({ x: 1, y: 2 }), canonicalJson({ y: 2, x: 1 }));
});

test('canonicalJson writes numbers in their shortest round-trip form and refuses non-finite ones', () => {
  assert.equal(canonicalJson([1.0, -0, 1e21, 5e-7, 0.1 + 0.2]), '[1,0,1e+21,5e-7,0.30000000000000004]');
  assert.throws(() => canonicalJson({ a: Number.NaN }), TypeError);
  assert.throws(() => canonicalJson([Number.POSITIVE_INFINITY]), TypeError);
});

test('canonicalJson escapes keys and strings as JSON does, and equals JSON.stringify on sorted input', () => {
  const value = { 'a"b': 'line\nbreak \u0001', c: { d: [true, false, null, 'é'] } };
  assert.equal(canonicalJson(value), JSON.stringify(value));
  assert.equal(canonicalJson(undefined), 'null');
});

test('canonicalJson uses a known text for an object inside the value (by identity), and only for that object', () => {
  const payload = { b: 2, a: 1 };
  const twin = { b: 2, a: 1 };
  const known = new Map<object, string>([[payload, '{"a":1,"b":2}']]);
  assert.equal(canonicalJson({ payload, twin }, known), '{"payload":{"a":1,"b":2},"twin":{"a":1,"b":2}}');
  const marked = new Map<object, string>([[payload, '"known"']]);
  assert.equal(canonicalJson({ payload, twin }, marked), '{"payload":"known","twin":{"a":1,"b":2}}');
  assert.equal(hashOf(payload), sha256Hex('{"a":1,"b":2}'));
});
