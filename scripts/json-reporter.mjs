// A node test reporter that writes one JSON line per test case (file, name, outcome, ms), a case inside a
// `describe` named with its suites (`suite › case`), and one per summary figure; scripts/tests-doc.ts turns
// it into docs/TESTS.md.
export default async function* jsonLines(source) {
  // The names of the suites the current test runs in, by nesting level.
  const suites = [];
  for await (const event of source) {
    const { type, data } = event;
    if (type === 'test:start') {
      suites.length = data.nesting;
      suites[data.nesting] = data.name;
    } else if ((type === 'test:pass' || type === 'test:fail') && data.details?.type !== 'suite') {
      const outcome = data.skip !== undefined || data.todo !== undefined ? 'skip' : type === 'test:pass' ? 'pass' : 'fail';
      const name = [...suites.slice(0, data.nesting), data.name].join(' › ');
      yield `${JSON.stringify({ file: data.file ?? null, name, outcome, ms: Math.round(data.details?.duration_ms ?? 0) })}\n`;
    } else if (type === 'test:diagnostic' && data.nesting === 0) {
      const figure = /^(tests|pass|fail|skipped|duration_ms) ([\d.]+)$/.exec(data.message);
      if (figure) yield `${JSON.stringify({ summary: figure[1], value: Number(figure[2]) })}\n`;
    }
  }
}
