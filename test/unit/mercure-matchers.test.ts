import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseForm } from '../../src/mercure/form.js';
import { expandVariable, isProtocolString, isReservedTopic } from '../../src/mercure/strings.js';
import { TopicMatchers } from '../../src/mercure/topic-matcher.js';
import { compileTemplate } from '../../src/mercure/uri-template.js';
import { compileUrlPattern } from '../../src/mercure/url-pattern.js';

const HUB = 'https://hub.example/.well-known/mercure';

describe('URI template selectors (RFC 6570, the older topic parameter)', () => {
  const cases: [template: string, matches: string[], misses: string[]][] = [
    [
      'https://example.com/books/{id}',
      ['https://example.com/books/1', 'https://example.com/books/a%20b', 'https://example.com/books/'],
      ['https://example.com/books/1/2', 'https://example.com/authors/1'],
    ],
    [
      'https://example.com/{+path}',
      ['https://example.com/a/b/c?d', 'https://example.com/'],
      ['http://example.com/a'],
    ],
    [
      'https://example.com/x{#frag}',
      ['https://example.com/x#a/b', 'https://example.com/x'],
      ['https://example.com/xy'],
    ],
    [
      'https://example.com/files{/segments*}',
      ['https://example.com/files/a/b', 'https://example.com/files'],
      ['https://example.com/filesa'],
    ],
    [
      'https://example.com/s{.ext}',
      ['https://example.com/s.json', 'https://example.com/s'],
      ['https://example.com/s/json'],
    ],
    [
      'https://example.com/m{;x,y}',
      ['https://example.com/m;x=1;y=2', 'https://example.com/m;x'],
      ['https://example.com/m;z=1'],
    ],
    [
      'https://example.com/q{?a,b}',
      ['https://example.com/q?a=1&b=2', 'https://example.com/q?b=2', 'https://example.com/q'],
      ['https://example.com/q?c=1'],
    ],
    [
      'https://example.com/q?fixed=1{&more*}',
      ['https://example.com/q?fixed=1&k=v&l=w'],
      ['https://example.com/q?fixed=2'],
    ],
    [
      'https://example.com/users/foo/{?topic}',
      ['https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1'],
      ['https://example.com/users/bar/?topic=x'],
    ],
    ['https://example.com/p/{id:3}', ['https://example.com/p/abc'], ['https://example.com/p/a/b']],
  ];
  for (const [template, matches, misses] of cases) {
    test(`${template} matches its expansions only`, () => {
      const compiled = compileTemplate(template);
      assert.ok(compiled, 'compiles');
      for (const topic of matches) assert.ok(compiled.regexp.test(topic), `${topic} should match`);
      for (const topic of misses) assert.ok(!compiled.regexp.test(topic), `${topic} should not match`);
    });
  }

  test('strings that are no template (no braces, an unclosed brace, a bad variable) are not compiled: they match exactly', () => {
    for (const text of [
      'https://example.com/plain',
      'https://example.com/{unclosed',
      'https://example.com/{a b}',
      'x{!op}',
    ]) {
      assert.equal(compileTemplate(text), undefined, text);
    }
    const matchers = new TopicMatchers(HUB);
    const matcher = matchers.get('selector', 'https://example.com/{unclosed');
    assert.ok(matcher.matches('https://example.com/{unclosed'));
    assert.ok(!matcher.matches('https://example.com/x'));
  });

  test('templates whose variables compete for the same characters are marked as not linear', () => {
    assert.equal(compileTemplate('https://example.com/books/{id}')?.linear, true);
    assert.equal(compileTemplate('https://example.com/{a}/{b}')?.linear, true);
    assert.equal(compileTemplate('{a}{b}{c}')?.linear, false);
    assert.equal(compileTemplate('{+a}/{+b}/x')?.linear, false);
  });
});

