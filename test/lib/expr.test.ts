// The expression language of bx-clean --where/--set: precedence, SQL nulls, exact decimals,
// functions, and no way out to JavaScript.
import t from 'tap';
import { compileAssignment, compileExpr, evalJson, ExprError, test } from '../../src/lib/expr.js';
import { UsageError } from '../../src/lib/errors.js';

const ev = (src: string, rec: Record<string, unknown> = {}) => evalJson(compileExpr(src), rec);

t.test('precedence and associativity', async (t) => {
  const cases: [string, unknown][] = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['2 * 3 % 4', 2],
    ['-2 * -3', 6],
    ['- (1 + 2)', -3],
    ['1 + 2 = 3', true],
    ['1 < 2 and 2 < 1 or 3 = 3', true],
    ['true or false and false', true],
    ['not true or true', true],
    ['not (true or true)', false],
    ['not 1 = 2', true],
    ["'a' || 'b' || 1", 'ab1'],
    ['2 in (1, 2, 3)', true],
    ['2 not in (1, 3)', true],
    ['1 <> 1', false],
    ['1 == 1.00', true],
    ['"b" > "a"', true],
    ['10 / 4', 2.5],
    ['1 / 3', '0.3333333333333333'],
    ['7 % 3', 1],
    ['-7.5 % 2', -1.5],
    ['1e3 + 1', 1001],
  ];
  for (const [src, want] of cases) t.same(ev(src), want, src);
});

t.test('nulls behave as in SQL', async (t) => {
  const rec = { a: null, b: 5 };
  t.equal(ev('a + 1', rec), null);
  t.equal(ev('missing * 2', rec), null);
  t.equal(ev('a = null', rec), null);
  t.equal(ev('a is null', rec), true);
  t.equal(ev('b is not null', rec), true);
  t.equal(ev('a > 1 and false', rec), false);
  t.equal(ev('a > 1 and true', rec), null);
  t.equal(ev('a > 1 or true', rec), true);
  t.equal(ev('a > 1 or false', rec), null);
  t.equal(ev('not (a > 1)', rec), null);
  t.equal(ev('coalesce(a, missing, b, 7)', rec), 5);
  t.equal(ev("concat('x', a, 'y')", rec), 'xy');
  t.equal(ev('upper(a)', rec), null);
  t.equal(ev('3 in (1, a)', rec), null);
  t.equal(ev('1 in (1, a)', rec), true);
  t.notOk(test(compileExpr('a > 1'), rec), '--where drops a null result');
});

t.test('decimal arithmetic is exact', async (t) => {
  const sum = '0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1';
  t.equal(ev(sum), 1, 'summing 0.1 ten times gives 1');
  t.equal(ev(`${sum} = 1`), true);
  t.equal(ev('0.1 + 0.2'), 0.3);
  t.equal(ev('x + y', { x: 0.1, y: 0.2 }), 0.3, 'record numbers are taken by their shortest text');
  const set = compileAssignment('revenue = qty * unit_price * (1 - discount)');
  t.equal(set.target, 'revenue');
  t.equal(evalJson(set, { qty: 3, unit_price: '19.99', discount: 0.15 }), 50.9745);
  t.equal(ev('round(2.345, 2)'), 2.35);
  t.equal(ev('round(-2.345, 2)'), -2.35, 'half away from zero');
  t.equal(ev('round(x)', { x: '2.5' }), 3);
  t.equal(ev('a * 2', { a: '9007199254740993' }), '18014398509481986', 'beyond 2^53 stays exact, as a string');
  t.equal(ev('abs(-1.50)'), 1.5);
  t.equal(ev('number("12.5") + 1'), 13.5);
});

