/**
 * Product and examples apart: no product module imports examples/. Every .ts/.mts/.cts/.js/.mjs/.cjs file
 * outside node_modules/, examples/, test/, the gitignored artifacts/ and the dot-directories (.git,
 * .jobledger, ...) is parsed with TypeScript; every module it names (import, export ... from, import
 * type, import(), require(), require.resolve()) is resolved against the file, and one inside examples/
 * fails the test with the file and the specifier. Only examples/ and test/ may import examples/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers/servers';

const EXAMPLES = join(ROOT, 'examples');
const SKIPPED_DIRS = new Set(['node_modules', 'examples', 'test', 'artifacts']);
const SOURCE_FILE = /\.(?:[mc]?ts|[mc]?js)$/;

/** The product's source files: everything but the skipped directories and the dot-directories. */
function productFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) || entry.name.startsWith('.') ? [] : productFiles(path);
    return entry.isFile() && SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** `require(...)`, `require.resolve(...)` or `import(...)`. */
function loadsModule(callee: ts.Expression): boolean {
  if (callee.kind === ts.SyntaxKind.ImportKeyword) return true;
  if (ts.isIdentifier(callee)) return callee.text === 'require';
  return ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'require' && callee.name.text === 'resolve';
}

/** Every module specifier written as a string in `source` (comments and other strings are not modules). */
export function moduleSpecifiers(fileName: string, source: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      found.push(node.moduleReference.expression.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    } else if (ts.isCallExpression(node) && loadsModule(node.expression) && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true));
  return found;
}

/** The specifiers of `file` (its text: `source`) that resolve into examples/, as `file: specifier`. */
export function examplesImports(file: string, source: string): string[] {
  return moduleSpecifiers(file, source)
    .filter((specifier) => {
      if (!specifier.startsWith('.') && !isAbsolute(specifier)) return false; // a package
      const path = relative(EXAMPLES, resolve(dirname(file), specifier));
      return path === '' || (!path.startsWith('..') && !isAbsolute(path));
    })
    .map((specifier) => `${relative(ROOT, file)}: ${specifier}`);
}

test('no product module imports examples/', () => {
  const files = productFiles();
  const names = files.map((f) => relative(ROOT, f));
  // The walk reaches the product's directories, so the check below is not vacuous.
  for (const expected of ['client/cli.ts', 'workers/main.ts', 'workflows/index.ts', 'jobs/app.ts', 'audit/cli.ts', 'scripts/tests-doc.ts', 'scripts/json-reporter.mjs']) {
    assert.ok(names.includes(expected), `the scan misses ${expected}`);
  }
  assert.ok(names.every((n) => !/^(examples|test|node_modules)\//.test(n)), 'the scan reads examples/, test/ or node_modules/');
  const violations = files.flatMap((file) => examplesImports(file, readFileSync(file, 'utf8')));
  assert.deepEqual(violations, [], `product code imports examples/ (move the code, or pass it in from the application):\n${violations.join('\n')}`);
});

test('self-check: the scanner flags each way of importing examples/, and nothing else', () => {
  const file = join(ROOT, 'client/violation.ts');
  const source = [
    "import { orderFulfill } from '../examples/jobs';",
    "import type { Sandbox } from '../examples/sandbox/index.ts';",
    "export * from '../examples/jobs/order';",
    "export { demo } from \"../examples/demo\";",
    "import '../examples';",
    "import sandbox = require('../examples/sandbox');",
    "const jobs = require('../examples/jobs/index.ts');",
    "const path = require.resolve('../examples/jobs');",
    'const later = import(`../examples/jobs/greeting`);',
    "type Jobs = typeof import('../examples/jobs');",
    // Not violations: comments, other strings, packages, look-alike paths.
    "// import { orderFulfill } from '../examples/jobs';",
    "const text = 'import x from \"../examples/jobs\"';",
    "import { z } from 'zod';",
    "import { ok } from '../examples-not/jobs';",
    "import { here } from './examples/jobs';",
    "import { config } from '../core/config';",
  ].join('\n');
  assert.deepEqual(
    examplesImports(file, source).map((v) => v.replace('client/violation.ts: ', '')),
    [
      '../examples/jobs',
      '../examples/sandbox/index.ts',
      '../examples/jobs/order',
      '../examples/demo',
      '../examples',
      '../examples/sandbox',
      '../examples/jobs/index.ts',
      '../examples/jobs',
      '../examples/jobs/greeting',
      '../examples/jobs',
    ],
  );
  // The same import from a file in the repository's root, or from a deeper product directory.
  assert.deepEqual(examplesImports(join(ROOT, 'tool.mjs'), "import x from './examples/jobs/index.ts';"), ['tool.mjs: ./examples/jobs/index.ts']);
  assert.deepEqual(examplesImports(join(ROOT, 'ledger/sub/x.js'), "const x = require('../../examples/jobs');"), ['ledger/sub/x.js: ../../examples/jobs']);
});