describe('URL pattern matchers', () => {
  test('usual patterns are linear; custom regexps and competing wildcards are not', () => {
    assert.equal(compileUrlPattern('https://example.com/books/:id', HUB).linear, true);
    assert.equal(compileUrlPattern('https://*.example.com/users/:id/*', HUB).linear, true);
    assert.equal(
      compileUrlPattern('/.well-known/mercure/subscriptions/exact/:topic/:subscriber', HUB).linear,
      true,
    );
    assert.equal(compileUrlPattern('https://example.com/:id(\\d+)', HUB).linear, false);
    assert.equal(compileUrlPattern('https://example.com/*a*a*a*b', HUB).linear, false);
    assert.equal(compileUrlPattern('https://example.com/:a-:b', HUB).linear, false);
    assert.equal(compileUrlPattern('https://example.com/books/:id{.json}?', HUB).linear, true);
  });

  test('§URL Pattern: a crafted pattern that backtracks is cut at its time limit and does not match', () => {
    let timeouts = 0;
    const matchers = new TopicMatchers(HUB, () => timeouts++);
    const crafted = matchers.get('urlpattern', 'https://example.com/*a*a*a*a*a*a*a*a*b');
    const topic = `https://example.com/${'a'.repeat(200)}`;
    assert.equal(crafted.matches(topic), false);
    assert.equal(timeouts, 1);
    // Kept: the same topic does not cost the limit again.
    assert.equal(crafted.matches(topic), false);
    assert.equal(timeouts, 1);
    assert.equal(crafted.matches(`https://example.com/${'a'.repeat(8)}b`), true);
  });

  test('a subscriber may not bring a matcher that could backtrack; a token may (it runs under the time limit)', () => {
    const matchers = new TopicMatchers(HUB);
    assert.throws(
      () => matchers.get('urlpattern', 'https://example.com/*a*a*b', true),
      /more than linear time/,
    );
    assert.equal(
      matchers.get('urlpattern', 'https://example.com/*a*a*b').matches('https://example.com/xaxab'),
      true,
    );
  });

  test('§URL Pattern: a topic that is no URL matches no pattern; the host is case-insensitive, the path is not', () => {
    const matchers = new TopicMatchers(HUB);
    const pattern = matchers.get('urlpattern', 'https://example.com/Books/:id');
    assert.ok(!pattern.matches('not a url at all ::'));
    assert.ok(pattern.matches('https://EXAMPLE.com/Books/1'));
    assert.ok(!pattern.matches('https://example.com/books/1'));
  });

  test('the wildcard * matches every topic whatever the matcher type', () => {
    const matchers = new TopicMatchers(HUB);
    for (const type of ['exact', 'urlpattern', 'selector'] as const)
      assert.ok(matchers.get(type, '*').matches('anything'));
  });
});

describe('Mercure strings', () => {
  test('§Publication: the reserved namespace is tested on the resolved, normalised path, whatever the host', () => {
    for (const topic of [
      '/.well-known/mercure',
      '/.well-known/mercure/subscriptions/a/b',
      'https://other.host/.well-known/mercure/x',
      '/.well-known/%6Dercure/x',
      '/x/../.well-known/mercure/y',
      '/.well-known/mercure/%2e%2e/mercure/z',
    ]) {
      assert.ok(isReservedTopic(topic, HUB), topic);
    }
    for (const topic of [
      '/.well-known/mercurey',
      'https://example.com/books/1',
      'urn:uuid:1',
      '/.well-known/mercure%2Fx',
    ]) {
      assert.ok(!isReservedTopic(topic, HUB), topic);
    }
  });

  test('§Terminology: control and format characters are refused', () => {
    assert.ok(isProtocolString('https://example.com/é'));
    for (const bad of ['a\u0000', 'a\u001F', 'a\u007F', 'a\u0085', 'a\u200B', 'a\u202E', 'a\uFEFF'])
      assert.ok(!isProtocolString(bad));
  });

  test('§Subscription Events: variables are percent-encoded once, every reserved character included', () => {
    assert.equal(expandVariable('https://example.com/:id'), 'https%3A%2F%2Fexample.com%2F%3Aid');
    assert.equal(expandVariable("a%20b!'()*"), 'a%2520b%21%27%28%29%2A');
  });

  test('form parsing keeps repeated names in order, decodes + and %XX, and refuses bytes that are not UTF-8', () => {
    const pairs = parseForm(Buffer.from('topic=a&topic=b%2Fc&data=x+y&private&empty='));
    assert.deepEqual(pairs, [
      ['topic', 'a'],
      ['topic', 'b/c'],
      ['data', 'x y'],
      ['private', ''],
      ['empty', ''],
    ]);
    assert.throws(() => parseForm(Buffer.from('data=%C3%28')));
    assert.deepEqual(parseForm(Buffer.from('a=%zz%')), [['a', '%zz%']]);
  });
});
