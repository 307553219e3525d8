// A node test reporter that writes one JSON line per top-level test case (file, name, outcome, ms) and
// one per summary figure; scripts/tests-doc.ts turns it into docs/TESTS.md.
export default async function* jsonLines(source) {
  for await (const event of source) {
    const { type, data } = event;
    if ((type === 'test:pass' || type === 'test:fail') && data.nesting === 0 && data.details?.type !== 'suite') {
      const outcome = data.skip !== undefined || data.todo !== undefined ? 'skip' : type === 'test:pass' ? 'pass' : 'fail';
      yield `${JSON.stringify({ file: data.file ?? null, name: data.name, outcome, ms: Math.round(data.details?.duration_ms ?? 0) })}\n`;
    } else if (type === 'test:diagnostic' && data.nesting === 0) {
      const figure = /^(tests|pass|fail|skipped|duration_ms) ([\d.]+)$/.exec(data.message);
      if (figure) yield `${JSON.stringify({ summary: figure[1], value: Number(figure[2]) })}\n`;
    }
  }
}
