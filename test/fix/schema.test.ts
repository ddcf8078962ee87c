// Issue 22: bx-schema with a first line that is not JSON is bad data (65, naming the line), not
// a configuration error (78); a schema document broken as JSON names the line where it breaks.
import t from 'tap';
import { sh } from '../helpers.js';

t.test('bx-schema: a first line that is not JSON is 65 at its line', async (t) => {
  const cases: [string, string, number, RegExp][] = [
    ['text, then a record', 'hello world\n{"a":1}\n', 65, /^bx-schema: stdin:1: not valid JSON/m],
    ['text alone', 'not json\n', 65, /^bx-schema: stdin:1: not valid JSON/m],
    ['a CSV header', 'id,name\n1,x\n', 65, /^bx-schema: stdin:1: /m],
    ['a JSON array line', '[1,2]\n', 65, /^bx-schema: stdin:1: /m],
    ['a broken second record', '{"a":1}\n{bad\n', 65, /^bx-schema: stdin:2: /m],
    // A document that opens as a schema is a broken schema (78, as for --schema files), by line.
    [
      'a schema document broken at line 3',
      '{\n "fields": [\n  {"name": "a" "type": "string"}\n ]\n}\n',
      78,
      /^bx-schema: stdin: not valid JSON at line 3: Expected ',' or '}'/m,
    ],
    [
      'a schema document cut short',
      '{\n "fields": [\n',
      78,
      /^bx-schema: stdin: not valid JSON at line \d+: Unexpected end/m,
    ],
    ['valid JSON, not a valid schema', '{\n "fields": []\n}\n', 78, /^bx-schema: stdin: "fields" is empty/m],
  ];
  for (const [what, input, code, re] of cases) {
    const r = await sh('bx-schema', { input });
    t.equal(r.code, code, `${what}: exit ${code}`);
    t.match(r.stderr, re, `${what}: ${r.stderr.trim()}`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  }
  const ok = await sh('bx-schema --sql --table bxfix_t', {
    input: '{\n "fields": [{"name": "a", "type": "integer"}]\n}\n',
  });
  t.equal(ok.code, 0, 'a pretty-printed schema still reads');
  t.match(ok.stdout, /CREATE TABLE "bxfix_t"/);
});