t.test('text and date functions', async (t) => {
  const rec = { name: '  Ada Lovelace ', ts: '2026-11-23T14:05:00+01:00', d: '2026-11-29' };
  t.equal(ev('trim(name)', rec), 'Ada Lovelace');
  t.equal(ev('lower(trim(name))', rec), 'ada lovelace');
  t.equal(ev('upper("é")'), 'É');
  t.equal(ev('substr("abcdef", 2, 3)'), 'bcd');
  t.equal(ev('substr("abcdef", 4)'), 'def');
  t.equal(ev('substr("abcdef", 0, 2)'), 'a', 'SQL substr: positions before 1 count');
  t.equal(ev('length("héllo")'), 5);
  t.equal(ev('replace("a-b-c", "-", "/")'), 'a/b/c');
  t.equal(ev('concat(1, "-", true)'), '1-true');
  t.equal(ev('date(ts)', rec), '2026-11-23');
  t.equal(ev('hour(ts)', rec), 14);
  t.equal(ev('weekday(ts)', rec), 1, '2026-11-23 is a Monday');
  t.equal(ev('weekday(d)', rec), 7, '2026-11-29 is a Sunday');
  t.equal(ev('year(d) * 100 + month(d)', rec), 202611);
  t.equal(ev('day(d)', rec), 29);
  t.equal(ev('if(1 > 2, "y", "n")'), 'n');
  t.equal(ev('if(q = 0, null, 10 / q)', { q: 0 }), null, 'if() evaluates only the branch taken');
  t.equal(ev('`Order Date` >= "2019-01-01"', { 'Order Date': '2019-01-03' }), true, 'backticks name any field');
  t.equal(ev('`it``s`', { 'it`s': 1 }), 1);
  t.equal(ev("'it''s'"), "it's");
});

t.test('runtime errors are ExprErrors (the record becomes a reject)', async (t) => {
  t.throws(() => ev('1 / 0'), ExprError);
  t.throws(() => ev('x % 0', { x: 1 }), ExprError);
  t.throws(() => ev('x + 1', { x: 'abc' }), { message: /\+: expected a number, got "abc"/ });
  t.throws(() => ev('x > 1', { x: 'abc' }), ExprError);
  t.throws(() => ev('x and true', { x: 1 }), { message: /expected true or false/ });
  t.throws(() => ev('hour(x)', { x: 'noon' }), { message: /hour\(\): expected an ISO date or datetime/ });
  t.throws(() => test(compileExpr('1 + 1'), {}), { message: /not true or false/ });
});

t.test('syntax errors are usage errors naming the column', async (t) => {
  const bad: [string, RegExp][] = [
    ['1 +', /unexpected end of expression at column 4/],
    ['(1 + 2', /expected "\)", found the end/],
    ['a = = b', /unexpected "=" at column 5/],
    ['"open', /unterminated text at column 1/],
    ['a ; b', /unexpected ";" at column 3/],
    ['2x', /unexpected "x" after a number/],
    ['lower(a, b)', /lower\(\) takes 1 argument, not 2/],
    ['a is 3', /expected "null" after "is"/],
  ];
  for (const [src, re] of bad) {
    t.throws(() => compileExpr(src, '--where'), UsageError, src);
    t.throws(() => compileExpr(src, '--where'), { message: re }, src);
  }
  t.throws(() => compileAssignment('1 = 2'), { message: /expected "field = expression"/ });
  t.throws(() => compileAssignment('x + 1'), { message: /expected "="/ });
});

t.test('no way out to JavaScript: names are fields or known functions, nothing else', async (t) => {
  for (const name of [
    'constructor',
    '__proto__',
    'process',
    'globalThis',
    'this',
    'prototype',
    'toString',
    'hasOwnProperty',
    'eval',
  ]) {
    t.equal(ev(name, {}), null, `${name} is a field that is not there`);
    t.throws(() => compileExpr(`${name}("1")`), { message: /unknown function/ }, `${name}() is an unknown function`);
  }
  t.equal(ev('constructor', JSON.parse('{"constructor": "mine"}')), 'mine', 'an own field of that name is just data');
  t.equal(ev('__proto__', JSON.parse('{"__proto__": 5}')), 5);
  t.throws(() => compileExpr('process.exit(1)'), { message: /unexpected "\." at column 8/ });
  t.throws(() => compileExpr('a[0]'), { message: /unexpected "\["/ });
  t.throws(() => compileExpr('x => 1'), UsageError);
  t.throws(() => compileExpr('`constructor`("x")'), UsageError, 'a quoted name is never a function');
  t.equal(ev('lower(`constructor`)', {}), null);
  t.equal(ev('text(x)', { x: { a: 1 } }), '{"a":1}');
});
