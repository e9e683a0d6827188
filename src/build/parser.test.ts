import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heredocMarkers, jsonForm, parseDockerfile, splitFlags } from './parser';

const kw = (text: string) => parseDockerfile(text).nodes.map((n) => n.keyword);

test('instructions keep their lines; keywords are case-insensitive; comments and blank lines are skipped', () => {
  const df = parseDockerfile('# a comment\n\nfrom busybox\n  # indented comment\nRun echo hi\n\nCMD ["sh"]\n');
  assert.deepEqual(df.nodes.map((n) => [n.keyword, n.line, n.endLine]), [['FROM', 3, 3], ['RUN', 5, 5], ['CMD', 7, 7]]);
  assert.equal(df.nodes[1]!.rest, 'echo hi');
  assert.equal(df.nodes[1]!.original, 'Run echo hi');
});

test('parser directives: escape, syntax and check at the top only, each once', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1\n#  ESCAPE = `\n# check=skip=all\nFROM a\nRUN echo a `\n  b\n');
  assert.equal(df.syntax, 'docker/dockerfile:1');
  assert.equal(df.escape, '`');
  assert.equal(df.check, 'skip=all');
  assert.equal(df.nodes[1]!.rest, 'echo a   b');
  // after a comment, a directive is only a comment
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM a\nRUN a \\\nb\n').escape, '\\');
  // an unknown directive ends the directives
  assert.equal(parseDockerfile('# foo=bar\n# escape=`\nFROM a\n').escape, '\\');
  assert.throws(() => parseDockerfile('# escape=`\n# escape=\\\nFROM a\n'), /line 2: only one escape parser directive can be used/);
  assert.throws(() => parseDockerfile('# escape=x\nFROM a\n'), /line 1: invalid escape token 'x'/);
});

test('line continuations with backslash and backtick; comments and empty lines inside are dropped', () => {
  const df = parseDockerfile('FROM a\nRUN echo one \\\n# inside\n\n    two \\\n three\nCMD x\n');
  assert.equal(df.nodes[1]!.rest, 'echo one     two  three');
  assert.deepEqual([df.nodes[1]!.line, df.nodes[1]!.endLine], [2, 6]);
  assert.equal(df.nodes[2]!.line, 7);
  assert.ok(df.warnings.some((w) => /Empty continuation line/.test(w)));
  // trailing whitespace after the escape still continues
  assert.equal(parseDockerfile('FROM a\nRUN a \\   \nb\n').nodes[1]!.rest, 'a b');
  // a continuation at the end of the file ends the instruction
  assert.equal(parseDockerfile('FROM a\nRUN a \\\n').nodes[1]!.rest, 'a');
  // CRLF line ends
  assert.equal(parseDockerfile('FROM a\r\nRUN a \\\r\n b\r\n').nodes[1]!.rest, 'a  b');
});

test('an unknown instruction is an error naming its line', () => {
  assert.throws(() => parseDockerfile('FROM a\n\nFOO bar\n'), /dockerfile parse error on line 3: unknown instruction: FOO/);
  assert.throws(() => parseDockerfile('FROM a\nRUN x \\\n  y\nBLAH\n'), /line 4: unknown instruction: BLAH/);
});

test('flags come before the arguments', () => {
  const df = parseDockerfile('FROM --platform=linux/amd64 a AS b\nCOPY --from=b --chown=1:2 x /y\nRUN --mount=type=cache,target=/c echo --not-a-flag\n');
  assert.deepEqual(df.nodes[0]!.flags, ['--platform=linux/amd64']);
  assert.equal(df.nodes[0]!.rest, 'a AS b');
  assert.deepEqual(df.nodes[1]!.flags, ['--from=b', '--chown=1:2']);
  assert.equal(df.nodes[1]!.rest, 'x /y');
  assert.deepEqual(df.nodes[2]!.flags, ['--mount=type=cache,target=/c']);
  assert.equal(df.nodes[2]!.rest, 'echo --not-a-flag');
  assert.deepEqual(splitFlags('--a="x y" rest'), { flags: ['--a="x y"'], rest: 'rest' });
});

test('JSON (exec) form versus shell form', () => {
  assert.deepEqual(jsonForm('["a", "b c"]'), ['a', 'b c']);
  assert.equal(jsonForm('[a, b]'), undefined);
  assert.equal(jsonForm('["a", 1]'), undefined);
  assert.equal(jsonForm('echo [x]'), undefined);
});

test('heredocs: RUN <<EOF, <<-EOT with tabs stripped, quoted delimiters, several in one instruction, COPY <<EOF', () => {
  const df = parseDockerfile([
    'FROM a',
    'RUN <<EOF',
    'echo $HOME',
    '  indented',
    'EOF',
    'RUN <<-EOT sh',
    '\t\techo tabbed',
    '\tEOT',
    'RUN <<"A" cat > /a && <<B cat > /b',
    'one $X',
    'A',
    'two',
    'B',
    'COPY <<EOF /etc/x',
    'file',
    'EOF',
    'CMD done',
  ].join('\n'));
  const [, r1, r2, r3, c, cmd] = df.nodes;
  assert.deepEqual(r1!.heredocs, [{ name: 'EOF', chomp: false, expand: true, content: 'echo $HOME\n  indented\n' }]);
  assert.deepEqual([r1!.line, r1!.endLine], [2, 5]);
  assert.deepEqual(r2!.heredocs, [{ name: 'EOT', chomp: true, expand: true, content: 'echo tabbed\n' }]);
  assert.deepEqual(r3!.heredocs.map((h) => [h.name, h.expand, h.content]), [['A', false, 'one $X\n'], ['B', true, 'two\n']]);
  assert.deepEqual(c!.heredocs.map((h) => h.content), ['file\n']);
  assert.equal(cmd!.keyword, 'CMD');
  assert.equal(cmd!.line, 17);
  // a heredoc marker inside quotes or a here-string is no heredoc
  assert.deepEqual(heredocMarkers(`echo "<<EOF" '<<X' <<<str`), []);
  // a heredoc nobody ends
  assert.throws(() => parseDockerfile('FROM a\nRUN <<EOF\necho\n'), /line 2: unterminated heredoc/);
  // heredocs only for RUN, COPY, ADD: elsewhere the body lines are instructions
  assert.throws(() => parseDockerfile('FROM a\nCMD <<EOF\nEOF\n'), /line 3: unknown instruction: EOF/);
});

test('keywords list: every Dockerfile instruction parses', () => {
  assert.deepEqual(kw('FROM a\nADD a b\nARG x\nCMD c\nCOPY a b\nENTRYPOINT e\nENV a=b\nEXPOSE 1\nHEALTHCHECK NONE\nLABEL a=b\nMAINTAINER m\nONBUILD RUN x\nRUN r\nSHELL ["sh"]\nSTOPSIGNAL 9\nUSER u\nVOLUME /v\nWORKDIR /w\n'),
    ['FROM', 'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);
});
